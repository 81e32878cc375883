import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  fchmodSync,
  linkSync,
  mkdirSync,
  openSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { ArchiveTree, entryPathComponents } from './archive-tree.js';
import { PackageError } from './errors.js';
import { METADATA_FILE, parsePackageMetadata, type PackageMetadata } from './metadata.js';

export interface UnpackLimits {
  /** The most bytes the package's files may add up to once unpacked. */
  maxBytes?: number;
  /** The most entries (files, directories, links) the package may have. */
  maxEntries?: number;
}

export const DEFAULT_UNPACK_LIMITS: Required<UnpackLimits> = {
  maxBytes: 16 * 1024 ** 3,
  maxEntries: 1_000_000,
};

const MAX_METADATA_BYTES = 1024 * 1024;
const DEFAULT_DIRECTORY_MODE = 0o755;
const DEFAULT_FILE_MODE = 0o644;
// Permission bits only: setuid, setgid and sticky bits never survive unpacking.
const PERMISSION_BITS = 0o777;
// The agent must always be able to enter, fill and later remove every directory it unpacked.
const OWNER_RWX = 0o700;
const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function refused(entryPath: string, why: string): PackageError {
  return new PackageError('PackageRejected', `entry "${entryPath}" ${why}`);
}

/**
 * Unpacks a package (a gzip'd tar) into `destination`. Everything is extracted into a fresh staging
 * directory next to `destination`, and only when the whole archive has passed is it renamed into
 * place (replacing what was there). A refused package throws PackageError('PackageRejected') naming
 * the entry and why, and leaves nothing behind: no `destination`, no staging directory, nothing
 * outside.
 *
 * Refused: absolute paths and `..`, symlinks that resolve outside the package (absolute targets
 * included), hardlinks to anything but a file already in the package, anything written through a
 * symlink, device files and FIFOs, more than `maxEntries` entries or `maxBytes` bytes. File modes are
 * kept without setuid/setgid/sticky bits; owners are not (nothing is chowned), nor are mtimes.
 *
 * Returns the package's seer-package.yaml, parsed, if it has one.
 */
export async function unpackPackage(
  archive: string,
  destination: string,
  limits: UnpackLimits = {},
): Promise<PackageMetadata | undefined> {
  const target = path.resolve(destination);
  const caps = {
    maxBytes: limits.maxBytes ?? DEFAULT_UNPACK_LIMITS.maxBytes,
    maxEntries: limits.maxEntries ?? DEFAULT_UNPACK_LIMITS.maxEntries,
  };
  let staging: string | undefined;
  try {
    await mkdir(path.dirname(target), { recursive: true });
    staging = await mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.unpack-`));
    const tree = await readEntries(archive, new Extraction(staging, caps));
    checkSymlinksInWholeTree(tree);
    const metadata = await readMetadata(staging, tree);
    await replaceDirectory(staging, target);
    staging = undefined;
    return metadata;
  } catch (error) {
    if (staging) await rm(staging, { recursive: true, force: true });
    if (error instanceof PackageError) throw error;
    throw new PackageError(
      'UnpackFailed',
      `unpacking ${archive} into ${target}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Checked again with the whole tree: a symlink may lead through another one defined after it, which
 * the check made as each symlink arrived could not see.
 */
function checkSymlinksInWholeTree(tree: ArchiveTree): void {
  for (const [name, linkTarget] of tree.symlinks()) {
    if (!tree.symlinkStaysInside(name.split('/'), linkTarget)) {
      throw refused(name, `is a symlink to "${linkTarget}", which resolves outside the package`);
    }
  }
}

/** One reading of an archive, as the entry handlers see it. */
interface ReadRun {
  /** True once the run has finished or failed; events after that are ignored. */
  readonly settled: boolean;
  /** Fails the run, unless it has already settled: stops reading and rejects with `error`. */
  fail(error: unknown): void;
}

/** What is done with the entries of an archive while it is read. */
interface EntrySink<T> {
  /** Each entry in archive order. Throwing refuses the archive; the entry's data is then drained. */
  entry(entry: ReadEntry, run: ReadRun): void;
  /** After the last entry; its result is what the reading resolves to, a throw fails it. */
  finish(): T;
  /** Once, when the reading fails, before it rejects. */
  abort(): void;
}

/**
 * Reads a gzip'd tar and hands its entries to `sink`, one at a time and in order. Resolves with
 * `sink.finish()` once the end-of-archive has been reached, or rejects with the first failure: the
 * sink's, the file's, gzip's or tar's. Whichever comes first settles the promise and stops reading;
 * nothing after it is acted on.
 */
function readEntries<T>(archive: string, sink: EntrySink<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const input = createReadStream(archive, { highWaterMark: 1024 * 1024 });
    // zlib inflates on the thread pool while this thread parses and writes.
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    const parser = new Parser({ strict: true });

    let settled = false;
    const stopReading = () => {
      input.destroy();
      gunzip.destroy();
    };
    const run: ReadRun = {
      get settled() {
        return settled;
      },
      fail(error: unknown) {
        if (settled) return;
        settled = true;
        sink.abort();
        stopReading();
        reject(error);
      },
    };
    const finish = () => {
      if (settled) return;
      let result: T;
      try {
        result = sink.finish();
      } catch (error) {
        run.fail(error);
        return;
      }
      settled = true;
      // Whatever follows the end-of-archive blocks is never used, so it is not inflated either.
      stopReading();
      resolve(result);
    };

    parser.on('entry', (entry: ReadEntry) => {
      if (settled) {
        entry.resume();
        return;
      }
      try {
        sink.entry(entry, run);
      } catch (error) {
        entry.resume();
        run.fail(error);
      }
    });
    parser.on('ignoredEntry', (entry: ReadEntry) => {
      run.fail(refused(entry.path, unsupportedType(entry)));
    });
    parser.on('error', (error: Error) => {
      run.fail(
        new PackageError('PackageRejected', `the package is not a valid tar archive: ${error.message}`),
      );
    });
    // 'eof' (the two zero blocks) comes after every entry before it has been handled.
    parser.on('eof', finish);
    parser.on('end', finish);
    gunzip.on('error', (error) => {
      run.fail(new PackageError('PackageRejected', `the package is not valid gzip: ${error.message}`));
    });
    input.on('error', (error) => run.fail(error));
    input.pipe(gunzip).pipe(parser as unknown as NodeJS.WritableStream);
  });
}

