import type { Logger } from 'pino';
import { NODE_LEASE_NAMESPACE, nodeLeaseName } from '../../api/names.js';
import { errorMessage } from '../../kube/errors.js';
import { LeaseClient } from '../../kube/leases.js';
import type { RestClient } from '../../kube/rest.js';

export interface HeartbeatOptions {
  client: RestClient;
  nodeName: string;
  intervalSeconds: number;
  leaseDurationSeconds: number;
  logger: Logger;
}

/**
 * The node's heartbeat: a coordination.k8s.io Lease renewed every interval. Renewal failures are
 * logged and retried at the next tick; the processes on the host are not affected by them.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private readonly leases: LeaseClient;
  /** When the Lease was last renewed successfully. */
  lastRenewed: Date | undefined;

  constructor(private readonly options: HeartbeatOptions) {
    this.leases = new LeaseClient(options.client, NODE_LEASE_NAMESPACE);
  }

  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => void this.renew(), this.options.intervalSeconds * 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
  }

  renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    const { nodeName, leaseDurationSeconds } = this.options;
    try {
      await this.leases.renew(nodeLeaseName(nodeName), { holderIdentity: nodeName, leaseDurationSeconds });
      this.lastRenewed = new Date();
    } catch (error) {
      this.options.logger.warn({ err: errorMessage(error) }, 'could not renew the node lease');
    }
  }
}
