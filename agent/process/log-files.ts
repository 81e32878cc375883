import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';

/** One file per stream, so a reader can tell a program's errors from its output. */
export interface LogPaths {
  stdout: string;
  stderr: string;
}

export function logPaths(logDir: string, containerName: string): LogPaths {
  return {
    stdout: path.join(logDir, `${containerName}.stdout.log`),
    stderr: path.join(logDir, `${containerName}.stderr.log`),
  };
}

/** Where a container's previous run's log is kept once a new run starts (see keepPreviousRun). */
export function previousLogPaths(logDir: string, containerName: string): LogPaths {
  return {
    stdout: path.join(logDir, `${containerName}.previous.stdout.log`),
    stderr: path.join(logDir, `${containerName}.previous.stderr.log`),
  };
}

export interface LogDescriptors {
  stdout: number;
  stderr: number;
  close(): void;
}

/**
 * Opens both log files with O_APPEND for a child's stdout/stderr. Files, not pipes: a process must
 * outlive the agent without a SIGPIPE, and O_APPEND lets rotation truncate under a running writer.
 */
export function openLogFiles(paths: LogPaths): LogDescriptors {
  mkdirSync(path.dirname(paths.stdout), { recursive: true });
  const stdout = openSync(paths.stdout, 'a', 0o640);
  let stderr: number;
  try {
    stderr = openSync(paths.stderr, 'a', 0o640);
  } catch (error) {
    closeSync(stdout);
    throw error;
  }
  return {
    stdout,
    stderr,
    close() {
      closeSync(stdout);
      closeSync(stderr);
    },
  };
}

export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

const TAIL_BYTES = 4096;

/**
 * The last non-empty line written to `file` after byte `since` (at most the last 4 KiB), for status
 * messages such as "exited with code 127: sh: 1: exec: ./run: not found". Empty when nothing was.
 */
export function logTail(file: string, since = 0): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = statSync(file).size;
    // A rotation may have truncated the file since `since` was taken.
    const start = Math.max(since <= size ? since : 0, size - TAIL_BYTES);
    const buffer = Buffer.alloc(size - start);
    const read = readSync(fd, buffer, 0, buffer.length, start);
    const lines = buffer.subarray(0, read).toString('utf8').split('\n');
    const last = lines.reverse().find((line) => line.trim() !== '') ?? '';
    return last.trim().slice(0, 300);
  } finally {
    closeSync(fd);
  }
}
