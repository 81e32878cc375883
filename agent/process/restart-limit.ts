/**
 * systemd's StartLimitBurst / StartLimitIntervalSec: at most `max` automatic restarts within a
 * sliding window; the one after that is refused, so a broken daemon stops instead of looping
 * unnoticed. The times are kept in the state file, so an agent restart does not reset the count.
 */
export class RestartLimit {
  private times: number[] = [];

  constructor(private readonly limit: { max: number; windowSeconds: number } | undefined) {}

  /** Counts an automatic restart about to happen; false (and not counted) when it would be one too many. */
  allow(now = Date.now()): boolean {
    if (!this.limit) return true;
    const windowMs = this.limit.windowSeconds * 1000;
    this.times = this.times.filter((time) => now - time < windowMs);
    if (this.times.length >= this.limit.max) return false;
    this.times.push(now);
    return true;
  }

  /** Why a restart was refused, for the container's status. */
  describe(): string {
    const { max = 0, windowSeconds = 0 } = this.limit ?? {};
    return `restarted ${max} time${max === 1 ? '' : 's'} within ${windowSeconds} s (max_restarts ${max}): not restarted again`;
  }

  /** The restarts still inside the window, for the state file. */
  recent(): string[] {
    return this.times.map((time) => new Date(time).toISOString());
  }

  restore(times: string[] | undefined): void {
    this.times = (times ?? []).map((time) => Date.parse(time)).filter((time) => !Number.isNaN(time));
  }
}
