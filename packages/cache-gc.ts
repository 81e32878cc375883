import type { Logger } from 'pino';
import { errorMessage } from '../kube/errors.js';
import type { PackageCache } from './cache.js';

export interface CacheGarbageCollectorOptions {
  cache: PackageCache;
  /** The cache's size limit in bytes (0 disables collection: then there is no need to start this). */
  limitBytes: number;
  /** The digests this host's pods use right now, asked afresh for each collection. */
  inUse: () => Iterable<string>;
  logger: Logger;
  /** Until the first collection: time for the pods' first sync to record what they use. */
  firstDelayMs?: number;
  /** Between the end of one collection and the start of the next. */
  intervalMs?: number;
  /** See PackageCache.collectGarbage. */
  graceMs?: number;
}

export const DEFAULT_GC_FIRST_DELAY_MS = 10_000;
export const DEFAULT_GC_INTERVAL_MS = 5 * 60_000;

/**
 * Keeps the package cache under its size limit: collects shortly after the agent starts, then
 * periodically. The next collection is scheduled only once the previous one has finished, so two
 * never overlap; a failure is logged and the next one runs as planned. The timer never keeps the
 * process alive, and stop() waits for a collection under way.
 */
export class CacheGarbageCollector {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: CacheGarbageCollectorOptions) {}

  start(): void {
    this.schedule(this.options.firstDelayMs ?? DEFAULT_GC_FIRST_DELAY_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.collect().finally(() => {
        this.running = undefined;
        this.schedule(this.options.intervalMs ?? DEFAULT_GC_INTERVAL_MS);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async collect(): Promise<void> {
    const { cache, limitBytes, logger } = this.options;
    try {
      const result = await cache.collectGarbage({
        limitBytes,
        inUse: this.options.inUse(),
        graceMs: this.options.graceMs,
      });
      const figures = {
        removed: result.removed.length,
        freed_bytes: result.freedBytes,
        remaining_bytes: result.remainingBytes,
        limit_bytes: limitBytes,
      };
      if (result.removed.length > 0) logger.info(figures, 'removed unused packages from the cache');
      if (result.remainingBytes > limitBytes) {
        logger.warn(
          figures,
          'the package cache is over its limit: what is left is in use or was used recently',
        );
      }
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'package cache garbage collection failed');
    }
  }
}
