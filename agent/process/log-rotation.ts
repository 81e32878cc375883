import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, truncate } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { moveTimes, recordRotation, timesFile, WriteTimeRecorder } from './log-times.js';

export interface LogRotationSettings {
  /** Rotate a live file once it is at least this big. */
  maxBytes: number;
  /** Rotated files kept beside the live one (`.1` newest … `.maxFiles` oldest). */
  maxFiles: number;
  /** How often the sizes are checked. */
  intervalMs: number;
}

export const DEFAULT_LOG_ROTATION: LogRotationSettings = {
  maxBytes: 10 * 1024 * 1024,
  maxFiles: 5,
  intervalMs: 1000,
};

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** What one rotation did to the live file, for readers following it. */
export interface Rotation {
  file: string;
  /** The first `removed` bytes left the live file; `${file}.1` holds them (from offset 0). */
  removed: number;
}

/**
 * Rotations as they happen, announced while the file's lock is still held (see withLogLock), so an
 * in-process reader of the live file can account for the bytes that moved to `.1`.
 */
export const rotations = new EventEmitter<{ rotated: [Rotation] }>();
// One listener per follower and per container's write-time recorder: no fixed bound.
rotations.setMaxListeners(0);

const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` while no rotation of `file` is under way, and none starts before it is done. */
export async function withLogLock<T>(file: string, fn: () => Promise<T> | T): Promise<T> {
  const before = locks.get(file) ?? Promise.resolve();
  const run = before.then(fn, fn);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  locks.set(file, settled);
  try {
    return await run;
  } finally {
    if (locks.get(file) === settled) locks.delete(file);
  }
}

const run = promisify(execFile);

async function copyRange(from: string, to: string, start: number, end: number, flags: string): Promise<void> {
  const target = createWriteStream(to, { flags, mode: 0o640 });
  if (end <= start) {
    await new Promise<void>((resolve, reject) =>
      target.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    return;
  }
  await pipeline(createReadStream(from, { start, end: end - 1 }), target);
}

/**
 * Rotation under a running writer that keeps its O_APPEND descriptor: shift `.1`… one up, copy the
 * live file's whole blocks to `.1` and cut them from its head with fallocate's collapse-range, which
 * the filesystem does atomically with respect to writers: no line is lost, and what was written
 * meanwhile stays in the live file. Where collapsing is not supported (or the file is under one
 * block), the rest is copied too and the live file truncated: lines written between that copy and
 * the truncate are lost.
 */
export async function rotateIfLarge(
  file: string,
  settings: Pick<LogRotationSettings, 'maxBytes' | 'maxFiles'>,
): Promise<boolean> {
  return withLogLock(file, async () => {
    let info;
    try {
      info = await stat(file);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    if (info.size < settings.maxBytes) return false;
    const keep = settings.maxFiles > 0;
    if (keep) {
      for (let index = settings.maxFiles - 1; index >= 1; index--) {
        try {
          await rename(`${file}.${index}`, `${file}.${index + 1}`);
        } catch (error) {
          if (!isMissing(error)) throw error;
        }
      }
    }
    const blocks = Math.floor(info.size / info.blksize) * info.blksize;
    if (blocks > 0) {
      if (keep) await copyRange(file, `${file}.1`, 0, blocks, 'w');
      try {
        await run('fallocate', ['--collapse-range', '--offset', '0', '--length', String(blocks), file]);
        recordRotation(file, blocks);
        rotations.emit('rotated', { file, removed: blocks });
        return true;
      } catch {
        // not supported here: copy the rest and truncate
      }
    } else if (keep) await copyRange(file, `${file}.1`, 0, 0, 'w');
    const size = (await stat(file)).size;
    if (keep) await copyRange(file, `${file}.1`, blocks, size, 'a');
    await truncate(file, 0);
    recordRotation(file, size);
    rotations.emit('rotated', { file, removed: size });
    return true;
  });
}

/**
 * Sets a finished run's log aside before the next run starts, as kubelet keeps a container's
 * previous log: the live file and its rotations become `previous` and its rotations (replacing an
 * older run's), and the next run writes new files. Nothing writes them by then; without a live file
 * (no run yet) nothing changes.
 */
export function keepPreviousRun(file: string, previous: string, maxFiles: number): Promise<void> {
  return withLogLock(file, () => movePreviousRun(file, previous, maxFiles));
}

async function movePreviousRun(file: string, previous: string, maxFiles: number): Promise<void> {
  try {
    await stat(file);
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  for (let index = 1; index <= maxFiles; index++) await rm(`${previous}.${index}`, { force: true });
  for (let index = 1; index <= maxFiles; index++) {
    try {
      await rename(`${file}.${index}`, `${previous}.${index}`);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }
  await rm(timesFile(previous), { force: true });
  await rename(file, previous);
  moveTimes(file, previous);
}

/**
 * Checks a set of log files on a timer and rotates the ones that grew too big; meanwhile it records
 * when their bytes were written (see log-times).
 */
export class LogRotator {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private checking: Promise<void> = Promise.resolve();
  private readonly times: WriteTimeRecorder;

  constructor(
    private readonly files: string[],
    private readonly settings: LogRotationSettings,
    private readonly logger: Logger,
  ) {
    this.times = new WriteTimeRecorder(files, settings.maxFiles);
  }

  start(): void {
    if (this.timer) return;
    this.times.start();
    this.timer = setInterval(() => {
      if (!this.running) this.checking = this.check();
    }, this.settings.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.times.stop();
  }

  /** Stops, and resolves once a check under way has finished: the files are the caller's then. */
  async settle(): Promise<void> {
    this.stop();
    await this.checking;
    await this.times.settle();
  }

  private async check(): Promise<void> {
    // A slow disk must not pile up overlapping rotations of the same file.
    if (this.running) return;
    this.running = true;
    try {
      for (const file of this.files) {
        try {
          if (await rotateIfLarge(file, this.settings)) this.logger.debug({ file }, 'rotated log file');
        } catch (error) {
          this.logger.warn({ file, err: error }, 'log rotation failed');
        }
      }
    } finally {
      this.running = false;
    }
  }
}
