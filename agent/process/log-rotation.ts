import { copyFile, rename, rm, stat, truncate } from 'node:fs/promises';
import type { Logger } from 'pino';

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

/**
 * Copy-truncate rotation: shift `.1`… one up, copy the live file to `.1`, truncate it. The writer
 * keeps its O_APPEND descriptor and carries on at the new end of the file. Lines written between the
 * copy and the truncate are lost; that is the price of never touching the writer.
 */
export async function rotateIfLarge(
  file: string,
  settings: Pick<LogRotationSettings, 'maxBytes' | 'maxFiles'>,
): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
  if (size < settings.maxBytes) return false;
  if (settings.maxFiles > 0) {
    for (let index = settings.maxFiles - 1; index >= 1; index--) {
      try {
        await rename(`${file}.${index}`, `${file}.${index + 1}`);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    await copyFile(file, `${file}.1`);
  }
  await truncate(file, 0);
  return true;
}

/**
 * Sets a finished run's log aside before the next run starts, as kubelet keeps a container's
 * previous log: the live file and its rotations become `previous` and its rotations (replacing an
 * older run's), and the next run writes new files. Nothing writes them by then; without a live file
 * (no run yet) nothing changes.
 */
export async function keepPreviousRun(file: string, previous: string, maxFiles: number): Promise<void> {
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
  await rename(file, previous);
}

/** Checks a set of log files on a timer and rotates the ones that grew too big. */
export class LogRotator {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private checking: Promise<void> = Promise.resolve();

  constructor(
    private readonly files: string[],
    private readonly settings: LogRotationSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running) this.checking = this.check();
    }, this.settings.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops, and resolves once a check under way has finished: the files are the caller's then. */
  async settle(): Promise<void> {
    this.stop();
    await this.checking;
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
