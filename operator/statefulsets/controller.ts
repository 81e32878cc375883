import type { Logger } from 'pino';
import {
  CONDITION_STATUS,
  STATEFUL_SET_CONDITION,
  STATEFUL_SET_DATA_FINALIZER,
  STATEFUL_SET_LABEL,
} from '../../api/names.js';
import { transition } from '../../api/conditions.js';
import type { SeerDataDir, SeerPod, SeerStatefulSet } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { addFinalizer, removeFinalizer } from '../../kube/finalizers.js';
import { objectKey, splitKey } from '../../kube/keys.js';
import { plural } from '../../common/plural.js';
import { revisionHash, revisionName } from '../../workloads/revisions.js';
import { templateHash } from '../../workloads/template-hash.js';
import { PodExpectations } from '../deployments/expectations.js';
import { isTerminating, templateHashOf } from '../deployments/pod-state.js';
import { RevisionHistory } from '../deployments/revision-history.js';
import { whenSynced } from '../runtime/caches.js';
import { QueueController } from '../runtime/controller.js';
import type { Controller, OperatorContext } from '../runtime/context.js';
import { createdBy } from '../runtime/owned-pods.js';
import { createOwnedPods, deleteOwnedPods } from '../runtime/owned-pod-writes.js';
import { WrittenStatus } from '../runtime/written-status.js';
import { countHashCollision } from '../runtime/hash-collision.js';
import { enqueueWorkloadsAndOwners, watchWorkloadsAndPods } from '../runtime/workload-events.js';
import {
  claimsOf,
  dataDirsOf,
  planStatefulSet,
  statefulSetKeyOf,
  statefulSetPod,
  statefulSetPods,
  type PlannedPod,
  type StatefulSetRevisions,
} from './plan.js';

/**
 * Keeps each SeerStatefulSet's pods `<name>-0` … `<name>-<replicas-1>` (see plan.ts for the order they
 * are created, removed and updated in), with a ControllerRevision per template for `seer rollout
 * history` and `undo`, and the status (counts, revisions, conditions, the selector for `kubectl
 * scale`). Its pods are not bound here: the scheduler places them, on the node of their data dirs once
 * those exist. There is no garbage collector in the meta cluster, so the pods and revisions of a
 * deleted stateful set are deleted here; with data_retention.when_deleted delete, a finalizer holds the
 * set until its pods are gone and its data dirs deleted.
 */
