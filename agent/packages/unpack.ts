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
    const tree = await extract(archive, staging, caps);
    // Checked again with the whole tree: a symlink may lead through another one defined after it.
    for (const [name, linkTarget] of tree.symlinks()) {
      if (!tree.symlinkStaysInside(name.split('/'), linkTarget)) {
        throw refused(name, `is a symlink to "${linkTarget}", which resolves outside the package`);
      }
    }
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

function extract(archive: string, root: string, caps: Required<UnpackLimits>): Promise<ArchiveTree> {
  return new Promise((resolve, reject) => {
    const tree = new ArchiveTree();
    const directoryModes = new Map<string, number>([['', DEFAULT_DIRECTORY_MODE]]);
    let entries = 0;
    let bytes = 0;
    let openFile: number | undefined;
    let done = false;

    const input = createReadStream(archive, { highWaterMark: 1024 * 1024 });
    // zlib inflates on the thread pool while this thread parses and writes.
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    const parser = new Parser({ strict: true });

    const stopReading = () => {
      input.destroy();
      gunzip.destroy();
    };
    const fail = (error: unknown) => {
      if (done) return;
      done = true;
      if (openFile !== undefined) closeSync(openFile);
      openFile = undefined;
      stopReading();
      reject(error);
    };
    const finish = () => {
      if (done) return;
      try {
        for (const [name, mode] of directoryModes) chmodSync(path.join(root, name), mode);
      } catch (error) {
        fail(error);
        return;
      }
      done = true;
      // Whatever follows the end-of-archive blocks is never used, so it is not inflated either.
      stopReading();
      resolve(tree);
    };

    const makeDirectory = (components: string[], mode: number) => {
      const node = tree.get(components);
      if (node && node.kind !== 'directory')
        throw refused(components.join('/'), 'appears twice in the package');
      if (!node) {
        mkdirSync(path.join(root, ...components), OWNER_RWX);
        tree.add(components, 'directory');
      }
      directoryModes.set(components.join('/'), mode);
    };

    /** Refuses a path through a symlink or a file, and creates the missing parent directories. */
    const createParents = (entryPath: string, components: string[]) => {
      const { refusal, missing } = tree.checkAncestors(components);
      if (refusal) throw refused(entryPath, refusal);
      for (const ancestor of missing) makeDirectory(ancestor, DEFAULT_DIRECTORY_MODE);
    };

    /** A file, symlink or hardlink never replaces anything: replacing a symlink would write through it. */
    const createParentsOfNew = (entryPath: string, components: string[]) => {
      createParents(entryPath, components);
      if (tree.get(components)) throw refused(entryPath, 'appears twice in the package');
    };

    const writeFile = (entry: ReadEntry, components: string[]) => {
      bytes += entry.size;
      if (bytes > caps.maxBytes) {
        throw refused(entry.path, `takes the package over its size limit of ${caps.maxBytes} bytes`);
      }
      createParentsOfNew(entry.path, components);
      const fd = openSync(path.join(root, ...components), CREATE_FILE, 0o600);
      openFile = fd;
      tree.add(components, 'file');
      const mode = (entry.mode || DEFAULT_FILE_MODE) & PERMISSION_BITS;
      entry.on('end', () => {
        if (done || openFile !== fd) return;
        openFile = undefined;
        try {
          // fchmod, not the open mode: the umask would change that one.
          fchmodSync(fd, mode);
          closeSync(fd);
        } catch (error) {
          fail(error);
        }
      });
      entry.on('data', (chunk: Buffer) => {
        if (done) return;
        try {
          for (let written = 0; written < chunk.length;) written += writeSync(fd, chunk, written);
        } catch (error) {
          fail(error);
        }
      });
    };

    const handleEntry = (entry: ReadEntry) => {
      entries += 1;
      if (entries > caps.maxEntries) {
        throw refused(
          entry.path,
          `is entry number ${entries}; a package may have at most ${caps.maxEntries}`,
        );
      }
      const components = entryPathComponents(entry.path);
      if (typeof components === 'string') throw refused(entry.path, components);
      const isDirectory = entry.type === 'Directory' || entry.type === 'GNUDumpDir';
      if (components.length === 0 && !isDirectory)
        throw refused(entry.path, 'names the package root but is not a directory');
      switch (entry.type) {
        case 'Directory':
        case 'GNUDumpDir': {
          const mode = ((entry.mode || DEFAULT_DIRECTORY_MODE) & PERMISSION_BITS) | OWNER_RWX;
          if (components.length === 0) {
            directoryModes.set('', mode);
          } else {
            createParents(entry.path, components);
            makeDirectory(components, mode);
          }
          entry.resume();
          return;
        }
        case 'File':
        case 'OldFile':
        case 'ContiguousFile':
          writeFile(entry, components);
          return;
        case 'SymbolicLink': {
          const linkTarget = entry.linkpath ?? '';
          if (!tree.symlinkStaysInside(components, linkTarget)) {
            throw refused(entry.path, `is a symlink to "${linkTarget}", which resolves outside the package`);
          }
          createParentsOfNew(entry.path, components);
          symlinkSync(linkTarget, path.join(root, ...components));
          tree.add(components, 'symlink', linkTarget);
          entry.resume();
          return;
        }
        case 'Link': {
          const linkTarget = entry.linkpath ?? '';
          const targetComponents = entryPathComponents(linkTarget);
          if (typeof targetComponents === 'string') {
            throw refused(entry.path, `is a hardlink to "${linkTarget}", which ${targetComponents}`);
          }
          // A file the archive itself created (through no symlink), so the link cannot reach outside.
          if (tree.get(targetComponents)?.kind !== 'file' || tree.checkAncestors(targetComponents).refusal) {
            throw refused(
              entry.path,
              `is a hardlink to "${linkTarget}", which is not a file earlier in the package`,
            );
          }
          createParentsOfNew(entry.path, components);
          linkSync(path.join(root, ...targetComponents), path.join(root, ...components));
          tree.add(components, 'file');
          entry.resume();
          return;
        }
        case 'CharacterDevice':
          throw refused(entry.path, 'is a character device; packages may not contain device files');
        case 'BlockDevice':
          throw refused(entry.path, 'is a block device; packages may not contain device files');
        case 'FIFO':
          throw refused(entry.path, 'is a FIFO; packages may not contain FIFOs');
        default:
          throw refused(entry.path, `has an unsupported type (${entry.type})`);
      }
    };

    parser.on('entry', (entry: ReadEntry) => {
      if (done) {
        entry.resume();
        return;
      }
      try {
        handleEntry(entry);
      } catch (error) {
        entry.resume();
        fail(error);
      }
    });
    parser.on('ignoredEntry', (entry: ReadEntry) => {
      fail(refused(entry.path, `has an unsupported type (${entry.type})`));
    });
    parser.on('error', (error: Error) => {
      fail(new PackageError('PackageRejected', `the package is not a valid tar archive: ${error.message}`));
    });
    // 'eof' (the two zero blocks) comes after every entry before it has been handled.
    parser.on('eof', finish);
    parser.on('end', finish);
    gunzip.on('error', (error) => {
      fail(new PackageError('PackageRejected', `the package is not valid gzip: ${error.message}`));
    });
    input.on('error', fail);
    input.pipe(gunzip).pipe(parser as unknown as NodeJS.WritableStream);
  });
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
