import type { IntOrString, SeerDeploymentSpec } from '../../api/types.js';
import { desiredReplicas } from '../../workloads/rollout-progress.js';

const DEFAULT_LIMIT = '25%';

export interface RollingLimits {
  /** Pods allowed above replicas during a rolling update. */
  maxSurge: number;
  /** Pods allowed to be unavailable below replicas during a rolling update. */
  maxUnavailable: number;
}

/** A count or "N%" of replicas, rounded up (surge) or down (unavailable) as Kubernetes does. */
export function resolveLimit(value: IntOrString | undefined, replicas: number, roundUp: boolean): number {
  const given = value ?? DEFAULT_LIMIT;
  if (typeof given === 'number') return Math.max(0, Math.floor(given));
  const percent = /^(\d+)%$/.exec(given);
  if (!percent) throw new Error(`"${given}" is neither a number nor a percentage such as 25%`);
  const exact = (Number(percent[1]) * replicas) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * The rolling update's limits. If both come out 0 the rollout could never move, so one pod may be
 * unavailable; more than replicas could never be unavailable, so that is the most.
 */
export function rollingLimits(spec: SeerDeploymentSpec): RollingLimits {
  const replicas = desiredReplicas(spec);
  const params = spec.strategy?.rolling_update;
  const maxSurge = resolveLimit(params?.max_surge, replicas, true);
  let maxUnavailable = Math.min(resolveLimit(params?.max_unavailable, replicas, false), replicas);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/** The available pods the deployment needs to count as available (the Available condition). */
export function minimumAvailable(spec: SeerDeploymentSpec): number {
  const replicas = desiredReplicas(spec);
  if (spec.strategy?.type === 'recreate') return replicas;
  return Math.max(0, replicas - rollingLimits(spec).maxUnavailable);
}
