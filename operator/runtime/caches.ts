import { DEPLOYMENT_LABEL, NODE_LEASE_NAMESPACE, STATEFUL_SET_LABEL } from '../../api/names.js';
import type {
  SeerComponent,
  SeerDaemonSet,
  SeerDataDir,
  SeerDeployment,
  SeerNode,
  SeerPod,
  SeerStatefulSet,
} from '../../api/types.js';
import { Informer } from '../../kube/informer.js';
import type { KubernetesObject } from '../../kube/keys.js';
import { leaseInformer, type Lease } from '../../kube/leases.js';
import type { SeerClient } from '../../kube/seer-client.js';
import { revisionsPath, type ControllerRevision } from '../../workloads/revisions.js';

/**
 * Every cache the operator's controllers read: one list+watch per collection for the whole operator.
 * Controllers register their handlers on them when they are built; the operator starts them all on
 * every replica, leader or standby, so that a replica that takes over acts on warm caches at once.
 */
export interface OperatorCaches {
  pods: Informer<SeerPod>;
  deployments: Informer<SeerDeployment>;
  daemonSets: Informer<SeerDaemonSet>;
  statefulSets: Informer<SeerStatefulSet>;
  components: Informer<SeerComponent>;
  nodes: Informer<SeerNode>;
  /** Where each pod's data is: the scheduler places pods claiming a data dir on its node. */
  dataDirs: Informer<SeerDataDir>;
  /** The agents' heartbeats, in kube-node-lease (read by the node lifecycle controller). */
  nodeLeases: Informer<Lease>;
  /** The deployments' revision history: the ControllerRevisions labelled with a deployment. */
  revisions: Informer<ControllerRevision>;
  /** The stateful sets' revision history: the ControllerRevisions labelled with a stateful set. */
  statefulSetRevisions: Informer<ControllerRevision>;
}

// Deployments, daemon sets, stateful sets and components are looked at again every few minutes whatever happens, as a safety
// net; pods and nodes change often enough on their own.
const RESYNC_MS = 5 * 60_000;

/** The caches, not started yet. `onError` hears of every failed list or watch (each is retried). */
export function createCaches(
  client: SeerClient,
  onError: (collection: string, error: unknown) => void = () => undefined,
): OperatorCaches {
  const failed = (collection: string) => (error: unknown) => onError(collection, error);
  return {
    pods: client.informer('SeerPod', { onError: failed('SeerPod') }),
    deployments: client.informer('SeerDeployment', {
      onError: failed('SeerDeployment'),
      resyncMs: RESYNC_MS,
    }),
    daemonSets: client.informer('SeerDaemonSet', { onError: failed('SeerDaemonSet'), resyncMs: RESYNC_MS }),
    statefulSets: client.informer('SeerStatefulSet', {
      onError: failed('SeerStatefulSet'),
      resyncMs: RESYNC_MS,
    }),
    components: client.informer('SeerComponent', { onError: failed('SeerComponent'), resyncMs: RESYNC_MS }),
    nodes: client.informer('SeerNode', { onError: failed('SeerNode') }),
    dataDirs: client.informer('SeerDataDir', { onError: failed('SeerDataDir') }),
    nodeLeases: leaseInformer(client.rest, NODE_LEASE_NAMESPACE, { onError: failed('Lease') }),
    revisions: new Informer<ControllerRevision>({
      client: client.rest,
      path: revisionsPath(),
      labelSelector: DEPLOYMENT_LABEL,
      onError: failed('ControllerRevision'),
    }),
    statefulSetRevisions: new Informer<ControllerRevision>({
      client: client.rest,
      path: revisionsPath(),
      labelSelector: STATEFUL_SET_LABEL,
      onError: failed('ControllerRevision'),
    }),
  };
}

/** Resolves once the cache has been filled (at once if it has). */
export function whenSynced(informer: Informer<KubernetesObject>): Promise<void> {
  if (informer.hasSynced) return Promise.resolve();
  return new Promise((resolve) => informer.once('synced', resolve));
}

/** Starts every cache; resolves once all of them are filled. */
export async function startCaches(caches: OperatorCaches): Promise<void> {
  await Promise.all(Object.values(caches).map((cache) => cache.start()));
}

/** Stops every cache: their watches would otherwise keep the process alive. */
export async function stopCaches(caches: OperatorCaches): Promise<void> {
  await Promise.all(Object.values(caches).map((cache) => cache.stop()));
}
