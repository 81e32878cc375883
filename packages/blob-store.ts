import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PackageError } from './errors.js';
import { isSha256Digest } from './reference.js';

export interface StoredBlob {
  digest: string;
  path: string;
  size: number;
}

/** A blob as the garbage collector sees it. */
export interface ListedBlob extends StoredBlob {
  /** When the cache last handed it out or stored it (the file's mtime), in ms since the epoch. */
  lastUsedMs: number;
}

export interface WriteOptions {
  /** What is being stored, for messages (the package reference). */
  describe: string;
  /** Refuse the content unless its digest is this one. */
  expectedDigest?: string;
  /** The size the source announced (an OCI descriptor); more or fewer bytes is a mismatch. */
  expectedSize?: number;
  maxBytes: number;
  signal?: AbortSignal;
}

const LEFTOVER = /^(\d+)-[0-9a-f]+\.partial$/;
const BLOB_NAME = /^[0-9a-f]{64}$/;

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Content-addressed files: `${dir}/blobs/sha256/<hex>`. Content is streamed into `${dir}/tmp`,
 * hashed on the way, fsync'd, and renamed into place only once its digest is known and checked, so a
 * file under blobs/ is always complete and correct, and a crash leaves at most a `.partial` file in
 * tmp/, which is never read and is removed later.
 *
 * A blob's mtime is when it was last used: use() and write() set it to now. Handing a blob out
 * (use, write) and removing it (remove) run one at a time, so a blob is either removed before a
 * caller asks for it (the caller sees a miss and downloads it again) or refreshed before the removal
 * looks at it (and the removal leaves it alone): a caller is never handed a path that is about to go.
 */
export class BlobStore {
  readonly blobsDir: string;
  readonly tmpDir: string;
  private exclusive: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {
    this.blobsDir = path.join(dir, 'blobs', 'sha256');
    this.tmpDir = path.join(dir, 'tmp');
  }

  pathFor(digest: string): string {
    if (!isSha256Digest(digest)) throw new Error(`not a sha256 digest: ${digest}`);
    return path.join(this.blobsDir, digest.slice('sha256:'.length));
  }

  /** Creates the directories and removes partial files that processes no longer running left behind. */
  async prepare(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    for (const name of await readdir(this.tmpDir)) {
      const pid = Number(LEFTOVER.exec(name)?.[1] ?? 0);
      if (pid === process.pid || (pid > 0 && processIsAlive(pid))) continue;
      await unlink(path.join(this.tmpDir, name)).catch(() => undefined);
    }
  }

  /** Runs `work` once every earlier use/write/remove has finished. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.exclusive.then(work);
    this.exclusive = result.catch(() => undefined);
    return result;
  }

  /** The blob if it is stored, without counting as a use. */
  async get(digest: string): Promise<StoredBlob | undefined> {
    const file = this.pathFor(digest);
    try {
      const info = await stat(file);
      return info.isFile() ? { digest, path: file, size: info.size } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** The blob if it is stored, marked as used now so that garbage collection keeps it a while. */
  use(digest: string): Promise<StoredBlob | undefined> {
    return this.serially(async () => {
      const blob = await this.get(digest);
      if (!blob) return undefined;
      try {
        await touch(blob.path);
      } catch (error) {
        // Removed by hand since the stat: a miss like any other.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      return blob;
    });
  }

  /** Every stored blob, in no particular order. */
  async list(): Promise<ListedBlob[]> {
    let names: string[];
    try {
      names = await readdir(this.blobsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const blobs: ListedBlob[] = [];
    for (const name of names) {
      if (!BLOB_NAME.test(name)) continue;
      const file = path.join(this.blobsDir, name);
      const info = await stat(file).catch(() => undefined);
      // Gone meanwhile, or not ours to judge.
      if (!info?.isFile()) continue;
      blobs.push({ digest: `sha256:${name}`, path: file, size: info.size, lastUsedMs: info.mtimeMs });
    }
    return blobs;
  }

  /**
   * Removes the blob unless it was used at or after `unusedSince` (ms since the epoch), checked
   * afresh: it may have been used since it was listed. Returns the bytes freed, 0 if it was kept or
   * already gone.
   */
  remove(digest: string, unusedSince: number): Promise<number> {
    const file = this.pathFor(digest);
    return this.serially(async () => {
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile() || info.mtimeMs >= unusedSince) return 0;
      try {
        await unlink(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw error;
      }
      return info.size;
    });
  }

  /** Streams `source` into the store; the digest is computed on the way and checked if expected. */
  async write(source: Readable, options: WriteOptions): Promise<StoredBlob> {
    const temp = path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.partial`);
    const hash = createHash('sha256');
    let size = 0;
    // The caller has already refused an announced size over maxBytes.
    const limit = options.expectedSize ?? options.maxBytes;
    const count = async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        size += chunk.length;
        if (size > limit) {
          throw options.expectedSize !== undefined
            ? new PackageError(
                'DigestMismatch',
                `${options.describe}: the server sent more than the ${options.expectedSize} bytes the manifest announced`,
              )
            : new PackageError(
                'PackageTooLarge',
                `${options.describe}: larger than ${options.maxBytes} bytes`,
              );
        }
        hash.update(chunk);
        yield chunk;
      }
    };
    try {
      await pipeline(
        source,
        count,
        createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: 1024 * 1024 }),
        { signal: options.signal },
      );
      const digest = `sha256:${hash.digest('hex')}`;
      if (options.expectedDigest !== undefined && digest !== options.expectedDigest) {
        throw new PackageError(
          'DigestMismatch',
          `${options.describe}: digest mismatch: expected ${options.expectedDigest}, got ${digest}`,
        );
      }
      if (options.expectedSize !== undefined && size !== options.expectedSize) {
        throw new PackageError(
          'DigestMismatch',
          `${options.describe}: got ${size} bytes, the manifest announced ${options.expectedSize}`,
        );
      }
      const file = this.pathFor(digest);
      // The rename may replace a blob a removal is looking at: one at a time, and fresh when done.
      await this.serially(async () => {
        await rename(temp, file);
        await touch(file);
      });
      await syncDirectory(this.blobsDir);
      return { digest, path: file, size };
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }
}

/** Sets the file's mtime, which records when the blob was last used, to now. */
async function touch(file: string): Promise<void> {
  const now = new Date();
  await utimes(file, now, now);
}

/** Makes a rename in `dir` durable, so the blob is still there after a power loss. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
