import type { Logger } from 'pino';
import { errorMessage } from '../../kube/errors.js';
import type { RestClient } from '../../kube/rest.js';
import type { OperatorConfig } from '../config.js';
import type { Controller } from './context.js';
import { LeaderElector } from './leader-election.js';

export interface ElectedControllersOptions {
  rest: RestClient;
  config: OperatorConfig;
  /** The Lease (in config.namespace) whose holder runs the controllers. */
  lease: string;
  controllers: Controller[];
  logger: Logger;
  /** Set to 1 while these controllers run, 0 otherwise. */
  leaderGauge: { set(value: number): void };
  /** The Lease was lost: the controllers have been told to stop, and the process should exit. */
  onLostLeadership: () => void;
}

/**
 * A set of controllers that runs only while this replica holds its Lease (or at once, without leader
 * election): the member's controllers under one Lease, the hub's under another.
 */
export class ElectedControllers {
  private running = false;
  private elector: LeaderElector | undefined;

  constructor(private readonly options: ElectedControllersOptions) {}

  /** Why this replica cannot even campaign (the Lease's namespace is missing), if so. */
  get blockedBy(): string | undefined {
    return this.elector?.blockedBy;
  }

  start(): void {
    const { config, rest, lease, logger, leaderGauge, onLostLeadership } = this.options;
    if (!config.leaderElect) {
      leaderGauge.set(1);
      this.startControllers();
      return;
    }
    this.elector = new LeaderElector({
      rest,
      namespace: config.namespace,
      name: lease,
      identity: config.identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      // client-go's proportions: 15 s lease, 10 s renew deadline, 2 s retry period.
      renewDeadlineSeconds: (config.leaseDurationSeconds * 2) / 3,
      retryPeriodSeconds: config.leaseDurationSeconds / 7.5,
      logger,
      leaderGauge,
    });
    this.elector
      .run({
        onStartedLeading: () => this.startControllers(),
        onStoppedLeading: () => {
          logger.error({ lease }, 'lost the leader lease: stopping at once');
          void this.stopControllers();
          onLostLeadership();
        },
        onNewLeader: (identity) => logger.info({ lease, leader: identity }, 'leader'),
      })
      .catch((error: unknown) => {
        logger.error({ lease, err: errorMessage(error) }, 'leader election failed');
        onLostLeadership();
      });
  }

  async stop(): Promise<void> {
    await this.stopControllers();
    await this.elector?.stop();
  }

  private startControllers(): void {
    this.running = true;
    for (const controller of this.options.controllers) controller.start();
    const names = this.options.controllers.map((c) => c.name);
    this.options.logger.info(
      { lease: this.options.lease, controllers: names },
      'leading: controllers started',
    );
  }

  private async stopControllers(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all(this.options.controllers.map((c) => c.stop()));
  }
}
