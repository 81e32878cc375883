import {
  AGENT_FINALIZER,
  CONDITION_STATUS,
  NODE_CONDITION,
  NODE_PHASE,
  nodeLeaseName,
} from '../../api/names.js';
import { setCondition } from '../../api/conditions.js';
import type { ConditionStatus, SeerNode, SeerPod } from '../../api/types.js';
import { isNotFound } from '../../kube/errors.js';
import { removeFinalizer } from '../../kube/finalizers.js';
import type { Lease } from '../../kube/leases.js';
import { QueueController } from '../runtime/controller.js';
import { planNode, type NodeTimeouts } from './lifecycle-plan.js';
import type { Controller, OperatorContext } from '../runtime/context.js';

export type NodeLifecycleOptions = NodeTimeouts;

/**
 * Watches node heartbeats (Leases). A node whose agent stops renewing within the grace period gets
 * Ready=Unknown and its pods phase Unknown; after the eviction timeout its deployment-owned pods are
 * released (finalizer removed and deleted, with an Event), so their deployments replace them on
 * healthy nodes. A node whose Lease is renewed again is Ready again; its agent cleans up what the API
 * server no longer asks it to run.
 *
 * Time is measured on this operator's clock from the moment it saw each Lease change, never from the
 * timestamps in the Lease (other hosts' clocks).
 */
export class NodeLifecycleController implements Controller {
  readonly name = 'node-lifecycle';
  private readonly queue: QueueController;
  /** Per node: when this operator last saw its Lease renewed. */
  private readonly lastRenewal = new Map<string, { renewTime?: string; seenAt: number }>();
  private readonly startedAt = Date.now();

  constructor(
    private readonly ctx: OperatorContext,
    private readonly options: NodeLifecycleOptions,
  ) {
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    const onLease = (lease: Lease) => {
      const node = this.nodeOf(lease);
      if (!node) return;
      const renewTime = lease.spec?.renewTime;
      if (this.lastRenewal.get(node)?.renewTime !== renewTime)
        this.lastRenewal.set(node, { renewTime, seenAt: Date.now() });
      this.queue.enqueue(node);
    };
    ctx.caches.nodeLeases.on('add', onLease);
    ctx.caches.nodeLeases.on('update', (_old, lease) => onLease(lease));
    ctx.caches.nodes.on('add', (node) => this.queue.enqueue(node.metadata.name ?? ''));
  }

  private nodeOf(lease: Lease): string | undefined {
    const name = lease.metadata?.name ?? '';
    const prefix = nodeLeaseName('');
    return name.startsWith(prefix) ? name.slice(prefix.length) : undefined;
  }

  start(): void {
    for (const node of this.ctx.caches.nodes.list()) this.queue.enqueue(node.metadata.name ?? '');
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
  }

  /** How long since the node's Lease was last seen renewed (from this operator's start if never). */
  private silentFor(node: string): number {
    const seen = this.lastRenewal.get(node)?.seenAt ?? this.startedAt;
    return Date.now() - seen;
  }

  private async reconcile(name: string): Promise<void> {
    const node = this.ctx.caches.nodes.get(name);
    if (!node) return;
    const silent = this.silentFor(name);
    const pods = this.ctx.caches.pods.list().filter((p) => p.spec.node_name === name);
    const plan = planNode(node, pods, silent, this.options);
    if (plan.mark === 'Ready') await this.markReady(node);
    if (plan.mark === 'Unknown') await this.markUnknown(node, silent);
    for (const pod of plan.podsUnknown) await this.podUnknown(pod);
    for (const pod of plan.release) await this.release(pod, name);
    if (plan.recheckAfterMs !== undefined) this.queue.enqueueAfter(name, plan.recheckAfterMs);
  }

  private async markUnknown(node: SeerNode, silentMs: number): Promise<void> {
    const message = `seer-agent has not renewed its lease for ${Math.round(silentMs / 1000)}s`;
    await this.patchNodeStatus(
      node,
      NODE_PHASE.Unknown,
      CONDITION_STATUS.Unknown,
      'NodeStatusUnknown',
      message,
    );
    this.ctx.events.record(node, 'Warning', 'NodeNotReady', message);
    this.ctx.logger.warn({ node: node.metadata.name }, message);
  }

  private async markReady(node: SeerNode): Promise<void> {
    await this.patchNodeStatus(
      node,
      NODE_PHASE.Ready,
      CONDITION_STATUS.True,
      'AgentReady',
      'seer-agent is renewing its lease again',
    );
    this.ctx.events.record(node, 'Normal', 'NodeReady', 'seer-agent is renewing its lease again');
  }

  private async patchNodeStatus(
    node: SeerNode,
    phase: string,
    status: string,
    reason: string,
    message: string,
  ) {
    // The transition time moves only when the status does: an Unknown node stays Unknown since then.
    const conditions = setCondition(node.status?.conditions, {
      type: NODE_CONDITION.Ready,
      status: status as ConditionStatus,
      reason,
      message,
    });
    await this.ctx.client.patchStatus('SeerNode', node, { phase, conditions });
  }

  private async podUnknown(pod: SeerPod): Promise<void> {
    try {
      await this.ctx.client.patchStatus('SeerPod', pod, {
        phase: 'Unknown',
        reason: 'NodeLost',
        message: `node ${pod.spec.node_name} stopped reporting`,
      });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Lets go of a pod on a lost node: its deployment creates a replacement on a healthy node. */
  private async release(pod: SeerPod, node: string): Promise<void> {
    try {
      if (!pod.metadata.deletionTimestamp) await this.ctx.client.delete('SeerPod', pod);
      // Only the agent's finalizer goes; one another controller added meanwhile stays.
      await removeFinalizer(this.ctx.client, 'SeerPod', pod, AGENT_FINALIZER);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const message = `released from node ${node}, which stopped reporting; its deployment replaces it elsewhere`;
    this.ctx.events.record(pod, 'Warning', 'PodReleased', message);
    this.ctx.logger.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, node }, message);
  }
}
