import { CoordinationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { NODE_LEASE_NAMESPACE, nodeLeaseName } from '../../api/names.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';

/** RFC 3339 with microseconds, the wire format of a Lease's MicroTime fields. */
export function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface HeartbeatOptions {
  kubeConfig: KubeConfig;
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
  private readonly api: CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  /** When the Lease was last renewed successfully. */
  lastRenewed: Date | undefined;

  constructor(private readonly options: HeartbeatOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
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
    const name = nodeLeaseName(this.options.nodeName);
    const now = microTime();
    const patch = () =>
      this.api.patchNamespacedLease(
        {
          name,
          namespace: NODE_LEASE_NAMESPACE,
          body: {
            spec: {
              holderIdentity: this.options.nodeName,
              leaseDurationSeconds: this.options.leaseDurationSeconds,
              renewTime: now,
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    try {
      try {
        await patch();
      } catch (error) {
        if (!isNotFound(error)) throw error;
        // Created bare, then renewed by the patch: the generated client would format MicroTime
        // fields with milliseconds, which the API server refuses.
        await this.api.createNamespacedLease({
          namespace: NODE_LEASE_NAMESPACE,
          body: {
            metadata: { name, namespace: NODE_LEASE_NAMESPACE },
            spec: { holderIdentity: this.options.nodeName },
          },
        });
        await patch();
      }
      this.lastRenewed = new Date();
    } catch (error) {
      this.options.logger.warn({ err: errorMessage(error) }, 'could not renew the node lease');
    }
  }
}
