import type { SeerDeployment, SeerDeploymentSpec, SeerDeploymentStatus, SeerPod } from '../../api/types.js';
import {
  isAvailable,
  isFinished,
  isReady,
  isTerminating,
  readySince,
  templateHashOf,
  timeOf,
} from './pod-state.js';
import { desiredReplicas } from '../../workloads/rollout-progress.js';
import { templateHash } from '../../workloads/template-hash.js';
import { rollingLimits } from './rollout-limits.js';
import { observeStatus } from './status.js';
import { decideUnpromoted, type ProgressiveDecision } from './canary-plan.js';

/** What one reconcile of a deployment should do, and the status it observed. */
export interface RolloutPlan {
  /** How many pods to create from the target template. */
  create: number;
  /** Pods to delete, the most expendable first. */
  delete: SeerPod[];
  status: SeerDeploymentStatus;
  /** Plan again after this long even if nothing changes: a pod becomes available, or a deadline passes. */
  recheckAfterMs?: number;
  /** Canary and blue_green: pods to create from the stable template. */
  createStable?: number;
  /** Canary and blue_green, not promoted yet: what the strategy decided. */
  progressive?: ProgressiveDecision;
}

export interface PlanOptions {
  /**
   * The hash of the template new pods are created from: the spec's by default. While paused, the
   * controller passes the last rolled-out template's, so that scaling does not roll out a changed one.
   */
  targetHash?: string;
  /** Canary and blue_green: the stable template's hash, and whether the target one is promoted. */
  stableHash?: string;
  promoted?: boolean;
}

/** The deployment's pods by the part they play in this plan. */
interface PodGroups {
  /** Not terminating, not finished, from the target template. */
  target: SeerPod[];
  /** Not terminating, not finished, from any other template (or none). */
  old: SeerPod[];
  /** Being deleted: no longer replicas, but their processes may still occupy their hosts. */
  terminating: SeerPod[];
  /** Failed or succeeded: to be deleted and replaced. */
  finished: SeerPod[];
}

function group(pods: SeerPod[], targetHash: string): PodGroups {
  const groups: PodGroups = { target: [], old: [], terminating: [], finished: [] };
  for (const pod of pods) {
    if (isTerminating(pod)) groups.terminating.push(pod);
    else if (isFinished(pod)) groups.finished.push(pod);
    else if (templateHashOf(pod) === targetHash) groups.target.push(pod);
    else groups.old.push(pod);
  }
  return groups;
}

/** 0 for pods that do nothing yet (unscheduled), up to 3 for available ones: the cheapest to lose first. */
function usefulness(pod: SeerPod, minReadySeconds: number, now: number): number {
  if (!pod.spec.node_name) return 0;
  if (!isReady(pod)) return 1;
  if (!isAvailable(pod, minReadySeconds, now)) return 2;
  return 3;
}

const byName = (a: SeerPod, b: SeerPod) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
const created = (pod: SeerPod) => timeOf(pod.metadata.creationTimestamp) ?? 0;

/**
 * The order in which to give pods up when scaling down, as a ReplicaSet does: the least useful first,
 * then the most recently ready, then the newest.
 */
function scaleDownOrder(minReadySeconds: number, now: number) {
  return (a: SeerPod, b: SeerPod) =>
    usefulness(a, minReadySeconds, now) - usefulness(b, minReadySeconds, now) ||
    (readySince(b) ?? 0) - (readySince(a) ?? 0) ||
    created(b) - created(a) ||
    byName(a, b);
}

/** The order in which a rollout replaces old pods: the least useful first, then the oldest. */
function replaceOrder(minReadySeconds: number, now: number) {
  return (a: SeerPod, b: SeerPod) =>
    usefulness(a, minReadySeconds, now) - usefulness(b, minReadySeconds, now) ||
    created(a) - created(b) ||
    byName(a, b);
}

/**
 * Decides what one reconcile does, from the deployment and its pods alone:
 *
 * - Finished pods (Failed, Succeeded) are always deleted, and replaced as any missing replica is.
 * - With no rollout under way (every pod, terminating ones too, is from the target template), it keeps
 *   `replicas` pods like a ReplicaSet: missing ones are created at once, extra ones deleted (unready
 *   first, then the newest).
 * - Rolling update: new pods are created while new < replicas and all pods, terminating ones included
 *   (their processes still hold ports and directories on their hosts), stay within replicas +
 *   max_surge. Old pods are deleted, unavailable ones first, then the oldest, only as far as available
 *   pods stay at least replicas - max_unavailable. As in Kubernetes, a reconcile that creates pods
 *   deletes none; the next one, triggered by the new pods, does.
 * - Recreate: every old pod is deleted; new ones are created only once none is left, not even a
 *   terminating one.
 * - Paused: only scaling — all active pods, whatever their template, are counted against replicas.
 */
