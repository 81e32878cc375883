import type { Logger } from 'pino';
import { errorMessage } from '../../kube/errors.js';
import { WorkQueue } from '../../kube/workqueue.js';
import type { OperatorMetrics } from './metrics.js';

export interface QueueControllerOptions {
  name: string;
  reconcile: (key: string) => Promise<void>;
  workers?: number;
  metrics: OperatorMetrics;
  logger: Logger;
}

/**
 * A controller: a work queue of object keys, each reconciled by `reconcile` one at a time, with retries
 * and backoff on failure, and metrics per reconcile. What enqueues keys (informer handlers) is wired by
 * the controller that owns it.
 */
export class QueueController {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly depthTimer: NodeJS.Timeout;

  constructor(private readonly options: QueueControllerOptions) {
    this.name = options.name;
    const { metrics, logger } = options;
    this.queue = new WorkQueue(
      async (key) => {
        const stop = metrics.reconcileDuration.startTimer({ controller: this.name });
        try {
          await options.reconcile(key);
          metrics.reconciles.inc({ controller: this.name, result: 'success' });
        } catch (error) {
          metrics.reconciles.inc({ controller: this.name, result: 'error' });
          throw error;
        } finally {
          stop();
        }
      },
      {
        workers: options.workers ?? 4,
        onError: (key, error) =>
          logger.warn({ controller: this.name, key, err: errorMessage(error) }, 'reconcile failed'),
      },
    );
    this.depthTimer = setInterval(
      () => metrics.queueDepth.set({ controller: this.name }, this.queue.length),
      1000,
    );
    this.depthTimer.unref();
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  start(): void {
    this.queue.start();
  }

  async stop(): Promise<void> {
    clearInterval(this.depthTimer);
    await this.queue.shutDown();
  }
}