/** The package's caps, counted as entries arrive: every entry, and each file's size from its header. */
class LimitCounter {
  private entries = 0;
  private bytes = 0;

  constructor(private readonly caps: Required<UnpackLimits>) {}

  /** Counts one more entry of any type, before anything about it is looked at. */
  countEntry(entryPath: string): void {
    this.entries += 1;
    if (this.entries > this.caps.maxEntries) {
      throw refused(
        entryPath,
        `is entry number ${this.entries}; a package may have at most ${this.caps.maxEntries}`,
      );
    }
  }

  /** Counts a file's declared size, before any of its bytes are written. */
  countFileBytes(entryPath: string, size: number): void {
    this.bytes += size;
    if (this.bytes > this.caps.maxBytes) {
      throw refused(entryPath, `takes the package over its size limit of ${this.caps.maxBytes} bytes`);
    }
  }
}

function isDirectoryEntry(entry: ReadEntry): boolean {
  return entry.type === 'Directory' || entry.type === 'GNUDumpDir';
}

function unsupportedType(entry: ReadEntry): string {
  return `has an unsupported type (${entry.type})`;
}

/** Why an entry of a type that is never unpacked is refused. */
function refusedType(entry: ReadEntry): PackageError {
  switch (entry.type) {
    case 'CharacterDevice':
      return refused(entry.path, 'is a character device; packages may not contain device files');
    case 'BlockDevice':
      return refused(entry.path, 'is a block device; packages may not contain device files');
    case 'FIFO':
      return refused(entry.path, 'is a FIFO; packages may not contain FIFOs');
    default:
      return refused(entry.path, unsupportedType(entry));
  }
}

/**
 * Extracts entries into `root`, a fresh private directory, checking each against the tree built so
 * far (never against the disk). Every entry is first counted, then its path is checked, then it goes
 * to the one function for its type; each of those refuses what it must before creating anything.
 */
class Extraction implements EntrySink<ArchiveTree> {
  private readonly tree = new ArchiveTree();
  private readonly limits: LimitCounter;
  /** Final directory modes, set once every entry is in: a read-only directory could not be filled. */
  private readonly directoryModes = new Map<string, number>([['', DEFAULT_DIRECTORY_MODE]]);
  /** The file whose data is being written, closed if the run fails meanwhile. */
  private openFile: number | undefined;

  constructor(
    private readonly root: string,
    caps: Required<UnpackLimits>,
  ) {
    this.limits = new LimitCounter(caps);
  }

  entry(entry: ReadEntry, run: ReadRun): void {
    this.limits.countEntry(entry.path);
    const components = entryPathComponents(entry.path);
    if (typeof components === 'string') throw refused(entry.path, components);
    if (components.length === 0 && !isDirectoryEntry(entry))
      throw refused(entry.path, 'names the package root but is not a directory');
    switch (entry.type) {
      case 'Directory':
      case 'GNUDumpDir':
        this.directory(entry, components);
        return;
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        this.file(entry, components, run);
        return;
      case 'SymbolicLink':
        this.symlink(entry, components);
        return;
      case 'Link':
        this.hardlink(entry, components);
        return;
      default:
        throw refusedType(entry);
    }
  }

  finish(): ArchiveTree {
    for (const [name, mode] of this.directoryModes) chmodSync(path.join(this.root, name), mode);
    return this.tree;
  }

  abort(): void {
    if (this.openFile !== undefined) closeSync(this.openFile);
    this.openFile = undefined;
  }

  /** A directory: created (or, if the archive already implied it, kept) with its mode applied at the end. */
  private directory(entry: ReadEntry, components: string[]): void {
    const mode = ((entry.mode || DEFAULT_DIRECTORY_MODE) & PERMISSION_BITS) | OWNER_RWX;
    if (components.length === 0) {
      this.directoryModes.set('', mode);
    } else {
      this.createParents(entry.path, components);
      this.makeDirectory(components, mode);
    }
    entry.resume();
  }

