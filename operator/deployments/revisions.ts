import { CHANGE_CAUSE_ANNOTATION, DEPLOYMENT_LABEL, TEMPLATE_HASH_LABEL } from '../../api/names.js';
import type { PodTemplate, SeerDeployment } from '../../api/types.js';
import { belongsTo, revisionHash, revisionName, type ControllerRevision } from '../../workloads/revisions.js';
import { ownerReference } from './new-pod.js';
import { createdByDeployment } from './pod-selection.js';

/** Revisions labelled for a deployment of this name but not created by this one: left from an earlier one. */
export function isLeftOver(revision: ControllerRevision, deployment: SeerDeployment): boolean {
  return (
    revision.metadata.namespace === deployment.metadata.namespace &&
    revision.metadata.labels?.[DEPLOYMENT_LABEL] === deployment.metadata.name &&
    !belongsTo(revision, deployment)
  );
}

export function newRevision(
  deployment: SeerDeployment,
  template: PodTemplate,
  hash: string,
  revision: number,
): ControllerRevision {
  const changeCause = deployment.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: revisionName(deployment.metadata.name ?? '', hash),
      namespace: deployment.metadata.namespace ?? 'default',
      labels: { [DEPLOYMENT_LABEL]: deployment.metadata.name ?? '', [TEMPLATE_HASH_LABEL]: hash },
      annotations: changeCause === undefined ? undefined : { [CHANGE_CAUSE_ANNOTATION]: changeCause },
      ownerReferences: [ownerReference(deployment)],
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

/** Revisions a deleted deployment of this name left: label selected, and created by it. */
export function revisionsOfDeleted(
  revisions: Iterable<ControllerRevision>,
  namespace: string,
  name: string,
): ControllerRevision[] {
  return [...revisions].filter(
    (r) =>
      r.metadata.namespace === namespace &&
      r.metadata.labels?.[DEPLOYMENT_LABEL] === name &&
      createdByDeployment(r, name),
  );
}
