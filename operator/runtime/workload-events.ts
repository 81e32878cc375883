import type { SeerPod } from '../../api/types.js';
import type { Informer } from '../../kube/informer.js';
import { objectKey, type KubernetesObject } from '../../kube/keys.js';
import type { PodExpectations } from '../deployments/expectations.js';
import { isTerminating } from '../deployments/pod-state.js';

/** What a controller of pod-owning workloads (deployments, daemon sets, stateful sets) reacts to. */
export interface WorkloadEvents<T extends KubernetesObject> {
  workloads: Informer<T>;
  pods: Informer<SeerPod>;
  /** The key of the workload a pod belongs to (from its labels), if any. */
  ownerKeyOf: (pod: SeerPod) => string | undefined;
  enqueue: (key: string) => void;
  expectations: PodExpectations;
}

/**
 * Enqueues a workload on each change of it, and the owner of a pod on each change of the pod (the
 * previous owner too when the pod's labels moved it), recording the pod as seen in the expectations
 * so creations and deletions under way are not repeated.
 */
export function watchWorkloadsAndPods<T extends KubernetesObject>(events: WorkloadEvents<T>): void {
  const { workloads, pods, ownerKeyOf, enqueue, expectations } = events;
  workloads.on('add', (workload) => enqueue(objectKey(workload)));
  workloads.on('update', (_old, workload) => enqueue(objectKey(workload)));
  workloads.on('delete', (workload) => enqueue(objectKey(workload)));
  const onPod = (pod: SeerPod, gone: boolean) => {
    const key = ownerKeyOf(pod);
    if (!key) return;
    const name = pod.metadata.name ?? '';
    expectations.observed(key, 'creation', name);
    if (gone || isTerminating(pod)) expectations.observed(key, 'deletion', name);
    enqueue(key);
  };
  pods.on('add', (pod) => onPod(pod, false));
  pods.on('update', (old, pod) => {
    if (ownerKeyOf(old) !== ownerKeyOf(pod)) onPod(old, true);
    onPod(pod, false);
  });
  pods.on('delete', (pod) => onPod(pod, true));
}

/**
 * Once the caches are synced: every workload, and every one pods are labelled with whether it exists
 * or not, so the pods of one deleted while no operator was running are cleaned up too.
 */
export function enqueueWorkloadsAndOwners<T extends KubernetesObject>(
  events: Pick<WorkloadEvents<T>, 'workloads' | 'pods' | 'ownerKeyOf' | 'enqueue'>,
): void {
  for (const workload of events.workloads.list()) events.enqueue(objectKey(workload));
  for (const pod of events.pods.list()) {
    const key = events.ownerKeyOf(pod);
    if (key) events.enqueue(key);
  }
}
