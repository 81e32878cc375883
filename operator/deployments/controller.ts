import type { Logger } from 'pino';
import {
  CONDITION_STATUS,
  DEPLOYMENT_CONDITION,
  DEPLOYMENT_LABEL,
  REVISION_ANNOTATION,
  ABORTED_ANNOTATION,
  PROMOTED_ANNOTATION,
  ROLLOUT_GROUP_LABEL,
} from '../../api/names.js';
import { transition } from '../../api/conditions.js';
import type { PodTemplate, SeerDeployment, SeerDeploymentStatus, SeerPod } from '../../api/types.js';
import { errorMessage, isConflict, isNotFound } from '../../kube/errors.js';
import { objectKey, splitKey } from '../../kube/keys.js';
import { whenSynced } from '../runtime/caches.js';
import { deleteOwnedPods } from '../runtime/owned-pod-writes.js';
import { WrittenStatus } from '../runtime/written-status.js';
import { countHashCollision } from '../runtime/hash-collision.js';
import { enqueueWorkloadsAndOwners, watchWorkloadsAndPods } from '../runtime/workload-events.js';
import { QueueController } from '../runtime/controller.js';
import type { Controller, OperatorContext } from '../runtime/context.js';
import { PodExpectations } from './expectations.js';
import { newPod } from './new-pod.js';
import { podName } from './pod-name.js';
import { createdByDeployment, deploymentKeyOf, deploymentPods } from './pod-selection.js';
import { isTerminating, templateHashOf } from './pod-state.js';
import { RevisionHistory } from './revision-history.js';
import {
  annotatedRevision,
  revisionHash,
  revisionName,
  rolledOutRevision,
} from '../../workloads/revisions.js';
import { PROGRESSING_REASON } from '../../workloads/rollout-progress.js';
import { templateHash } from '../../workloads/template-hash.js';
import { plan } from './rollout-plan.js';
import { plural } from '../../common/plural.js';

/** The template new pods are created from in this reconcile, and its revision. */
interface RolloutTarget {
  hash: string;
  template: PodTemplate;
  revision: number;
}

function progressingOf(status: SeerDeploymentStatus | undefined) {
  return status?.conditions?.find((c) => c.type === DEPLOYMENT_CONDITION.Progressing);
}

/**
 * Keeps each SeerDeployment's pods: replicas of its template, replaced by a rolling update or recreated
 * when the template changes (see rollout-plan.ts for the rules), with a ControllerRevision per template
 * for `seer rollout history` and `undo`, and the status (counts, Available and Progressing conditions,
 * the selector for `kubectl scale`). There is no garbage collector in the meta cluster, so the pods and
 * revisions of a deleted deployment are deleted here.
 */
