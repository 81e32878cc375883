import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rename, rm, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import { ArchiveTree } from './archive-tree.js';
import { PackageError } from './errors.js';
import {
  OCI_EMPTY_BLOB,
  OCI_MANIFEST_MEDIA_TYPE,
  OciClient,
  packageManifest,
  SEER_LAYER_MEDIA_TYPE,
  sha256Digest,
} from './oci.js';
import { formatReference, parsePackageReference } from './reference.js';
import type { RegistryConfig } from './registry-config.js';
import { END_OF_ARCHIVE, entryHeader, padding, type TarEntry } from './tar-writer.js';

export interface BuiltPackage {
  digest: string;
  size: number;
}

// Byte 9 of a gzip header names the OS that wrote it; fixing it to "Unix" (RFC 1952) keeps the
// output the same whichever platform's zlib wrote it. zlib already writes mtime 0 and no file name.
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;
const GZIP_LEVEL = 6;

function rejected(message: string): PackageError {
  return new PackageError('PackageRejected', message);
}

function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Lists a package directory in a fixed order (names compared bytewise, each directory before its
 * contents) with normalized modes: directories 0755, files 0755 if any execute bit is set and 0644
 * otherwise. Hardlinked files become independent copies. Refuses what unpacking would refuse:
 * sockets, FIFOs, devices and symlinks that resolve outside the directory.
 */
async function collectEntries(root: string, exclude: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const tree = new ArchiveTree();
  const walk = async (relative: string[]) => {
    const names = (await readdir(path.join(root, ...relative))).sort(byName);
    for (const name of names) {
      const components = [...relative, name];
      const entryPath = components.join('/');
      const absolute = path.join(root, ...components);
      if (absolute === exclude) continue;
      const info = await lstat(absolute);
      if (info.isDirectory()) {
        entries.push({ path: entryPath, type: 'directory', mode: 0o755 });
        tree.add(components, 'directory');
        await walk(components);
      } else if (info.isFile()) {
        entries.push({
          path: entryPath,
          type: 'file',
          mode: info.mode & 0o111 ? 0o755 : 0o644,
          size: info.size,
        });
        tree.add(components, 'file');
      } else if (info.isSymbolicLink()) {
        const linkTarget = await readlink(absolute);
        entries.push({ path: entryPath, type: 'symlink', mode: 0o777, linkTarget });
        tree.add(components, 'symlink', linkTarget);
      } else {
        const kind = info.isFIFO() ? 'a FIFO' : info.isSocket() ? 'a socket' : 'a device file';
        throw rejected(`${entryPath} is ${kind}; packages may contain only files, directories and symlinks`);
      }
    }
  };
  await walk([]);
  for (const [name, linkTarget] of tree.symlinks()) {
    if (!tree.symlinkStaysInside(name.split('/'), linkTarget)) {
      throw rejected(
        `${name} is a symlink to "${linkTarget}", outside the package directory; the agent would refuse it`,
      );
    }
  }
  return entries;
}

async function* tarStream(root: string, entries: TarEntry[]): AsyncGenerator<Buffer> {
  for (const entry of entries) {
    yield entryHeader(entry);
    if (entry.type !== 'file' || !entry.size) continue;
    let read = 0;
    const file = path.join(root, ...entry.path.split('/'));
    for await (const chunk of createReadStream(file, {
      start: 0,
      end: entry.size - 1,
      highWaterMark: 1024 * 1024,
    })) {
      read += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (read !== entry.size) throw new Error(`${entry.path} changed while the package was being built`);
    yield padding(entry.size);
  }
  yield END_OF_ARCHIVE;
}

/**
 * Builds a package (a gzip'd tar) from a directory, reproducibly: the same files with the same
 * contents and execute bits give a byte-identical archive, whatever their mtimes, owners or other
 * mode bits, on any host with the same Node.js (a different zlib may compress differently).
 * The output is written to a temporary file beside `outFile` and renamed into place.
 */
export async function buildPackage(dir: string, outFile: string): Promise<BuiltPackage> {
  const root = path.resolve(dir);
  const out = path.resolve(outFile);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw rejected(`${dir} is not a directory`);
  const entries = await collectEntries(root, out);

  const temp = `${out}.${randomBytes(6).toString('hex')}.tmp`;
  const hash = createHash('sha256');
  let size = 0;
  const measure = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      if (size <= GZIP_OS_OFFSET && size + chunk.length > GZIP_OS_OFFSET) {
        chunk[GZIP_OS_OFFSET - size] = GZIP_OS_UNIX;
      }
      size += chunk.length;
      hash.update(chunk);
      yield chunk;
    }
  };
  try {
    await pipeline(
      Readable.from(tarStream(root, entries)),
      createGzip({ level: GZIP_LEVEL }),
      measure,
      createWriteStream(temp, { flags: 'wx', mode: 0o644 }),
    );
    await rename(temp, out);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export interface PushOptions {
  registries: RegistryConfig;
  /** Called as bytes go out: `sent` of `total` (the package plus the 2-byte config). */
  onProgress?(sent: number, total: number): void;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface PushedPackage {
  /** The package digest (the layer's), the value for a pod's package_digest. */
  digest: string;
  manifestDigest: string;
  size: number;
}

/** Builds a package from `dir` and pushes it to an OCI registry as `reference` (which must carry a tag). */
export async function pushPackage(
  dir: string,
  reference: string,
  options: PushOptions,
): Promise<PushedPackage> {
  const ref = parsePackageReference(reference);
  if (ref.kind !== 'oci') {
    throw new PackageError(
      'InvalidReference',
      `cannot push to ${reference}: push needs registry/repository:tag`,
    );
  }
  if (ref.digest !== undefined || ref.tag === undefined) {
    throw new PackageError(
      'InvalidReference',
      `cannot push to ${reference}: give a tag, not a digest (the digest comes from the content)`,
    );
  }
  const tag = ref.tag;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'seer-push-'));
  try {
    const archive = path.join(workDir, 'package.tar.gz');
    const built = await buildPackage(dir, archive);
    const client = new OciClient({ registries: options.registries, logger: options.logger });
    const total = OCI_EMPTY_BLOB.length + built.size;
    options.onProgress?.(0, total);
    await client.pushBlob(
      ref,
      { digest: sha256Digest(OCI_EMPTY_BLOB), size: OCI_EMPTY_BLOB.length, open: () => OCI_EMPTY_BLOB },
      { onProgress: (sent) => options.onProgress?.(sent, total), signal: options.signal },
    );
    await client.pushBlob(
      ref,
      {
        digest: built.digest,
        size: built.size,
        open: () => createReadStream(archive, { highWaterMark: 1024 * 1024 }),
      },
      {
        onProgress: (sent) => options.onProgress?.(OCI_EMPTY_BLOB.length + sent, total),
        signal: options.signal,
      },
    );
    const manifest = packageManifest({
      mediaType: SEER_LAYER_MEDIA_TYPE,
      digest: built.digest,
      size: built.size,
    });
    const manifestDigest = await client.pushManifest(
      ref,
      tag,
      manifest,
      OCI_MANIFEST_MEDIA_TYPE,
      options.signal,
    );
    options.logger?.info(
      { reference: formatReference(ref), digest: built.digest, manifestDigest },
      'package pushed',
    );
    return { digest: built.digest, manifestDigest, size: built.size };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