export function plan(
  deployment: SeerDeployment,
  pods: SeerPod[],
  now: Date,
  options: PlanOptions = {},
): RolloutPlan {
  const { spec } = deployment;
  const specHash = templateHash(spec.template, deployment.status?.collision_count);
  const targetHash = options.targetHash ?? specHash;
  const minReadySeconds = spec.min_ready_seconds ?? 0;
  const nowMs = now.getTime();
  const groups = group(pods, targetHash);
  const progressive = spec.strategy?.type === 'canary' || spec.strategy?.type === 'blue_green';
  const stableHash = options.stableHash ?? targetHash;
  const stable = groups.old.filter((pod) => templateHashOf(pod) === stableHash);
  if (progressive && !spec.paused && !options.promoted && stableHash !== targetHash && stable.length > 0) {
    const decision = decideUnpromoted(
      spec,
      { target: groups.target, stable, other: groups.old.filter((pod) => !stable.includes(pod)) },
      minReadySeconds,
      nowMs,
    );
    const observed = observeStatus(deployment, pods, specHash, now, decision.waitingForPromotion);
    const rechecks = [observed.recheckAfterMs, decision.revertAtMs && decision.revertAtMs - nowMs].filter(
      (ms): ms is number => ms !== undefined && ms > 0,
    );
    observed.status.stable_template_hash = stableHash;
    return {
      create: decision.create,
      createStable: decision.createStable,
      delete: [...groups.finished, ...decision.remove],
      status: observed.status,
      recheckAfterMs: rechecks.length > 0 ? Math.min(...rechecks) : undefined,
      progressive: decision,
    };
  }
  const decideSpec: SeerDeploymentSpec =
    progressive && spec.strategy?.type === 'blue_green'
      ? {
          ...spec,
          strategy: { type: 'rolling_update', rolling_update: { max_surge: '100%', max_unavailable: 0 } },
        }
      : spec;
  const { create, remove } = decide(decideSpec, groups, targetHash, minReadySeconds, nowMs);
  const observed = observeStatus(deployment, pods, specHash, now);
  if (progressive) {
    const complete =
      groups.old.length === 0 &&
      groups.target.length === desiredReplicas(spec) &&
      groups.target.every((pod) => isAvailable(pod, minReadySeconds, nowMs));
    observed.status.stable_template_hash = complete ? targetHash : stableHash;
  }
  return {
    create,
    delete: [...groups.finished, ...remove],
    status: observed.status,
    recheckAfterMs: observed.recheckAfterMs,
  };
}

function decide(
  spec: SeerDeploymentSpec,
  { target, old, terminating, finished }: PodGroups,
  targetHash: string,
  minReadySeconds: number,
  now: number,
): { create: number; remove: SeerPod[] } {
  const replicas = desiredReplicas(spec);
  const keep = (pods: SeerPod[]) => {
    const missing = replicas - pods.length;
    if (missing >= 0) return { create: missing, remove: [] };
    return { create: 0, remove: [...pods].sort(scaleDownOrder(minReadySeconds, now)).slice(0, -missing) };
  };
  const available = (pod: SeerPod) => isAvailable(pod, minReadySeconds, now);

  if (spec.paused) return keep([...target, ...old]);
  const rollingOut =
    old.length > 0 || [...terminating, ...finished].some((pod) => templateHashOf(pod) !== targetHash);
  if (!rollingOut) return keep(target);
  if (spec.strategy?.type === 'recreate') return { create: 0, remove: old };
  if (target.length > replicas) return keep(target);

  const { maxSurge, maxUnavailable } = rollingLimits(spec);
  const occupying = target.length + old.length + terminating.length + finished.length;
  const create = Math.max(0, Math.min(replicas - target.length, replicas + maxSurge - occupying));
  if (create > 0) return { create, remove: [] };

  // Kubernetes' bound: old pods may go only as far as the pods left, minus the new ones not yet
  // available, still make up the minimum. Unavailable old pods go first (losing them costs nothing),
  // then available ones, as far as the available count allows.
  const minAvailable = replicas - maxUnavailable;
  const active = [...target, ...old];
  const newUnavailable = target.filter((pod) => !available(pod)).length;
  const budget = active.length - minAvailable - newUnavailable;
  if (budget <= 0) return { create: 0, remove: [] };
  const ordered = [...old].sort(replaceOrder(minReadySeconds, now));
  const unhealthy = ordered.filter((pod) => !available(pod)).slice(0, budget);
  const room = Math.max(0, active.filter(available).length - minAvailable);
  const healthy = ordered.filter(available).slice(0, room);
  return { create: 0, remove: [...unhealthy, ...healthy] };
}
