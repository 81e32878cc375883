import { CHANGE_CAUSE_ANNOTATION } from '../../api/names.js';
import type { SeerDeployment, SeerStatefulSet } from '../../api/types.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import type { Informer } from '../../kube/informer.js';
import { objectKey } from '../../kube/keys.js';
import { MERGE_PATCH, type RestClient } from '../../kube/rest.js';
import {
  historyOf,
  nextRevisionNumber,
  revisionName,
  revisionsPath,
  type ControllerRevision,
  type RevisionOwnerKind,
} from '../../workloads/revisions.js';
import { sameTemplate } from '../../workloads/template-hash.js';
import { isLeftOver, newRevision, revisionsOfDeleted, revisionsToPrune } from './revisions.js';

const DEFAULT_HISTORY_LIMIT = 10;
/** How long a write made here shadows the cache before the cache is trusted again regardless. */
const WRITE_SHADOW_MS = 30_000;

/** The outcome of making a template the current revision. */
export type CurrentRevision =
  | {
      revision: ControllerRevision;
      /** It was created or renumbered just now: a rollout starts. */ started: boolean;
    }
  | { collision: true };

/** What keeps a revision history: a deployment or a stateful set. */
type Owner = SeerDeployment | SeerStatefulSet;

/**
 * The revision history of one kind (deployments, or stateful sets): the shared cache of every
 * ControllerRevision labelled with an owner of that kind, and the writes that keep it (create, renumber
 * on rollback, prune, remove). Writes made here are seen at once by the next reconcile, even before the
 * watch brings them, so that revision numbers are never handed out twice.
 */
export class RevisionHistory {
  private readonly written = new Map<string, { revision: ControllerRevision | null; at: number }>();

  constructor(
    private readonly rest: RestClient,
    private readonly informer: Informer<ControllerRevision>,
    private readonly kind: RevisionOwnerKind = 'SeerDeployment',
  ) {
    const caughtUp = (revision: ControllerRevision) => {
      const key = objectKey(revision);
      const mine = this.written.get(key)?.revision;
      if (mine && mine.metadata.resourceVersion === revision.metadata.resourceVersion)
        this.written.delete(key);
    };
    this.informer.on('add', caughtUp);
    this.informer.on('update', (_old, revision) => caughtUp(revision));
    this.informer.on('delete', (revision) => {
      if (this.written.get(objectKey(revision))?.revision === null) this.written.delete(objectKey(revision));
    });
  }

  /** Calls `handler` with every revision the cache gains or loses. */
  onChange(handler: (revision: ControllerRevision) => void): void {
    this.informer.on('add', handler);
    this.informer.on('delete', handler);
  }

  /** Every known revision: the cache, overlaid with the writes it has not shown yet. */
  list(): ControllerRevision[] {
    const now = Date.now();
    const revisions = new Map(this.informer.list().map((r) => [objectKey(r), r]));
    for (const [key, { revision, at }] of this.written) {
      if (now - at > WRITE_SHADOW_MS) this.written.delete(key);
      else if (revision) revisions.set(key, revision);
      else revisions.delete(key);
    }
    return [...revisions.values()];
  }

  historyOf(owner: Owner): ControllerRevision[] {
    return historyOf(this.list(), owner);
  }

  /**
   * Makes the owner's template (hash `hash`) its current revision: a new revision numbered after
   * the latest, or — when this template was rolled out before — that revision, renumbered after the
   * latest as Kubernetes does on a rollback. The owner's change cause is recorded on it. Reports a
   * collision when a revision of that name holds a different template.
   */
  async makeCurrent(owner: Owner, hash: string): Promise<CurrentRevision> {
    const history = this.historyOf(owner);
    const name = revisionName(owner.metadata.name ?? '', hash);
    const namespace = owner.metadata.namespace ?? 'default';
    const template = owner.spec.template;
    let existing = history.find((r) => r.metadata.name === name);
    if (!existing) {
      try {
        const created = await this.rest.request<ControllerRevision>('POST', revisionsPath(namespace), {
          body: newRevision(owner, template, hash, nextRevisionNumber(history)),
        });
        this.remember(created);
        return { revision: created, started: true };
      } catch (error) {
        if (!isConflict(error)) throw error;
        // Created by an earlier reconcile the cache has not shown yet.
        existing = await this.rest.request<ControllerRevision>(
          'GET',
          `${revisionsPath(namespace)}/${encodeURIComponent(name)}`,
        );
      }
    }
    if (!sameTemplate(existing.data?.template, template)) return { collision: true };

    const latest = nextRevisionNumber(history) - 1;
    const changeCause = owner.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
    const patch: { revision?: number; metadata?: object } = {};
    if (existing.revision < latest) patch.revision = latest + 1;
    if (changeCause !== undefined && existing.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION] !== changeCause)
      patch.metadata = { annotations: { [CHANGE_CAUSE_ANNOTATION]: changeCause } };
    if (patch.revision === undefined && patch.metadata === undefined)
      return { revision: existing, started: false };
    const updated = await this.rest.request<ControllerRevision>(
      'PATCH',
      `${revisionsPath(namespace)}/${encodeURIComponent(name)}`,
      { body: patch, contentType: MERGE_PATCH },
    );
    this.remember(updated);
    return { revision: updated, started: patch.revision !== undefined };
  }

  /** Deletes old revisions beyond the owner's revision_history_limit. */
  async prune(owner: Owner, current: string, hashesInUse: ReadonlySet<string>): Promise<void> {
    const limit = owner.spec.revision_history_limit ?? DEFAULT_HISTORY_LIMIT;
    for (const revision of revisionsToPrune(this.historyOf(owner), current, limit, hashesInUse))
      await this.delete(revision);
  }

  /** Deletes revisions an earlier owner of the same name left behind. */
  async removeLeftOvers(owner: Owner): Promise<void> {
    for (const revision of this.list().filter((r) => isLeftOver(r, owner))) await this.delete(revision);
  }

  /** Deletes the revisions of an owner that no longer exists (there is no garbage collector). */
  async removeAll(namespace: string, name: string): Promise<number> {
    const revisions = revisionsOfDeleted(this.list(), namespace, name, this.kind);
    for (const revision of revisions) await this.delete(revision);
    return revisions.length;
  }

  private async delete(revision: ControllerRevision): Promise<void> {
    const namespace = revision.metadata.namespace ?? 'default';
    try {
      await this.rest.request(
        'DELETE',
        `${revisionsPath(namespace)}/${encodeURIComponent(revision.metadata.name ?? '')}`,
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    this.written.set(objectKey(revision), { revision: null, at: Date.now() });
  }

  private remember(revision: ControllerRevision): void {
    this.written.set(objectKey(revision), { revision, at: Date.now() });
  }
}
