import type { V1ObjectMeta } from '@kubernetes/client-node';
import { DEPLOYMENT_LABEL, REVISION_ANNOTATION, TEMPLATE_HASH_LABEL } from '../api/names.js';
import type { PodTemplate, SeerDeployment } from '../api/types.js';
import type { RestClient } from '../kube/rest.js';

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

/** The ControllerRevisions of one namespace, or (namespace undefined) of all. */
export function revisionsPath(namespace?: string): string {
  const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `/apis/apps/v1${scope}/controllerrevisions`;
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