  /** A regular file: counted against the size cap, created exclusively (never through a link), then filled. */
  private file(entry: ReadEntry, components: string[], run: ReadRun): void {
    this.limits.countFileBytes(entry.path, entry.size);
    this.createParentsOfNew(entry.path, components);
    const fd = openSync(path.join(this.root, ...components), CREATE_FILE, 0o600);
    this.openFile = fd;
    this.tree.add(components, 'file');
    const mode = (entry.mode || DEFAULT_FILE_MODE) & PERMISSION_BITS;
    entry.on('end', () => {
      if (run.settled || this.openFile !== fd) return;
      this.openFile = undefined;
      try {
        // fchmod, not the open mode: the umask would change that one.
        fchmodSync(fd, mode);
        closeSync(fd);
      } catch (error) {
        run.fail(error);
      }
    });
    entry.on('data', (chunk: Buffer) => {
      if (run.settled) return;
      try {
        for (let written = 0; written < chunk.length;) written += writeSync(fd, chunk, written);
      } catch (error) {
        run.fail(error);
      }
    });
  }

  /** A symlink: only one that resolves inside the package, given what the package holds so far. */
  private symlink(entry: ReadEntry, components: string[]): void {
    const linkTarget = entry.linkpath ?? '';
    if (!this.tree.symlinkStaysInside(components, linkTarget)) {
      throw refused(entry.path, `is a symlink to "${linkTarget}", which resolves outside the package`);
    }
    this.createParentsOfNew(entry.path, components);
    symlinkSync(linkTarget, path.join(this.root, ...components));
    this.tree.add(components, 'symlink', linkTarget);
    entry.resume();
  }

  /** A hardlink: only to a file the archive itself created earlier, reached through no symlink. */
  private hardlink(entry: ReadEntry, components: string[]): void {
    const linkTarget = entry.linkpath ?? '';
    const targetComponents = entryPathComponents(linkTarget);
    if (typeof targetComponents === 'string') {
      throw refused(entry.path, `is a hardlink to "${linkTarget}", which ${targetComponents}`);
    }
    // A file the archive itself created (through no symlink), so the link cannot reach outside.
    if (
      this.tree.get(targetComponents)?.kind !== 'file' ||
      this.tree.checkAncestors(targetComponents).refusal
    ) {
      throw refused(
        entry.path,
        `is a hardlink to "${linkTarget}", which is not a file earlier in the package`,
      );
    }
    this.createParentsOfNew(entry.path, components);
    linkSync(path.join(this.root, ...targetComponents), path.join(this.root, ...components));
    this.tree.add(components, 'file');
    entry.resume();
  }

  private makeDirectory(components: string[], mode: number): void {
    const node = this.tree.get(components);
    if (node && node.kind !== 'directory')
      throw refused(components.join('/'), 'appears twice in the package');
    if (!node) {
      mkdirSync(path.join(this.root, ...components), OWNER_RWX);
      this.tree.add(components, 'directory');
    }
    this.directoryModes.set(components.join('/'), mode);
  }

  /** Refuses a path through a symlink or a file, and creates the missing parent directories. */
  private createParents(entryPath: string, components: string[]): void {
    const { refusal, missing } = this.tree.checkAncestors(components);
    if (refusal) throw refused(entryPath, refusal);
    for (const ancestor of missing) this.makeDirectory(ancestor, DEFAULT_DIRECTORY_MODE);
  }

  /** A file, symlink or hardlink never replaces anything: replacing a symlink would write through it. */
  private createParentsOfNew(entryPath: string, components: string[]): void {
    this.createParents(entryPath, components);
    if (this.tree.get(components)) throw refused(entryPath, 'appears twice in the package');
  }
}

async function readMetadata(root: string, tree: ArchiveTree): Promise<PackageMetadata | undefined> {
  const node = tree.get([METADATA_FILE]);
  if (!node) return undefined;
  if (node.kind !== 'file') throw refused(METADATA_FILE, 'must be a regular file');
  const handle = await open(path.join(root, METADATA_FILE), constants.O_RDONLY | constants.O_NOFOLLOW);
  let text: string;
  try {
    const { size } = await handle.stat();
    if (size > MAX_METADATA_BYTES) throw refused(METADATA_FILE, `is larger than ${MAX_METADATA_BYTES} bytes`);
    text = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
  try {
    return parsePackageMetadata(text);
  } catch (error) {
    throw new PackageError('PackageRejected', (error as Error).message, { cause: error });
  }
}

/**
 * Moves the staging directory to `target`. A directory cannot be renamed over a non-empty one, so an
 * existing `target` is first moved aside and removed once the new one is in place; the window without
 * a `target` is two renames long.
 */
async function replaceDirectory(staging: string, target: string): Promise<void> {
  try {
    await rename(staging, target);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') throw error;
  }
  const aside = `${staging}.old`;
  await rename(target, aside);
  await rename(staging, target);
  await rm(aside, { recursive: true, force: true });
}