export class StatefulSetController implements Controller {
  readonly name = 'statefulset';
  private readonly queue: QueueController;
  private readonly history: RevisionHistory;
  private readonly expectations = new PodExpectations();
  private readonly statuses: WrittenStatus<'SeerStatefulSet'>;
  private readonly logger: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: OperatorContext) {
    this.logger = ctx.logger.child({ controller: this.name });
    this.statuses = new WrittenStatus(ctx, 'SeerStatefulSet');
    this.history = new RevisionHistory(ctx.rest, ctx.caches.statefulSetRevisions, 'SeerStatefulSet');
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    watchWorkloadsAndPods(this.events());
    const { dataDirs } = ctx.caches;
    // A data dir that appears may be one a retention policy deletes.
    dataDirs.on('add', (dataDir) => this.onDataDir(dataDir));
    this.history.onChange((revision) => {
      const name = revision.metadata.labels?.[STATEFUL_SET_LABEL];
      if (name) this.queue.enqueue(`${revision.metadata.namespace}/${name}`);
    });
  }

  start(): void {
    const { statefulSets, pods, dataDirs, statefulSetRevisions } = this.ctx.caches;
    this.ready = Promise.all([
      whenSynced(statefulSets),
      whenSynced(pods),
      whenSynced(dataDirs),
      whenSynced(statefulSetRevisions),
    ]).then(() => enqueueWorkloadsAndOwners(this.events()));
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
  }

  private events() {
    return {
      workloads: this.ctx.caches.statefulSets,
      pods: this.ctx.caches.pods,
      ownerKeyOf: statefulSetKeyOf,
      enqueue: (key: string) => this.queue.enqueue(key),
      expectations: this.expectations,
    };
  }

  private onDataDir(dataDir: SeerDataDir): void {
    const namespace = dataDir.metadata.namespace ?? 'default';
    for (const set of this.ctx.caches.statefulSets.list()) {
      if ((set.metadata.namespace ?? 'default') !== namespace) continue;
      if (dataDirsOf(set, claimsOf(set.spec.template), [dataDir]).length > 0)
        this.queue.enqueue(objectKey(set));
    }
  }

  private async reconcile(key: string): Promise<void> {
    await this.ready;
    const cached = this.ctx.caches.statefulSets.get(key);
    if (!cached) {
      await this.cleanUp(key);
      return;
    }
    if (cached.metadata.deletionTimestamp) {
      await this.finalize(key, cached);
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
    let set: SeerStatefulSet = { ...cached, status: previous };
    set = await this.keepFinalizer(set);
    await this.history.removeLeftOvers(set);
    const revisions = await this.revisions(set);
    if (!revisions) return;
    const pods = statefulSetPods(set, this.ctx.caches.pods.list());
    const planned = planStatefulSet(set, pods, this.ctx.caches.dataDirs.list(), now, revisions);

    const creation = await this.createPods(set, revisions, planned.create);
    const deletion = await deleteOwnedPods(
      this.ctx,
      this.expectations,
      set,
      planned.delete,
      'SuccessfulDelete',
    );
    const dataDirDeletion = await this.deleteDataDirs(set, planned.deleteDataDirs, 'scaled down');

    const status = planned.status;
    if (creation.error) {
      status.conditions = [
        ...(status.conditions ?? []),
        transition(
          previous?.conditions,
          {
            type: STATEFUL_SET_CONDITION.PodFailure,
            status: CONDITION_STATUS.True,
            reason: 'FailedCreate',
            message: errorMessage(creation.error),
          },
          now,
        ),
      ];
    }
    this.recordTransitions(set, status.update_revision, previous?.current_revision, status.current_revision);
    await this.statuses.write(key, set, status);

    const hashesInUse = new Set(pods.map(templateHashOf).filter((h): h is string => h !== undefined));
    hashesInUse.add(revisions.update.hash);
    hashesInUse.add(revisions.current.hash);
    await this.history.prune(set, revisionName(set.metadata.name ?? '', revisions.update.hash), hashesInUse);

    if (planned.recheckAfterMs !== undefined) this.queue.enqueueAfter(key, planned.recheckAfterMs + 1);
    // Failing is what gets the key retried with backoff.
    if (creation.error) throw creation.error;
    if (deletion.error) throw deletion.error;
    if (dataDirDeletion.error) throw dataDirDeletion.error;
  }

  /** With data_retention.when_deleted delete the set carries the finalizer; with retain it does not. */
  private async keepFinalizer(set: SeerStatefulSet): Promise<SeerStatefulSet> {
    const wanted = set.spec.data_retention?.when_deleted === 'delete';
    const has = (set.metadata.finalizers ?? []).includes(STATEFUL_SET_DATA_FINALIZER);
    if (wanted === has) return set;
    const updated = wanted
      ? await addFinalizer(this.ctx.client, 'SeerStatefulSet', set, STATEFUL_SET_DATA_FINALIZER)
      : await removeFinalizer(this.ctx.client, 'SeerStatefulSet', set, STATEFUL_SET_DATA_FINALIZER);
    return updated ? { ...set, metadata: updated.metadata } : set;
  }

  /**
   * The update revision (the spec's template, made the current revision of the history: created, or
   * an old one renumbered on a rollback) and the current one (status.current_revision, while its
   * revision still holds its template; else the update revision).
   */
  private async revisions(set: SeerStatefulSet): Promise<StatefulSetRevisions | undefined> {
    const hash = templateHash(set.spec.template, set.status?.collision_count);
    const made = await this.history.makeCurrent(set, hash);
    if ('collision' in made) {
      await countHashCollision(this.ctx, this.statuses, set, hash);
      return undefined;
    }
    const update = { hash, template: set.spec.template };
    if (made.started && made.revision.revision > 1) {
      this.ctx.events.record(
        set,
        'Normal',
        'RolloutStarted',
        `Rolling out revision ${made.revision.revision} (${revisionName(set.metadata.name ?? '', hash)})`,
      );
    }
    const currentName = set.status?.current_revision;
    const current = this.history.historyOf(set).find((r) => r.metadata.name === currentName);
    const currentHash = current && revisionHash(current);
    const currentTemplate = current?.data?.template;
    if (!currentHash || !currentTemplate) return { update, current: update };
    return { update, current: { hash: currentHash, template: currentTemplate } };
  }

  /** Creates the planned pods, each from its revision. */
  private createPods(
    set: SeerStatefulSet,
    revisions: StatefulSetRevisions,
    planned: PlannedPod[],
  ): Promise<{ error?: unknown }> {
    const pods = planned.map(({ ordinal, revision }) => {
      const { hash, template } = revisions[revision];
      return statefulSetPod(set, template, hash, ordinal);
    });
    return createOwnedPods(this.ctx, this.expectations, set, pods);
  }

  private async deleteDataDirs(
    set: SeerStatefulSet,
    dataDirs: SeerDataDir[],
    why: string,
  ): Promise<{ error?: unknown }> {
    let error: unknown;
    const deleted: string[] = [];
    for (const dataDir of dataDirs) {
      try {
        await this.ctx.client.delete('SeerDataDir', dataDir);
        deleted.push(dataDir.metadata.name ?? '');
      } catch (failure) {
        if (isNotFound(failure)) continue;
        error ??= failure;
        this.ctx.events.record(
          set,
          'Warning',
          'FailedDeleteDataDir',
          `Error deleting data dir ${dataDir.metadata.name}: ${errorMessage(failure)}`,
        );
      }
    }
    if (deleted.length > 0) {
      this.ctx.events.record(
        set,
        'Normal',
        'DataDirDeleted',
        `Deleted ${plural(deleted.length, 'data dir')} (${why}): ${deleted.join(', ')}`,
      );
    }
    return error === undefined ? {} : { error };
  }

  /** Events for a rollout finishing: the update revision has become the current one. */
  private recordTransitions(
    set: SeerStatefulSet,
    updateRevision: string | undefined,
    before: string | undefined,
    after: string | undefined,
  ): void {
    if (before === undefined || before === after || after !== updateRevision) return;
    this.ctx.events.record(set, 'Normal', 'RolloutComplete', `Every pod runs revision ${after}`);
  }

  /** The pods the stateful set `name` created, still in the cache. */
  private podsCreatedBy(namespace: string, name: string): SeerPod[] {
    return this.ctx.caches.pods
      .list()
      .filter(
        (pod) =>
          pod.metadata.namespace === namespace &&
          pod.metadata.labels?.[STATEFUL_SET_LABEL] === name &&
          createdBy(pod, 'SeerStatefulSet', name),
      );
  }

  private async deletePods(pods: SeerPod[]): Promise<void> {
    await Promise.all(
      pods
        .filter((pod) => !isTerminating(pod))
        .map((pod) =>
          this.ctx.client.delete('SeerPod', pod).catch((error: unknown) => {
            if (!isNotFound(error)) throw error;
          }),
        ),
    );
  }

  /**
   * A stateful set being deleted that carries the data finalizer (data_retention.when_deleted
   * delete): its pods are deleted; once they are all gone, its data dirs and revisions, and then the
   * finalizer goes, which lets the set go.
   */
  private async finalize(key: string, set: SeerStatefulSet): Promise<void> {
    if (!(set.metadata.finalizers ?? []).includes(STATEFUL_SET_DATA_FINALIZER)) {
      await this.cleanUp(key);
      return;
    }
    const { namespace = 'default', name } = splitKey(key);
    const pods = this.podsCreatedBy(namespace, name);
    if (pods.length > 0) {
      await this.deletePods(pods);
      // The pod events bring it back; this is a safety net.
      this.queue.enqueueAfter(key, 5000);
      return;
    }
    const claims = [...new Set([...claimsOf(set.spec.template), ...this.claimsInHistory(set)])];
    const dataDirs = dataDirsOf(set, claims, this.ctx.caches.dataDirs.list())
      .map((d) => d.dataDir)
      .filter((d) => !d.metadata.deletionTimestamp);
    const result = await this.deleteDataDirs(set, dataDirs, 'stateful set deleted');
    if (result.error) throw result.error;
    await this.history.removeAll(namespace, name);
    await removeFinalizer(this.ctx.client, 'SeerStatefulSet', set, STATEFUL_SET_DATA_FINALIZER);
    this.expectations.forget(key);
    this.statuses.forget(key);
  }

  /** The claims of every template the set has had: their data dirs are its too. */
  private claimsInHistory(set: SeerStatefulSet): string[] {
    return this.history.historyOf(set).flatMap((r) => claimsOf(r.data?.template));
  }

  /**
   * The stateful set is gone (or going, without the data finalizer): its pods and revisions go too,
   * since no garbage collector follows their owner references; its data dirs stay. Only pods it created
   * are deleted; before deleting anything, the API server confirms it is really gone, not just missing
   * from a cache that is behind.
   */
  private async cleanUp(key: string): Promise<void> {
    const { namespace = 'default', name } = splitKey(key);
    const deleting = this.ctx.caches.statefulSets.get(key) !== undefined;
    const pods = this.podsCreatedBy(namespace, name).filter((pod) => !isTerminating(pod));
    const leftRevisions = this.history
      .list()
      .some((r) => r.metadata.namespace === namespace && r.metadata.labels?.[STATEFUL_SET_LABEL] === name);
    if (pods.length > 0 || leftRevisions) {
      if (!deleting) {
        try {
          await this.ctx.client.get('SeerStatefulSet', name, namespace);
          return;
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
      await this.deletePods(pods);
      const revisions = await this.history.removeAll(namespace, name);
      this.logger.info(
        { statefulSet: key, pods: pods.map((p) => p.metadata.name), revisions },
        'deleted what a deleted stateful set left',
      );
    }
    this.expectations.forget(key);
    this.statuses.forget(key);
  }
}
