import { copyFile, rename, stat, truncate } from 'node:fs/promises';
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

/** Checks a set of log files on a timer and rotates the ones that grew too big. */
export class LogRotator {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly files: string[],
    private readonly settings: LogRotationSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.settings.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
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
