import { constants } from 'node:fs';
import { lstat, open, opendir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Refusal } from './auth.js';
import type { LogFilePath, LogRootName } from './log-file-path.js';

/**
 * A container's log files, as the agent lists and serves them:
 *   container/…  regular files under the container's directory whose name ends in `.log`, or that
 *                are anywhere below a directory named `log` or `logs` there;
 *   app/…        every regular file under <app_log_root>/<the pod's app label>.
 * Symbolic links are neither listed nor followed while listing; a path that is read must resolve,
 * links and all, to a regular file inside its root that the rule above admits.
 */
export interface LogRoot {
  name: LogRootName;
  dir: string;
  /** Whether a path below the root (its segments) is one of its log files. */
  admits(segments: string[]): boolean;
}

/** Directories below a root that listing goes into, at most. */
export const MAX_DEPTH = 4;
/** Files one listing returns, at most. */
export const MAX_FILES = 1000;

export function isContainerLogFile(segments: string[]): boolean {
  const name = segments[segments.length - 1] ?? '';
  return name.endsWith('.log') || segments.slice(0, -1).some((dir) => dir === 'log' || dir === 'logs');
}

export function containerLogRoot(dir: string): LogRoot {
  return { name: 'container', dir, admits: isContainerLogFile };
}

export function appLogRoot(dir: string): LogRoot {
  return { name: 'app', dir, admits: (segments) => segments.length > 0 };
}

export interface LogFileEntry {
  /** `<root name>/<path below the root>`. */
  path: string;
  size: number;
  /** Last modification, ISO 8601. */
  modified: string;
}

/** The log files under `roots`, in path order, at most MAX_FILES and MAX_DEPTH directories deep. */
export async function listLogFiles(roots: LogRoot[]): Promise<LogFileEntry[]> {
  const files: LogFileEntry[] = [];
  const walk = async (root: LogRoot, segments: string[]): Promise<void> => {
    let dir;
    try {
      dir = await opendir(path.join(root.dir, ...segments));
    } catch (error) {
      // A root not made yet (a container never started, an app that wrote nothing) has no files.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const entries = [];
    for await (const entry of dir) entries.push(entry);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (files.length >= MAX_FILES) return;
      const below = [...segments, entry.name];
      if (entry.isDirectory() && below.length <= MAX_DEPTH) await walk(root, below);
      else if (entry.isFile() && root.admits(below)) {
        const stats = await lstat(path.join(root.dir, ...below)).catch(() => undefined);
        if (stats?.isFile())
          files.push({
            path: [root.name, ...below].join('/'),
            size: stats.size,
            modified: stats.mtime.toISOString(),
          });
      }
    }
  };
  for (const root of roots) await walk(root, []);
  return files;
}

function inside(root: string, file: string): boolean {
  return file.startsWith(root + path.sep);
}

/**
 * Opens a log file for reading, refused unless it is a regular file that resolves inside its root
 * and the root's rule admits. The check is made again on the open descriptor, so a link swapped in
 * between resolving and opening is caught too.
 */
export async function openLogFile(root: LogRoot, requested: LogFilePath): Promise<FileHandle> {
  const shown = [requested.root, ...requested.segments].join('/');
  let rootDir: string;
  let resolved: string;
  try {
    rootDir = await realpath(root.dir);
    resolved = await realpath(path.join(rootDir, ...requested.segments));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Refusal(404, `no log file ${shown}`);
    throw error;
  }
  if (!inside(rootDir, resolved)) throw new Refusal(403, `${shown} resolves outside ${requested.root}/`);
  // O_NOFOLLOW: the last component may not have become a link since; O_NONBLOCK: a FIFO cannot hang us.
  const handle = await open(resolved, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ELOOP') throw new Refusal(403, `${shown} changed into a symbolic link`);
      if (error.code === 'ENOENT') throw new Refusal(404, `no log file ${shown}`);
      throw error;
    },
  );
  try {
    const opened = await readlink(`/proc/self/fd/${handle.fd}`);
    if (!inside(rootDir, opened)) throw new Refusal(403, `${shown} resolves outside ${requested.root}/`);
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new Refusal(400, `${shown} is a directory; list the log files instead`);
    if (!stats.isFile()) throw new Refusal(403, `${shown} is not a regular file`);
    if (!root.admits(path.relative(rootDir, opened).split(path.sep)))
      throw new Refusal(403, `${shown} is not a log file (see the listing's rule)`);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}
