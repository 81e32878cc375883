import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import {
  AGENT_FINALIZER,
  CONDITION_STATUS,
  DAEMON_SET_CONDITION,
  DAEMON_SET_LABEL,
  NODE_LABEL,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import { transition } from '../../api/conditions.js';
import type { SeerDaemonSet, SeerNode, SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { removeFinalizer } from '../../kube/finalizers.js';
import { objectKey, splitKey } from '../../kube/keys.js';
import { templateHash } from '../../workloads/template-hash.js';
import { PodExpectations } from '../deployments/expectations.js';
import { podName } from '../deployments/pod-name.js';
import { isTerminating } from '../deployments/pod-state.js';
import { whenSynced } from '../runtime/caches.js';
import { QueueController } from '../runtime/controller.js';
import type { Controller, OperatorContext } from '../runtime/context.js';
import { createdBy, podFromTemplate } from '../runtime/owned-pods.js';
import { createOwnedPods, deleteOwnedPods } from '../runtime/owned-pod-writes.js';
import { WrittenStatus } from '../runtime/written-status.js';
import { enqueueWorkloadsAndOwners, watchWorkloadsAndPods } from '../runtime/workload-events.js';
import { daemonSetKeyOf, daemonSetPods, planDaemonSet } from './plan.js';

/** Whether a node change can change which daemon sets it should run. */
function placementChanged(old: SeerNode, node: SeerNode): boolean {
  return (
    !isDeepStrictEqual(old.metadata.labels ?? {}, node.metadata.labels ?? {}) ||
    Boolean(old.metadata.deletionTimestamp) !== Boolean(node.metadata.deletionTimestamp)
  );
}

/**
 * Keeps one pod of each SeerDaemonSet's template on every node that should run it (see plan.ts for
 * the rules): created bound to the node, so the scheduler leaves it alone; deleted from nodes that stop
 * matching; released from nodes that are gone; replaced node by node when the template changes. There
 * is no garbage collector in the meta cluster, so the pods of a deleted daemon set are deleted here.
 */
export class DaemonSetController implements Controller {
  readonly name = 'daemonset';
  private readonly queue: QueueController;
  private readonly expectations = new PodExpectations();
  private readonly statuses: WrittenStatus<'SeerDaemonSet'>;
  private readonly logger: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: OperatorContext) {
    this.logger = ctx.logger.child({ controller: this.name });
    this.statuses = new WrittenStatus(ctx, 'SeerDaemonSet');
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    watchWorkloadsAndPods(this.events());
    const { nodes } = ctx.caches;
    nodes.on('add', () => this.enqueueAll());
    nodes.on('update', (old, node) => {
      if (placementChanged(old, node)) this.enqueueAll();
    });
    nodes.on('delete', () => this.enqueueAll());
  }

  start(): void {
    const { daemonSets, pods, nodes } = this.ctx.caches;
    this.ready = Promise.all([whenSynced(daemonSets), whenSynced(pods), whenSynced(nodes)]).then(() =>
      enqueueWorkloadsAndOwners(this.events()),
    );
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
  }

  private enqueueAll(): void {
    for (const daemonSet of this.ctx.caches.daemonSets.list()) this.queue.enqueue(objectKey(daemonSet));
  }

  private events() {
    return {
      workloads: this.ctx.caches.daemonSets,
      pods: this.ctx.caches.pods,
      ownerKeyOf: daemonSetKeyOf,
      enqueue: (key: string) => this.queue.enqueue(key),
      expectations: this.expectations,
    };
  }

  private async reconcile(key: string): Promise<void> {
    await this.ready;
    const cached = this.ctx.caches.daemonSets.get(key);
    if (!cached || cached.metadata.deletionTimestamp) {
      await this.cleanUp(key, cached !== undefined);
      return;
    }
    const waitMs = this.expectations.waitMs(key);
    if (waitMs > 0) {
      // The pod events that end the wait enqueue the key again; this is only the expiry.
      this.queue.enqueueAfter(key, waitMs);
      return;
    }

    const now = new Date();
    const daemonSet: SeerDaemonSet = { ...cached, status: this.statuses.previous(key, cached) };
    const hash = templateHash(daemonSet.spec.template);
    const pods = daemonSetPods(daemonSet, this.ctx.caches.pods.list());
    const planned = planDaemonSet(daemonSet, this.ctx.caches.nodes.list(), pods, now, hash);

    const creation = await this.createPods(daemonSet, hash, planned.create);
    const deletion = await deleteOwnedPods(
      this.ctx,
      this.expectations,
      daemonSet,
      planned.delete,
      'SuccessfulDelete',
    );
    const release = await this.releasePods(daemonSet, planned.release);

    const status = planned.status;
    if (creation.error) {
      status.conditions = [
        ...(status.conditions ?? []),
        transition(
          daemonSet.status?.conditions,
          {
            type: DAEMON_SET_CONDITION.PodFailure,
            status: CONDITION_STATUS.True,
            reason: 'FailedCreate',
            message: errorMessage(creation.error),
          },
          now,
        ),
      ];
    }
    await this.statuses.write(key, daemonSet, status);

    if (planned.recheckAfterMs !== undefined) this.queue.enqueueAfter(key, planned.recheckAfterMs + 1);
    // Failing is what gets the key retried with backoff.
    if (creation.error) throw creation.error;
    if (deletion.error) throw deletion.error;
    if (release.error) throw release.error;
  }

  /** The pod for `node`: bound to it from the start (the scheduler skips bound pods), with the agent's finalizer. */
  private newPod(daemonSet: SeerDaemonSet, hash: string, node: string): SeerPod {
    const name = podName(daemonSet.metadata.name ?? '', hash);
    const pod = podFromTemplate(daemonSet, daemonSet.spec.template, name, {
      [DAEMON_SET_LABEL]: daemonSet.metadata.name ?? '',
      [TEMPLATE_HASH_LABEL]: hash,
      [NODE_LABEL]: node,
    });
    pod.metadata.finalizers = [AGENT_FINALIZER];
    pod.spec.node_name = node;
    return pod;
  }

  private createPods(daemonSet: SeerDaemonSet, hash: string, nodes: string[]): Promise<{ error?: unknown }> {
    const pods = nodes.map((node) => this.newPod(daemonSet, hash, node));
    return createOwnedPods(this.ctx, this.expectations, daemonSet, pods);
  }

  /** Pods on nodes that are gone: no agent is left to remove its finalizer, so it is removed here. */
  private async releasePods(daemonSet: SeerDaemonSet, pods: SeerPod[]): Promise<{ error?: unknown }> {
    let error: unknown;
    for (const pod of pods) {
      try {
        if (!pod.metadata.deletionTimestamp) await this.ctx.client.delete('SeerPod', pod);
        // Only the agent's finalizer goes; one another controller added stays.
        await removeFinalizer(this.ctx.client, 'SeerPod', pod, AGENT_FINALIZER);
        const message = `Released pod ${pod.metadata.name}: its node ${pod.spec.node_name} no longer exists`;
        this.ctx.events.record(daemonSet, 'Normal', 'PodReleased', message);
      } catch (failure) {
        if (!isNotFound(failure)) error ??= failure;
      }
    }
    return error === undefined ? {} : { error };
  }

  /**
   * The daemon set is gone (or going): its pods go too, since no garbage collector follows their
   * owner references. Only pods it created are deleted; before deleting anything, the API server
   * confirms it is really gone, not just missing from a cache that is behind.
   */
  private async cleanUp(key: string, deleting: boolean): Promise<void> {
    const { namespace = 'default', name } = splitKey(key);
    const pods = this.ctx.caches.pods
      .list()
      .filter(
        (pod) =>
          pod.metadata.namespace === namespace &&
          pod.metadata.labels?.[DAEMON_SET_LABEL] === name &&
          createdBy(pod, 'SeerDaemonSet', name) &&
          !isTerminating(pod),
      );
    if (pods.length > 0) {
      if (!deleting) {
        try {
          await this.ctx.client.get('SeerDaemonSet', name, namespace);
          return;
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
      await Promise.all(
        pods.map((pod) =>
          this.ctx.client.delete('SeerPod', pod).catch((error: unknown) => {
            if (!isNotFound(error)) throw error;
          }),
        ),
      );
      this.logger.info({ daemonSet: key, pods: pods.length }, 'deleted the pods of a deleted daemon set');
    }
    this.expectations.forget(key);
    this.statuses.forget(key);
  }
}
