import type { SeerDeploymentSpec, SeerPod } from '../../api/types.js';
import { desiredReplicas } from '../../workloads/rollout-progress.js';
import { isAvailable, isReady, timeOf } from './pod-state.js';

/** Pods of a canary or blue_green deployment by template. */
export interface ProgressiveGroups {
  /** Active pods of the new (target) template. */
  target: SeerPod[];
  /** Active pods of the stable template. */
  stable: SeerPod[];
  /** Active pods of any other template: always removed. */
  other: SeerPod[];
}

export interface ProgressiveDecision {
  /** Pods to create from the target template. */
  create: number;
  /** Pods to create from the stable template (replacing lost stable pods while waiting). */
  createStable: number;
  remove: SeerPod[];
  /** Every pod of the new template the strategy runs before promotion is available. */
  waitingForPromotion: boolean;
  /** auto_promote applies: record the promotion. */
  promote: boolean;
  /** auto_revert applies: the canary pods were not ready within the progress deadline. */
  revert: boolean;
  /** When the auto_revert deadline passes. */
  revertAtMs?: number;
}

/** The pods of the new template a canary runs before promotion: replicas, or percent rounded up. */
export function canaryCount(spec: SeerDeploymentSpec): number {
  const replicas = desiredReplicas(spec);
  const canary = spec.strategy?.canary;
  if (canary?.percent !== undefined) return Math.min(replicas, Math.ceil((canary.percent * replicas) / 100));
  return Math.min(replicas, Math.max(0, canary?.replicas ?? 1));
}

/** The pods of the new template run before promotion, by strategy. */
export function prePromotionCount(spec: SeerDeploymentSpec): number {
  return spec.strategy?.type === 'blue_green' ? desiredReplicas(spec) : canaryCount(spec);
}

/**
 * Decides a canary or blue_green rollout that is not promoted yet (the target template differs from
 * the stable one, stable pods exist):
 *
 * - canary: the target template gets canaryCount pods; the stable one replicas - canaryCount, its
 *   surplus removed only as far as canary pods are available.
 * - blue_green: both templates get replicas pods.
 * - Pods of any other template are removed.
 * - auto_promote: once every pre-promotion pod is available, the rollout is promoted.
 * - auto_revert: when the pre-promotion pods are not all ready progress_deadline_seconds after the
 *   first was created, the rollout is reverted.
 */
export function decideUnpromoted(
  spec: SeerDeploymentSpec,
  { target, stable, other }: ProgressiveGroups,
  minReadySeconds: number,
  now: number,
): ProgressiveDecision {
  const replicas = desiredReplicas(spec);
  const wanted = prePromotionCount(spec);
  const stableWanted = spec.strategy?.type === 'blue_green' ? replicas : replicas - wanted;
  const available = target.filter((pod) => isAvailable(pod, minReadySeconds, now)).length;
  const ready = target.filter(isReady).length;
  const remove: SeerPod[] = [...other];
  const create = Math.max(0, wanted - target.length);
  if (target.length > wanted) remove.push(...newestFirst(target).slice(0, target.length - wanted));
  let createStable = 0;
  if (stable.length < stableWanted) createStable = stableWanted - stable.length;
  else {
    const surplus = stable.length - stableWanted;
    // Only as far as available canary pods make up for the stable ones removed.
    const allowed = Math.min(surplus, Math.max(0, stable.length + available - replicas));
    remove.push(...newestFirst(stable).slice(0, allowed));
  }
  const allAvailable = target.length >= wanted && available >= wanted;
  const canary = spec.strategy?.canary;
  const promote = Boolean(canary?.auto_promote) && allAvailable;
  let revert = false;
  let revertAtMs: number | undefined;
  if (canary?.auto_revert && ready < wanted) {
    const first = Math.min(
      ...target.map((pod) => timeOf(pod.metadata.creationTimestamp) ?? now),
      target.length === 0 ? now : Infinity,
    );
    revertAtMs = first + (spec.progress_deadline_seconds ?? 600) * 1000;
    revert = now >= revertAtMs;
  }
  return { create, createStable, remove, waitingForPromotion: allAvailable, promote, revert, revertAtMs };
}

function newestFirst(pods: SeerPod[]): SeerPod[] {
  const created = (pod: SeerPod) => timeOf(pod.metadata.creationTimestamp) ?? 0;
  return [...pods].sort(
    (a, b) => created(b) - created(a) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
  );
}
