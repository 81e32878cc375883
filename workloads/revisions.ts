import type { V1ObjectMeta } from '@kubernetes/client-node';
import {
  DEPLOYMENT_LABEL,
  REVISION_ANNOTATION,
  STATEFUL_SET_LABEL,
  TEMPLATE_HASH_LABEL,
} from '../api/names.js';
import type { PodTemplate } from '../api/types.js';
import type { RestClient } from '../kube/rest.js';

/** The kinds that keep a revision history: deployments and stateful sets. */
export type RevisionOwnerKind = 'SeerDeployment' | 'SeerStatefulSet';

/** A deployment or stateful set, as far as its revisions are concerned. */
export interface RevisionOwner {
  kind: RevisionOwnerKind;
  metadata: V1ObjectMeta;
}

/** The label on a revision (and on the owner's pods) naming its owner. */
export const REVISION_OWNER_LABEL: Record<RevisionOwnerKind, string> = {
  SeerDeployment: DEPLOYMENT_LABEL,
  SeerStatefulSet: STATEFUL_SET_LABEL,
};

/**
 * One template a deployment or stateful set has rolled out, kept as an apps/v1 ControllerRevision (as
 * Kubernetes keeps a DaemonSet's or StatefulSet's history) so that `seer rollout history` and `undo`
 * can find it.
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

/** One revision per distinct template: the owner's name and the template's hash. */
export function revisionName(ownerName: string, hash: string): string {
  return `${ownerName}-${hash}`;
}

export function revisionHash(revision: ControllerRevision): string | undefined {
  return revision.metadata.labels?.[TEMPLATE_HASH_LABEL];
}

/** The revision number the deployment (or one of its pods) is annotated with. */
export function annotatedRevision(object: { metadata: V1ObjectMeta }): number | undefined {
  const value = Number(object.metadata.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/**
 * Whether the revision belongs to this owner — this very object, by uid: the history of an earlier
 * deployment (or stateful set) of the same name is not its history.
 */
export function belongsTo(revision: ControllerRevision, owner: RevisionOwner): boolean {
  return (
    revision.metadata.namespace === owner.metadata.namespace &&
    revision.metadata.labels?.[REVISION_OWNER_LABEL[owner.kind]] === owner.metadata.name &&
    (revision.metadata.ownerReferences ?? []).some(
      (reference) => reference.controller === true && reference.uid === owner.metadata.uid,
    )
  );
}

/** The owner's revisions, oldest first. */
export function historyOf(revisions: Iterable<ControllerRevision>, owner: RevisionOwner) {
  return [...revisions].filter((r) => belongsTo(r, owner)).sort((a, b) => a.revision - b.revision);
}

export function nextRevisionNumber(history: ControllerRevision[]): number {
  return Math.max(0, ...history.map((r) => r.revision)) + 1;
}

/** The revision currently rolled out: the one the owner is annotated with, else the latest. */
export function rolledOutRevision(
  history: ControllerRevision[],
  owner: RevisionOwner,
): ControllerRevision | undefined {
  const annotated = annotatedRevision(owner);
  return history.find((r) => r.revision === annotated) ?? history.at(-1);
}

/** The owner's revisions, read from the API server (for the CLI, which has no cache). */
export async function fetchHistory(rest: RestClient, owner: RevisionOwner): Promise<ControllerRevision[]> {
  const list = await rest.request<{ items: ControllerRevision[] }>(
    'GET',
    revisionsPath(owner.metadata.namespace ?? 'default'),
    { query: { labelSelector: `${REVISION_OWNER_LABEL[owner.kind]}=${owner.metadata.name}` } },
  );
  return historyOf(list.items, owner);
}

/**
 * The revision `seer rollout undo` goes back to by default: the latest one before the current one (the
 * revision the owner is annotated with, or else the latest: a stateful set's current template is
 * always its latest revision, renumbered so on a rollback).
 */
export function previousRevision(
  history: ControllerRevision[],
  owner: RevisionOwner,
): ControllerRevision | undefined {
  const current = annotatedRevision(owner) ?? nextRevisionNumber(history) - 1;
  return history.filter((r) => r.revision < current).at(-1);
}
