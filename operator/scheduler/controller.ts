import { AGENT_FINALIZER, CONDITION_STATUS, NODE_LABEL, POD_CONDITION } from '../../api/names.js';
import { transition } from '../../api/conditions.js';
import type { SeerNode, SeerPod } from '../../api/types.js';
import { errorMessage, isConflict, isNotFound } from '../../kube/errors.js';
import { removeFinalizer } from '../../kube/finalizers.js';
import { objectKey } from '../../kube/keys.js';
import { QueueController } from '../runtime/controller.js';
import type { Controller, OperatorContext } from '../runtime/context.js';
import { UsageIndex } from './node-usage.js';
import { componentHostPorts, FILTERS } from './filters.js';
import { plannedInstances } from './planned-instances.js';
import { refusal, schedule, type Placement } from './schedule.js';
import { dataDirPin } from './data-dir-placement.js';
import { ClaimBindings, podClaimKeys } from '../../workloads/data-dirs.js';

/** Bindings sent but not answered yet, at most. */
const MAX_BINDINGS_IN_FLIGHT = 128;

/** How long a planned component instance counts without the real one appearing in the cache. */
const PLANNED_INSTANCE_TTL_MS = 30_000;

const unbound = (pod: SeerPod) => !pod.spec.node_name && !pod.metadata.deletionTimestamp;

/**
 * Binds each unbound SeerPod to a node (spec.node_name, the node label and the agent's finalizer, in
 * one patch guarded by the pod's resourceVersion), or says in its PodScheduled condition why no node
 * fits. Pods are placed one at a time, each seeing the placements before it. A pod claiming data dirs
 * already on a node goes to that node or waits (see data-dir-placement.ts). Unschedulable pods are
 * retried whenever nodes, data dirs or other pods change. A pod deleted before it was ever bound is
 * released.
 */
export class SchedulerController implements Controller {
  readonly name = 'scheduler';
  private readonly queue: QueueController;
  /** Bindings made here that the cache has not shown yet: counted so the next pod sees them. */
  private readonly assumed = new Map<string, SeerPod>();
  /** What every node holds, kept current from the caches and from the bindings made here. */
  private readonly usage = new UsageIndex();
  /** The nodes of the bound pods claiming each data dir, bindings made here included. */
  private readonly claims = new ClaimBindings();
  /** The last unschedulable message per pod, so a repeated failure is not written again. */
  private readonly reported = new Map<string, string>();
  /** Binding requests on their way to the API server. */
  private readonly binding = new Set<Promise<void>>();
  /** The latest plan for each planned component instance (see planInstance). */
  private readonly plans = new Map<string, number>();
  private plansMade = 0;
  private readonly component = (namespace: string, name: string) =>
    this.ctx.caches.components.get(`${namespace}/${name}`);
  private readonly filters = [...FILTERS, componentHostPorts(this.component)];

  constructor(private readonly ctx: OperatorContext) {
    // One worker: each decision must see the previous one.
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      workers: 1,
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    const { pods, nodes } = ctx.caches;
    pods.on('add', (pod) => this.onPod(pod));
    pods.on('update', (_old, pod) => this.onPod(pod));
    // Room freed or nodes changed: every waiting pod gets another chance.
    pods.on('delete', (pod) => {
      const key = objectKey(pod);
      this.assumed.delete(key);
      this.reported.delete(key);
      this.usage.removePod(key);
      this.claims.removePod(key);
      if (pod.spec.node_name) this.retryUnbound();
    });
    const onNode = (node: SeerNode) => {
      this.usage.setNode(node);
      this.retryUnbound();
    };
    nodes.on('add', onNode);
    nodes.on('update', (_old, node) => onNode(node));
    nodes.on('delete', (node) => this.usage.removeNode(node.metadata.name ?? ''));
    ctx.caches.components.on('add', () => this.retryUnbound());
    const { dataDirs } = ctx.caches;
    dataDirs.on('add', () => this.retryUnbound());
    dataDirs.on('update', () => this.retryUnbound());
    dataDirs.on('delete', () => this.retryUnbound());
  }

  start(): void {
    for (const node of this.ctx.caches.nodes.list()) this.usage.setNode(node);
    for (const pod of this.ctx.caches.pods.list()) this.onPod(pod);
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.allSettled(this.binding);
  }

  private onPod(pod: SeerPod): void {
    const key = objectKey(pod);
    if (pod.spec.node_name) this.assumed.delete(key);
    // An assumed binding keeps counting until the cache shows the pod bound.
    if (!this.assumed.has(key)) {
      this.usage.putPod(pod);
      this.claims.putPod(pod);
    }
    if (unbound(pod)) this.queue.enqueue(key);
    else if (pod.metadata.deletionTimestamp && !pod.spec.node_name) this.queue.enqueue(key);
  }

  private retryUnbound(): void {
    for (const pod of this.ctx.caches.pods.list()) if (unbound(pod)) this.queue.enqueue(objectKey(pod));
  }

  private async reconcile(key: string): Promise<void> {
    const pod = this.ctx.caches.pods.get(key);
    if (!pod || this.assumed.has(key)) return;
    if (pod.metadata.deletionTimestamp) {
      if (!pod.spec.node_name && pod.metadata.finalizers?.includes(AGENT_FINALIZER)) await this.release(pod);
      return;
    }
    if (pod.spec.node_name) return;

    const missing = this.missingComponents(pod);
    const placement = missing ? { unschedulable: missing } : this.place(pod);
    if ('unschedulable' in placement) {
      await this.reportUnschedulable(pod, placement.unschedulable);
      return;
    }
    await this.bind(pod, placement.node);
  }