export class DeploymentController implements Controller {
  readonly name = 'deployment';
  private readonly queue: QueueController;
  private readonly history: RevisionHistory;
  private readonly expectations = new PodExpectations();
  private readonly statuses: WrittenStatus<'SeerDeployment'>;
  private readonly logger: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: OperatorContext) {
    this.logger = ctx.logger.child({ controller: this.name });
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    this.statuses = new WrittenStatus(ctx, 'SeerDeployment');
    this.history = new RevisionHistory(ctx.rest, ctx.caches.revisions);
    watchWorkloadsAndPods(this.events());
    this.history.onChange((revision) => {
      const name = revision.metadata.labels?.[DEPLOYMENT_LABEL];
      if (name) this.queue.enqueue(`${revision.metadata.namespace}/${name}`);
    });
  }

  start(): void {
    const { deployments, pods, revisions } = this.ctx.caches;
    this.ready = Promise.all([whenSynced(deployments), whenSynced(pods), whenSynced(revisions)]).then(() =>
      enqueueWorkloadsAndOwners(this.events()),
    );
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
  }

  private events() {
    return {
      workloads: this.ctx.caches.deployments,
      pods: this.ctx.caches.pods,
      ownerKeyOf: deploymentKeyOf,
      enqueue: (key: string) => this.queue.enqueue(key),
      expectations: this.expectations,
    };
  }

  private async reconcile(key: string): Promise<void> {
    await this.ready;
    const cached = this.ctx.caches.deployments.get(key);
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
    const previous = this.statuses.previous(key, cached);
    const deployment: SeerDeployment = { ...cached, status: previous };
    await this.history.removeLeftOvers(deployment);
    const target = await this.rolloutTarget(deployment);
    if (!target) return;
    const pods = deploymentPods(deployment, this.ctx.caches.pods.list());
    const stable = this.stableTarget(deployment, pods, target);
    const promotedHash = deployment.metadata.annotations?.[PROMOTED_ANNOTATION];
    const planned = plan(deployment, pods, now, {
      targetHash: target.hash,
      stableHash: stable?.hash,
      promoted: promotedHash === target.hash,
    });
    if (planned.progressive?.promote) await this.annotate(deployment, PROMOTED_ANNOTATION, target.hash);
    if (planned.progressive?.revert) {
      await this.annotate(deployment, ABORTED_ANNOTATION, target.hash);
      this.ctx.events.record(
        deployment,
        'Warning',
        'CanaryReverted',
        `Revision ${target.revision} not ready within ${deployment.spec.progress_deadline_seconds ?? 600} s: going back to revision ${stable?.revision}`,
      );
      return;
    }

    await this.relabelRevision(pods, target);
    await this.relabelGroups(deployment, pods, target, stable);
    const creation = await this.createPods(deployment, target, planned.create, stable);
    if (stable && (planned.createStable ?? 0) > 0) {
      const stableCreation = await this.createPods(deployment, stable, planned.createStable ?? 0, stable);
      creation.error ??= stableCreation.error;
    }
    const deletion = await deleteOwnedPods(
      this.ctx,
      this.expectations,
      deployment,
      planned.delete,
      'ScalingDown',
    );

    const status = planned.status;
    const specHash = templateHash(deployment.spec.template, deployment.status?.collision_count);
    if (this.isProgressive(deployment) && !deployment.spec.paused && target.hash !== specHash) {
      status.conditions = (status.conditions ?? []).map((c) =>
        c.type === DEPLOYMENT_CONDITION.Progressing
          ? transition(
              previous?.conditions,
              {
                type: DEPLOYMENT_CONDITION.Progressing,
                status: CONDITION_STATUS.False,
                reason: PROGRESSING_REASON.aborted,
                message: `Rollout of template ${specHash} aborted: running revision ${target.revision} (template ${target.hash}).`,
              },
              now,
            )
          : c,
      );
    }
    if (creation.error) {
      status.conditions = [
        ...(status.conditions ?? []),
        transition(
          previous?.conditions,
          {
            type: DEPLOYMENT_CONDITION.ReplicaFailure,
            status: CONDITION_STATUS.True,
            reason: 'FailedCreate',
            message: errorMessage(creation.error),
          },
          now,
        ),
      ];
    }
    await this.statuses.write(key, deployment, status);
    this.recordTransitions(deployment, previous, status, target);

    const hashesInUse = new Set(pods.map(templateHashOf).filter((h): h is string => h !== undefined));
    hashesInUse.add(target.hash);
    await this.history.prune(
      deployment,
      revisionName(deployment.metadata.name ?? '', target.hash),
      hashesInUse,
    );

    if (planned.recheckAfterMs !== undefined) this.queue.enqueueAfter(key, planned.recheckAfterMs + 1);
    // Failing is what gets the key retried with backoff.
    if (creation.error) throw creation.error;
    if (deletion.error) throw deletion.error;
  }

  /**
   * The template to create pods from. Normally the spec's, made the current revision (created, or an
   * old one renumbered on a rollback). While paused, a changed template is not rolled out: the last
   * rolled-out one stays the target, so scaling adds pods of that one.
   */
  private async rolloutTarget(deployment: SeerDeployment): Promise<RolloutTarget | undefined> {
    const specHash = templateHash(deployment.spec.template, deployment.status?.collision_count);
    if (deployment.spec.paused) {
      const rolledOut = rolledOutRevision(this.history.historyOf(deployment), deployment);
      const hash = rolledOut && revisionHash(rolledOut);
      const template = rolledOut?.data?.template;
      if (rolledOut && hash && template && hash !== specHash)
        return { hash, template, revision: rolledOut.revision };
    }

    const aborted = deployment.metadata.annotations?.[ABORTED_ANNOTATION];
    const stableHash = deployment.status?.stable_template_hash;
    if (aborted === specHash && stableHash && stableHash !== specHash && this.isProgressive(deployment)) {
      const stable = this.revisionOf(deployment, stableHash);
      if (stable) return stable;
    }
    const current = await this.history.makeCurrent(deployment, specHash);
    if ('collision' in current) {
      await countHashCollision(this.ctx, this.statuses, deployment, specHash);
      return undefined;
    }
    const revision = current.revision.revision;
    if (annotatedRevision(deployment) !== revision) {
      await this.ctx.client.patch('SeerDeployment', deployment, {
        metadata: { annotations: { [REVISION_ANNOTATION]: String(revision) } },
      });
    }
    if (current.started && revision > 1) {
      this.ctx.events.record(
        deployment,
        'Normal',
        'RolloutStarted',
        `Rolling out revision ${revision} (template ${specHash})`,
      );
    }
    return { hash: specHash, template: deployment.spec.template, revision };
  }

  private isProgressive(deployment: SeerDeployment): boolean {
    const type = deployment.spec.strategy?.type;
    return type === 'canary' || type === 'blue_green';
  }

  private revisionOf(deployment: SeerDeployment, hash: string): RolloutTarget | undefined {
    const revision = this.history.historyOf(deployment).find((r) => revisionHash(r) === hash);
    const template = revision?.data?.template;
    return revision && template ? { hash, template, revision: revision.revision } : undefined;
  }

  /**
   * Canary and blue_green: the stable revision, the one last rolled out to every replica (recorded in
   * the status), else the one most of the other pods run.
   */
  private stableTarget(
    deployment: SeerDeployment,
    pods: SeerPod[],
    target: RolloutTarget,
  ): RolloutTarget | undefined {
    if (!this.isProgressive(deployment)) return undefined;
    let hash = deployment.status?.stable_template_hash;
    if (!hash) {
      const counts = new Map<string, number>();
      for (const pod of pods) {
        const h = templateHashOf(pod);
        if (h && h !== target.hash && !isTerminating(pod)) counts.set(h, (counts.get(h) ?? 0) + 1);
      }
      hash = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? target.hash;
    }
    if (hash === target.hash) return target;
    return this.revisionOf(deployment, hash) ?? target;
  }

  private async annotate(deployment: SeerDeployment, annotation: string, value: string): Promise<void> {
    if (deployment.metadata.annotations?.[annotation] === value) return;
    await this.ctx.client.patch('SeerDeployment', deployment, {
      metadata: { annotations: { [annotation]: value } },
    });
  }

  /** Canary: canary or stable; blue_green: blue for odd revisions, green for even ones. */
  private groupOf(
    deployment: SeerDeployment,
    hash: string | undefined,
    revision: number | undefined,
    stable: RolloutTarget | undefined,
  ): string | undefined {
    const type = deployment.spec.strategy?.type;
    if (type === 'canary') return hash === stable?.hash ? 'stable' : 'canary';
    if (type === 'blue_green') return (revision ?? 1) % 2 === 1 ? 'blue' : 'green';
    return undefined;
  }

  private async relabelGroups(
    deployment: SeerDeployment,
    pods: SeerPod[],
    target: RolloutTarget,
    stable: RolloutTarget | undefined,
  ): Promise<void> {
    if (!this.isProgressive(deployment)) return;
    const patches = pods.flatMap((pod) => {
      if (isTerminating(pod)) return [];
      const hash = templateHashOf(pod);
      const revision = hash === target.hash ? target.revision : annotatedRevision(pod);
      const group = this.groupOf(deployment, hash, revision, stable);
      if (!group || pod.metadata.labels?.[ROLLOUT_GROUP_LABEL] === group) return [];
      return [
        this.ctx.client
          .patch('SeerPod', pod, { metadata: { labels: { [ROLLOUT_GROUP_LABEL]: group } } })
          .catch((error: unknown) => {
            if (!isNotFound(error) && !isConflict(error)) throw error;
          }),
      ];
    });
    await Promise.all(patches);
  }

  /** After a rollback renumbers a revision, its surviving pods carry the new number too. */
  private async relabelRevision(pods: SeerPod[], target: RolloutTarget): Promise<void> {
    const stale = pods.filter(
      (pod) =>
        !isTerminating(pod) &&
        templateHashOf(pod) === target.hash &&
        annotatedRevision(pod) !== target.revision,
    );
    await Promise.all(
      stale.map((pod) =>
        this.ctx.client
          .patch('SeerPod', pod, {
            metadata: { annotations: { [REVISION_ANNOTATION]: String(target.revision) } },
          })
          .catch((error: unknown) => {
            if (!isNotFound(error) && !isConflict(error)) throw error;
          }),
      ),
    );
  }

  /**
   * Creates pods in batches of 1, 2, 4 … (Kubernetes' slow start): when creation fails, for quota or
   * a refused template, it fails once rather than once per missing replica.
   */
  private async createPods(
    deployment: SeerDeployment,
    target: RolloutTarget,
    count: number,
    stable?: RolloutTarget,
  ): Promise<{ names: string[]; error?: unknown }> {
    const names: string[] = [];
    let error: unknown;
    for (let batch = 1; names.length < count && error === undefined; batch *= 2) {
      const size = Math.min(batch, count - names.length);
      const results = await Promise.allSettled(
        Array.from({ length: size }, () => this.createPod(deployment, target, stable)),
      );
      for (const result of results) {
        if (result.status === 'fulfilled') names.push(result.value);
        else error ??= result.reason;
      }
      if (error !== undefined) break;
    }
    if (names.length > 0) {
      this.ctx.events.record(
        deployment,
        'Normal',
        'ScalingUp',
        `Created ${plural(names.length, 'pod')} of revision ${target.revision}: ${names.join(', ')}`,
      );
    }
    if (error !== undefined) {
      this.ctx.events.record(deployment, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(error)}`);
    }
    return { names, error };
  }

  private async createPod(
    deployment: SeerDeployment,
    target: RolloutTarget,
    stable?: RolloutTarget,
  ): Promise<string> {
    const key = objectKey(deployment);
    const name = podName(deployment.metadata.name ?? '', target.hash);
    this.expectations.expect(key, 'creation', name);
    try {
      await this.ctx.client.create(
        'SeerPod',
        newPod(
          deployment,
          target.template,
          name,
          target.hash,
          target.revision,
          this.groupOf(deployment, target.hash, target.revision, stable),
        ),
      );
      return name;
    } catch (error) {
      this.expectations.observed(key, 'creation', name);
      throw error;
    }
  }

  /** Events for the moments a person wants to see: a rollout finishing, stalling, pausing, resuming. */
  private recordTransitions(
    deployment: SeerDeployment,
    previous: SeerDeploymentStatus | undefined,
    status: SeerDeploymentStatus,
    target: RolloutTarget,
  ): void {
    const before = progressingOf(previous)?.reason;
    const after = progressingOf(status)?.reason;
    if (before === after) return;
    const { events } = this.ctx;
    if (after === PROGRESSING_REASON.complete) {
      events.record(
        deployment,
        'Normal',
        'RolloutComplete',
        `Revision ${target.revision} rolled out: ${plural(status.available_replicas ?? 0, 'replica')} available`,
      );
    } else if (after === PROGRESSING_REASON.deadlineExceeded) {
      events.record(
        deployment,
        'Warning',
        'ProgressDeadlineExceeded',
        `Revision ${target.revision} made no progress for ${deployment.spec.progress_deadline_seconds ?? 600} s`,
      );
    } else if (after === PROGRESSING_REASON.paused) {
      events.record(deployment, 'Normal', 'DeploymentPaused', 'Rollouts paused');
    } else if (before === PROGRESSING_REASON.paused) {
      events.record(deployment, 'Normal', 'DeploymentResumed', 'Rollouts resumed');
    }
  }

  /**
   * The deployment is gone (or going): its pods and revisions go too, since no garbage collector
   * follows their owner references. Only pods it created (its owner reference on them) are deleted;
   * before deleting anything, the API server confirms it is really gone, not just missing from a
   * cache that is behind.
   */
  private async cleanUp(key: string, deleting: boolean): Promise<void> {
    const { namespace = 'default', name } = splitKey(key);
    const pods = this.ctx.caches.pods
      .list()
      .filter(
        (pod) =>
          pod.metadata.namespace === namespace &&
          pod.metadata.labels?.[DEPLOYMENT_LABEL] === name &&
          createdByDeployment(pod, name) &&
          !isTerminating(pod),
      );
    const leftRevisions = this.history
      .list()
      .some((r) => r.metadata.namespace === namespace && r.metadata.labels?.[DEPLOYMENT_LABEL] === name);
    if (pods.length > 0 || leftRevisions) {
      if (!deleting) {
        try {
          await this.ctx.client.get('SeerDeployment', name, namespace);
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
      const revisions = await this.history.removeAll(namespace, name);
      this.logger.info(
        { deployment: key, pods: pods.length, revisions },
        'deleted what a deleted deployment left',
      );
    }
    this.expectations.forget(key);
    this.statuses.forget(key);
  }
}
