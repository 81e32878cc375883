import { setTimeout as sleep } from 'node:timers/promises';

export interface WorkQueueOptions {
  /** How many keys are reconciled at once (each key is only ever handled by one worker). */
  workers?: number;
  /** Retry delay after the first failure; doubles with every failure of the same key. */
  baseRetryMs?: number;
  maxRetryMs?: number;
  /** Told about every failed reconcile (the key is retried afterwards). */
  onError?: (key: string, error: unknown) => void;
}

/** Handles one key; throwing (or rejecting) schedules a retry with exponential backoff. */
export type Reconcile = (key: string) => Promise<void>;

/**
 * A controller work queue: keys are deduplicated while waiting, one reconcile per key runs at a time
 * (a key added during its own reconcile runs again afterwards), failures are retried with exponential
 * backoff per key, and `shutDown()` waits for the reconciles in flight.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  /** Keys added while they were being reconciled: queued again when that reconcile ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly waiters: (() => void)[] = [];
  private readonly workerLoops: Promise<void>[] = [];
  private shuttingDown = false;
  private readonly baseRetryMs: number;
  private readonly maxRetryMs: number;

  constructor(
    private readonly reconcile: Reconcile,
    private readonly options: WorkQueueOptions = {},
  ) {
    this.baseRetryMs = options.baseRetryMs ?? 100;
    this.maxRetryMs = options.maxRetryMs ?? 60_000;
  }

  start(): void {
    for (let i = 0; i < (this.options.workers ?? 2); i++) this.workerLoops.push(this.work());
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.waiters.shift()?.();
  }

  /** Adds the key after `delayMs` (for periodic re-checks); a sooner `add` is not delayed. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    const existing = this.retryTimers.get(key);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.retryTimers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.retryTimers.set(key, timer);
  }

  /** Forgets the key's failure count, so its next failure retries quickly again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** Stops taking new keys and resolves once every running reconcile has finished. */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
    this.queue.length = 0;
    this.queued.clear();
    for (const wake of this.waiters.splice(0)) wake();
    await Promise.all(this.workerLoops);
  }

  private async next(): Promise<string | undefined> {
    while (!this.shuttingDown) {
      const key = this.queue.shift();
      if (key !== undefined) {
        this.queued.delete(key);
        return key;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return undefined;
  }

  private async work(): Promise<void> {
    for (let key = await this.next(); key !== undefined; key = await this.next()) {
      this.running.add(key);
      try {
        await this.reconcile(key);
        this.failures.delete(key);
      } catch (error) {
        this.options.onError?.(key, error);
        const failures = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, failures);
        this.addAfter(key, Math.min(this.maxRetryMs, this.baseRetryMs * 2 ** (failures - 1)));
      } finally {
        this.running.delete(key);
        if (this.dirty.delete(key)) this.add(key);
      }
      // Let other tasks (watch events, timers) run between reconciles.
      await sleep(0);
    }
  }
}
