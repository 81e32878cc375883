import type { V1ObjectMeta } from '@kubernetes/client-node';
import {
  CHANGE_CAUSE_ANNOTATION,
  DEPLOYMENT_LABEL,
  REVISION_ANNOTATION,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import type { PodTemplate, SeerDeployment } from '../../api/types.js';
import type { RestClient } from '../../kube/rest.js';
import { ownerReference } from './new-pod.js';
import { createdByDeployment } from './pod-selection.js';

/**
 * One template a deployment has rolled out, kept as an apps/v1 ControllerRevision (as Kubernetes keeps
 * a DaemonSet's or StatefulSet's history) so that `seer rollout history` and `undo` can find it.
 */
export interface ControllerRevision {
  apiVersion: 'apps/v1';
  kind: 'ControllerRevision';
  metadata: V1ObjectMeta;
  /** Increases with every template rolled out, including a rollback to an older one. */
  revision: number;
  data?: { template?: PodTemplate };
}

export function revisionsPath(namespace: string): string {
  return `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/controllerrevisions`;
}

/** One revision per distinct template: the deployment's name and the template's hash. */
export function revisionName(deploymentName: string, hash: string): string {
  return `${deploymentName}-${hash}`;
}

export function revisionHash(revision: ControllerRevision): string | undefined {
  return revision.metadata.labels?.[TEMPLATE_HASH_LABEL];
}

/** The revision number the deployment (or a pod) is annotated with. */
export function annotatedRevision(object: { metadata: V1ObjectMeta }): number | undefined {
  const value = Number(object.metadata.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/**
 * Whether the revision belongs to this deployment — this very object, by uid: the history of an
 * earlier deployment of the same name is not its history.
 */
export function belongsTo(revision: ControllerRevision, deployment: SeerDeployment): boolean {
  return (
    revision.metadata.namespace === deployment.metadata.namespace &&
    revision.metadata.labels?.[DEPLOYMENT_LABEL] === deployment.metadata.name &&
    (revision.metadata.ownerReferences ?? []).some(
      (owner) => owner.controller === true && owner.uid === deployment.metadata.uid,
    )
  );
}

/** The deployment's revisions, oldest first. */
export function historyOf(revisions: Iterable<ControllerRevision>, deployment: SeerDeployment) {
  return [...revisions].filter((r) => belongsTo(r, deployment)).sort((a, b) => a.revision - b.revision);
}

/** Revisions labelled for a deployment of this name but not created by this one: left from an earlier one. */
export function isLeftOver(revision: ControllerRevision, deployment: SeerDeployment): boolean {
  return (
    revision.metadata.namespace === deployment.metadata.namespace &&
    revision.metadata.labels?.[DEPLOYMENT_LABEL] === deployment.metadata.name &&
    !belongsTo(revision, deployment)
  );
}

export function nextRevisionNumber(history: ControllerRevision[]): number {
  return Math.max(0, ...history.map((r) => r.revision)) + 1;
}

/** The revision currently rolled out: the one the deployment is annotated with, else the latest. */
export function rolledOutRevision(
  history: ControllerRevision[],
  deployment: SeerDeployment,
): ControllerRevision | undefined {
  const annotated = annotatedRevision(deployment);
  return history.find((r) => r.revision === annotated) ?? history.at(-1);
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

/** The deployment's revisions, read from the API server (for the CLI, which has no cache). */
export async function fetchHistory(
  rest: RestClient,
  deployment: SeerDeployment,
): Promise<ControllerRevision[]> {
  const list = await rest.request<{ items: ControllerRevision[] }>(
    'GET',
    revisionsPath(deployment.metadata.namespace ?? 'default'),
    { query: { labelSelector: `${DEPLOYMENT_LABEL}=${deployment.metadata.name}` } },
  );
  return historyOf(list.items, deployment);
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

/**
 * The revision `seer rollout undo` goes back to by default: the latest one before the current one (the
 * revision the deployment is annotated with, or else the latest).
 */
export function previousRevision(
  history: ControllerRevision[],
  deployment: SeerDeployment,
): ControllerRevision | undefined {
  const current = annotatedRevision(deployment) ?? nextRevisionNumber(history) - 1;
  return history.filter((r) => r.revision < current).at(-1);
}
