export interface BackoffSettings {
  /** Delay before the second restart in a row; it doubles for each further one. */
  initialMs: number;
  maxMs: number;
  /** A run at least this long resets the sequence, so the next restart is immediate again. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 100, maxMs: 30_000, resetAfterMs: 60_000 };

/**
 * Delays between automatic restarts: the first restart after a stable run is immediate, the following
 * ones wait `initialMs`, then twice that, and so on up to `maxMs`.
 */
export class RestartBackoff {
  constructor(
    private readonly settings: BackoffSettings,
    /** Restarts since the last stable run (persisted so a new agent continues the sequence). */
    public failures = 0,
  ) {}

  /** The delay before the restart that follows a run of `ranMs` (undefined when its length is unknown). */
  next(ranMs?: number): number {
    if (ranMs !== undefined && ranMs >= this.settings.resetAfterMs) this.failures = 0;
    const delay =
      this.failures === 0
        ? 0
        : Math.min(this.settings.initialMs * 2 ** (this.failures - 1), this.settings.maxMs);
    this.failures += 1;
    return delay;
  }

  reset(): void {
    this.failures = 0;
  }
}

/** The automatic restart that is due: when (recorded in the state file) and the timer that runs it. */
export class DueRestart {
  /** Undefined until a restart has been scheduled. */
  at: Date | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Records that a restart is due in `delayMs`; `restart` runs then unless it is undefined or cancelled. */
  schedule(delayMs: number, restart: (() => void) | undefined): void {
    this.cancel();
    this.at = new Date(Date.now() + delayMs);
    if (!restart) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      restart();
    }, delayMs);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
