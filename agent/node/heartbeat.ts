import type { Logger } from 'pino';
import { NODE_LEASE_NAMESPACE, nodeLeaseName } from '../../api/names.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { MERGE_PATCH, type RestClient } from '../../kube/rest.js';
import { microTime } from '../../kube/time.js';

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
  /** When the Lease was last renewed successfully. */
  lastRenewed: Date | undefined;

  constructor(private readonly options: HeartbeatOptions) {}

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
    const name = nodeLeaseName(this.options.nodeName);
    const now = microTime();
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`;
    const spec = {
      holderIdentity: this.options.nodeName,
      leaseDurationSeconds: this.options.leaseDurationSeconds,
      renewTime: now,
    };
    try {
      try {
        await this.options.client.request('PATCH', `${leases}/${name}`, {
          body: { spec },
          contentType: MERGE_PATCH,
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await this.options.client.request('POST', leases, {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name },
            spec: { ...spec, acquireTime: now },
          },
        });
      }
      this.lastRenewed = new Date();
    } catch (error) {
      this.options.logger.warn({ err: errorMessage(error) }, 'could not renew the node lease');
    }
  }
}
