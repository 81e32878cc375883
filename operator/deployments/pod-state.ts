import { CONDITION_STATUS, POD_CONDITION, POD_PHASE, TEMPLATE_HASH_LABEL } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';

/** A timestamp as milliseconds. Typed as Date by client-node, it arrives as an RFC 3339 string. */
export function timeOf(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

export function templateHashOf(pod: SeerPod): string | undefined {
  return pod.metadata.labels?.[TEMPLATE_HASH_LABEL];
}

/** Being deleted: gone from the deployment's count, though its processes may still run. */
export function isTerminating(pod: SeerPod): boolean {
  return Boolean(pod.metadata.deletionTimestamp);
}

/** Its containers have stopped for good (Failed or Succeeded): it will never serve again. */
export function isFinished(pod: SeerPod): boolean {
  const phase = pod.status?.phase;
  return phase === POD_PHASE.Failed || phase === POD_PHASE.Succeeded;
}

/** Neither being deleted nor finished: counts as one of the deployment's replicas. */
export function isActive(pod: SeerPod): boolean {
  return !isTerminating(pod) && !isFinished(pod);
}

export function isReady(pod: SeerPod): boolean {
  return readyCondition(pod)?.status === CONDITION_STATUS.True;
}

function readyCondition(pod: SeerPod) {
  return pod.status?.conditions?.find((c) => c.type === POD_CONDITION.Ready);
}

/** When the pod last became ready, if it is ready. */
export function readySince(pod: SeerPod): number | undefined {
  const condition = readyCondition(pod);
  return condition?.status === CONDITION_STATUS.True ? timeOf(condition.last_transition_time) : undefined;
}

/**
 * When the ready pod becomes (or became) available: once it has been ready for min_ready_seconds.
 * Undefined when it is not ready, or when min_ready_seconds must be waited out and the Ready condition
 * does not say since when (as in Kubernetes, such a pod does not count as available).
 */
export function availableFrom(pod: SeerPod, minReadySeconds: number): number | undefined {
  if (!isReady(pod)) return undefined;
  if (minReadySeconds <= 0) return 0;
  const since = readySince(pod);
  return since === undefined ? undefined : since + minReadySeconds * 1000;
}

export function isAvailable(pod: SeerPod, minReadySeconds: number, now: number): boolean {
  const from = availableFrom(pod, minReadySeconds);
  return from !== undefined && from <= now;
}
