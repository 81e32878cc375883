import { runProbe, type ProbeResult, type ProbeTarget } from './probes.js';
import type { Probe } from './spec.js';

/**
 * Runs a probe periodically and reports when its verdict changes: `failure_threshold` failures in a
 * row make it false, `success_threshold` successes in a row make it true. One worker per process run.
 */
export class ProbeWorker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  private verdict: boolean;

  constructor(
    private readonly probe: Probe,
    private readonly target: ProbeTarget,
    /** The verdict before the first result: false for readiness, true for liveness. */
    initial: boolean,
    private readonly onChange: (ok: boolean, result: ProbeResult) => void,
  ) {
    this.verdict = initial;
  }

  start(): void {
    this.schedule((this.probe.initial_delay_seconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    const began = Date.now();
    const result = await runProbe(this.probe, this.target);
    if (this.stopped) return;
    if (result.ok) {
      this.successes += 1;
      this.failures = 0;
      if (!this.verdict && this.successes >= (this.probe.success_threshold ?? 1)) this.change(true, result);
    } else {
      this.failures += 1;
      this.successes = 0;
      if (this.verdict && this.failures >= (this.probe.failure_threshold ?? 3)) this.change(false, result);
    }
    // The period runs from the start of one probe to the start of the next; a slow probe is not overlapped.
    const periodMs = (this.probe.period_seconds ?? 10) * 1000;
    this.schedule(Math.max(0, periodMs - (Date.now() - began)));
  }

  private change(ok: boolean, result: ProbeResult): void {
    this.verdict = ok;
    if (!this.stopped) this.onChange(ok, result);
  }
}