  /** The pod's node among all, or among the one holding its data. */
  private place(pod: SeerPod): Placement {
    const claims = podClaimKeys(pod);
    if (claims.length === 0) return schedule(pod, this.usage.nodes(), this.filters);
    const pin = dataDirPin(claims, (claim) => ({
      dataDir: this.ctx.caches.dataDirs.get(claim),
      boundOn: this.claims.nodeOf(claim),
    }));
    if ('wait' in pin) return { unschedulable: pin.wait };
    if ('anywhere' in pin) return schedule(pod, this.usage.nodes(), this.filters);
    const where = `data dir ${pin.claim} is on node ${pin.node}`;
    const usage = this.usage.get(pin.node);
    if (!usage) return { unschedulable: `${where}, which does not exist; the pod waits for it` };
    const reason = refusal(pod, usage, this.filters);
    if (reason)
      return { unschedulable: `${where}, which cannot take the pod (${reason}); the pod waits for it` };
    return { node: pin.node };
  }

  /** A pod requiring a component that does not exist waits, unbound, with a condition saying so. */
  private missingComponents(pod: SeerPod): string | undefined {
    const namespace = pod.metadata.namespace ?? 'default';
    const missing = (pod.spec.required_components ?? [])
      .map((c) => c.name)
      .filter((name) => !this.ctx.caches.components.get(`${namespace}/${name}`));
    if (missing.length === 0) return undefined;
    return `required component${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in namespace ${namespace}`;
  }

  /**
   * Decides at once (the pod counts on its node from now on) and sends the binding without waiting for
   * it before the next decision: placement runs at the speed of the cache, not of API round trips.
   * A binding the API server refuses (the pod changed or went) is forgotten and the pod looked at again.
   */
  private async bind(pod: SeerPod, node: string): Promise<void> {
    const key = objectKey(pod);
    const finalizers = [...new Set([...(pod.metadata.finalizers ?? []), AGENT_FINALIZER])];
    const bound: SeerPod = {
      ...pod,
      metadata: { ...pod.metadata, finalizers, labels: { ...pod.metadata.labels, [NODE_LABEL]: node } },
      spec: { ...pod.spec, node_name: node },
    };
    this.assumed.set(key, bound);
    const usage = this.usage.get(node);
    const instances = usage ? plannedInstances(pod, usage, this.component) : [];
    this.usage.putPod(bound);
    this.claims.putPod(bound);
    for (const instance of instances) this.planInstance(instance);
    this.reported.delete(key);
    while (this.binding.size >= MAX_BINDINGS_IN_FLIGHT) await Promise.race(this.binding);
    const request = this.ctx.client
      .patch('SeerPod', pod, {
        metadata: {
          resourceVersion: pod.metadata.resourceVersion,
          finalizers,
          labels: { [NODE_LABEL]: node },
        },
        spec: { node_name: node },
      })
      .then(
        () => {
          const created = pod.metadata.creationTimestamp
            ? new Date(pod.metadata.creationTimestamp).getTime()
            : 0;
          if (created) this.ctx.metrics.schedulingLatency.observe(Math.max(0, Date.now() - created) / 1000);
          this.ctx.events.record(
            pod,
            'Normal',
            'Scheduled',
            `Successfully assigned ${key} to ${node}`,
            'Binding',
          );
        },
        (error: unknown) => {
          this.assumed.delete(key);
          const current = this.ctx.caches.pods.get(key) ?? pod;
          this.usage.putPod(current);
          this.claims.putPod(current);
          if (!isConflict(error) && !isNotFound(error)) {
            this.ctx.logger.warn({ pod: key, node, err: errorMessage(error) }, 'binding failed');
          }
          this.queue.enqueueAfter(key, 100);
        },
      )
      .finally(() => this.binding.delete(request));
    this.binding.add(request);
  }

  /**
   * Counts a component instance the component controller is about to create on a node, under the name
   * it will have: the real one replaces it in the usage when the cache shows it. If it never comes
   * (the dependent or the component went first), the plan lapses.
   */
  private planInstance(instance: SeerPod): void {
    const key = objectKey(instance);
    const plan = ++this.plansMade;
    this.plans.set(key, plan);
    this.usage.putPod(instance);
    setTimeout(() => {
      // Only this plan lapses, not a later one for the same instance.
      if (this.plans.get(key) !== plan) return;
      this.plans.delete(key);
      if (!this.ctx.caches.pods.get(key)) {
        this.usage.removePod(key);
        this.retryUnbound();
      }
    }, PLANNED_INSTANCE_TTL_MS).unref();
  }

  private async reportUnschedulable(pod: SeerPod, message: string): Promise<void> {
    const key = objectKey(pod);
    if (this.reported.get(key) === message) return;
    try {
      await this.ctx.client.patchStatus('SeerPod', pod, {
        phase: 'Pending',
        reason: 'Unschedulable',
        message,
        conditions: [
          transition(pod.status?.conditions, {
            type: POD_CONDITION.PodScheduled,
            status: CONDITION_STATUS.False,
            reason: 'Unschedulable',
            message,
          }),
        ],
      });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    this.reported.set(key, message);
    this.ctx.events.record(pod, 'Warning', 'FailedScheduling', message, 'Scheduling');
    this.ctx.logger.info({ pod: key, reason: message }, 'pod unschedulable');
  }

  private async release(pod: SeerPod): Promise<void> {
    try {
      await removeFinalizer(this.ctx.client, 'SeerPod', pod, AGENT_FINALIZER);
    } catch (error) {
      throw new Error(errorMessage(error));
    }
  }
}
