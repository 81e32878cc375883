import { CONDITION_STATUS, NODE_LEASE_NAMESPACE, SEER_API_VERSION, nodeLeaseName } from '../api/names.js';
import type { SeerPod } from '../api/types.js';
import { objectKey, objectRef } from '../kube/keys.js';
import { LeaseClient } from '../kube/leases.js';
import type { SeerClient } from '../kube/seer-client.js';

/**
 * Light stand-ins for agents, all in one process: SeerNodes that heartbeat and report every pod bound
 * to them Running and Ready at once. They measure the operator, not process supervision.
 */
export class SimulatedNodes {
  private timer: NodeJS.Timeout | undefined;
  private readonly reported = new Set<string>();
  private informer: ReturnType<SeerClient['informer']> | undefined;

  constructor(
    private readonly client: SeerClient,
    readonly names: string[],
  ) {}

  async start(): Promise<void> {
    const now = new Date().toISOString();
    for (const name of this.names) {
      await this.client.create('SeerNode', {
        apiVersion: SEER_API_VERSION,
        kind: 'SeerNode',
        metadata: { name },
        spec: {},
      });
      await this.client.patchStatus('SeerNode', objectRef(name), {
        phase: 'Ready',
        capacity: { cpu: '64', memory: '256Gi', pods: 500 },
        allocatable: { cpu: '64', memory: '256Gi', pods: 500 },
        conditions: [
          { type: 'Ready', status: CONDITION_STATUS.True, reason: 'AgentReady', last_transition_time: now },
        ],
      });
    }
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), 5000);
    const informer = this.client.informer('SeerPod');
    this.informer = informer;
    const onPod = (pod: SeerPod) => {
      const key = objectKey(pod);
      if (!pod.spec.node_name || !this.names.includes(pod.spec.node_name) || this.reported.has(key)) return;
      if (pod.metadata.deletionTimestamp) {
        this.reported.add(key);
        void this.client.patch('SeerPod', pod, {
          metadata: { finalizers: null },
        });
        return;
      }
      this.reported.add(key);
      const time = new Date().toISOString();
      void this.client.patchStatus('SeerPod', pod, {
        phase: 'Running',
        node_name: pod.spec.node_name,
        ready: `${pod.spec.containers.length}/${pod.spec.containers.length}`,
        conditions: [{ type: 'Ready', status: 'True', reason: 'PodReady', last_transition_time: time }],
      });
    };
    informer.on('add', onPod);
    informer.on('update', (_old, pod) => {
      if (pod.metadata.deletionTimestamp) this.reported.delete(objectKey(pod));
      onPod(pod);
    });
    await informer.start();
  }

  private async heartbeat(): Promise<void> {
    const leases = new LeaseClient(this.client.rest, NODE_LEASE_NAMESPACE);
    await Promise.all(
      this.names.map((name) =>
        leases
          .renew(nodeLeaseName(name), { holderIdentity: name, leaseDurationSeconds: 40 })
          .catch(() => undefined),
      ),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.informer?.stop();
  }
}
