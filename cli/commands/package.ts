import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { buildPackage, pushPackage } from '../../packages/build.js';
import { PackageError } from '../../packages/errors.js';
import { parsePackageReference } from '../../packages/reference.js';
import { loadRegistryCredentials, type RegistryConfig } from '../../packages/registry-config.js';
import { UsageError, type Command } from '../command.js';

const USAGE = `usage:
  seer package build DIR -o FILE
      build a package (a gzip'd tar of DIR, reproducible: same files, same digest); prints its digest
  seer package push DIR REF [--insecure] [--credentials FILE]
      build DIR and push it to an OCI registry as REF (registry/repository:tag); prints its digest
      --insecure          reach REF's registry over plain http
      --credentials FILE  a docker-style config.json with the registry's credentials`;

/** Where the command writes: the digest goes to stdout, progress and summaries to stderr. */
export interface CommandOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

const PROGRESS_INTERVAL_MS = 100;

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function parse<const T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
}

/** Shows push progress: a line redrawn in place on a terminal, nothing until the end otherwise. */
function progressDisplay(stderr: CommandOutput['stderr'], reference: string) {
  const started = Date.now();
  let lastDrawn = 0;
  let drew = false;
  return {
    update(sent: number, total: number) {
      if (!stderr.isTTY) return;
      const now = Date.now();
      if (now - lastDrawn < PROGRESS_INTERVAL_MS && sent < total) return;
      lastDrawn = now;
      drew = true;
      const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
      const rate = sent / Math.max((now - started) / 1000, 0.001);
      stderr.write(
        `\r\x1b[Kpushing ${reference}  ${megabytes(sent)} / ${megabytes(total)}  ${percent}%  ${megabytes(rate)}/s`,
      );
    },
    finish(summary: string) {
      if (drew) stderr.write('\r\x1b[K');
      stderr.write(`${summary} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    },
    abandon() {
      if (drew) stderr.write('\n');
    },
  };
}

export function createPackageCommand(output: CommandOutput = process): Command {
  return {
    name: 'package',
    summary: 'build a package from a directory, or build and push it to an OCI registry',
    async run(args) {
      const [action, ...rest] = args;
      if (action === 'build') {
        const { values, positionals } = parse(rest, { output: { type: 'string', short: 'o' } });
        const [dir, ...extra] = positionals;
        if (!dir || extra.length > 0 || typeof values.output !== 'string') {
          throw new UsageError(`seer package build needs DIR and -o FILE\n${USAGE}`);
        }
        const built = await buildPackage(dir, values.output);
        output.stderr.write(`built ${path.resolve(values.output)} (${megabytes(built.size)})\n`);
        output.stdout.write(`${built.digest}\n`);
        return;
      }
      if (action === 'push') {
        const { values, positionals } = parse(rest, {
          insecure: { type: 'boolean', default: false },
          credentials: { type: 'string' },
        });
        const [dir, reference, ...extra] = positionals;
        if (!dir || !reference || extra.length > 0) {
          throw new UsageError(`seer package push needs DIR and REF\n${USAGE}`);
        }
        let registry: string;
        try {
          const ref = parsePackageReference(reference);
          if (ref.kind !== 'oci')
            throw new UsageError(`REF must be registry/repository:tag, not ${reference}`);
          registry = ref.registry;
        } catch (error) {
          if (error instanceof PackageError) throw new UsageError(error.message);
          throw error;
        }
        const registries: RegistryConfig = {
          insecure: values.insecure ? [registry] : [],
          credentials:
            typeof values.credentials === 'string' ? await loadRegistryCredentials(values.credentials) : {},
        };
        const progress = progressDisplay(output.stderr, reference);
        try {
          const pushed = await pushPackage(dir, reference, {
            registries,
            onProgress: (sent, total) => progress.update(sent, total),
          });
          progress.finish(
            `pushed ${reference} (${megabytes(pushed.size)}, manifest ${pushed.manifestDigest})`,
          );
          output.stdout.write(`${pushed.digest}\n`);
        } catch (error) {
          progress.abandon();
          throw error;
        }
        return;
      }
      throw new UsageError(USAGE);
    },
  };
}

export const packageCommand: Command = createPackageCommand();
