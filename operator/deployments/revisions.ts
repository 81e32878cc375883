import { CHANGE_CAUSE_ANNOTATION, TEMPLATE_HASH_LABEL } from '../../api/names.js';
import type { PodTemplate } from '../../api/types.js';
import {
  belongsTo,
  REVISION_OWNER_LABEL,
  revisionHash,
  revisionName,
  type ControllerRevision,
  type RevisionOwner,
  type RevisionOwnerKind,
} from '../../workloads/revisions.js';
import { controllerReference, createdBy } from '../runtime/owned-pods.js';

/**
 * Revisions labelled for an owner of this name (a deployment, or a stateful set) but not created by
 * this one: left from an earlier one.
 */
export function isLeftOver(revision: ControllerRevision, owner: RevisionOwner): boolean {
  return (
    revision.metadata.namespace === owner.metadata.namespace &&
    revision.metadata.labels?.[REVISION_OWNER_LABEL[owner.kind]] === owner.metadata.name &&
    !belongsTo(revision, owner)
  );
}

export function newRevision(
  owner: RevisionOwner,
  template: PodTemplate,
  hash: string,
  revision: number,
): ControllerRevision {
  const changeCause = owner.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: revisionName(owner.metadata.name ?? '', hash),
      namespace: owner.metadata.namespace ?? 'default',
      labels: { [REVISION_OWNER_LABEL[owner.kind]]: owner.metadata.name ?? '', [TEMPLATE_HASH_LABEL]: hash },
      annotations: changeCause === undefined ? undefined : { [CHANGE_CAUSE_ANNOTATION]: changeCause },
      ownerReferences: [controllerReference(owner)],
    },
    revision,
    data: { template },
  };
}

/**
 * The old revisions beyond revision_history_limit, oldest first, as Kubernetes prunes old ReplicaSets:
 * every old revision counts against the limit, but one whose template still has pods is kept (it is
 * still being rolled away from), and so is the current one.
 */
export function revisionsToPrune(
  history: ControllerRevision[],
  current: string,
  limit: number,
  hashesInUse: ReadonlySet<string>,
): ControllerRevision[] {
  const old = history.filter((r) => r.metadata.name !== current);
  const excess = old.length - limit;
  if (excess <= 0) return [];
  return old.slice(0, excess).filter((r) => !hashesInUse.has(revisionHash(r) ?? ''));
}

/** Revisions a deleted owner of this kind and name left: label selected, and created by it. */
export function revisionsOfDeleted(
  revisions: Iterable<ControllerRevision>,
  namespace: string,
  name: string,
  kind: RevisionOwnerKind = 'SeerDeployment',
): ControllerRevision[] {
  return [...revisions].filter(
    (r) =>
      r.metadata.namespace === namespace &&
      r.metadata.labels?.[REVISION_OWNER_LABEL[kind]] === name &&
      createdBy(r, kind, name),
  );
}
