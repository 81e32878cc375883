import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { UsageError, type Command } from '../command.js';
import { convertSeedManifests } from '../seed-format.js';
import type { CommandOutput } from './package.js';

const USAGE = `usage:
  seer convert -f FILE
      print the manifests of FILE (- for standard input), written in the original design's form
      (api_version: v1, kind: pod | deployment | component), as Seer objects for kubectl apply:
      seer convert -f passport.yaml | kubectl apply -f -`;

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function createConvertCommand(output: CommandOutput = process): Command {
  return {
    name: 'convert',
    summary: "convert manifests in the original design's form (api_version: v1, kind: pod) to Seer objects",
    async run(args) {
      let file: string | undefined;
      try {
        const { values } = parseArgs({
          args,
          options: { filename: { type: 'string', short: 'f' } },
          strict: true,
        });
        file = values.filename;
      } catch (error) {
        throw new UsageError(`${(error as Error).message}\n${USAGE}`);
      }
      if (!file) throw new UsageError(`seer convert needs -f FILE\n${USAGE}`);
      const objects = convertSeedManifests(await readInput(file));
      output.stdout.write(objects.map((object) => yaml.dump(object, { lineWidth: -1 })).join('---\n'));
    },
  };
}

export const convertCommand: Command = createConvertCommand();
