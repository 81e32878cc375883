import { transition } from '../../api/conditions.js';
import { CONDITION_STATUS, DEPLOYMENT_CONDITION } from '../../api/names.js';
import type {
  Condition,
  DeploymentConditionType,
  SeerDeployment,
  SeerDeploymentStatus,
  SeerPod,
} from '../../api/types.js';
import {
  availableFrom,
  isActive,
  isAvailable,
  isReady,
  isTerminating,
  readySince,
  templateHashOf,
  timeOf,
} from './pod-state.js';
import { selectorString } from './pod-selection.js';
import { desiredReplicas, PROGRESSING_REASON } from '../../workloads/rollout-progress.js';
import { minimumAvailable } from './rollout-limits.js';

type DeploymentCondition = Condition<DeploymentConditionType>;

/** Reasons of the Available condition. */
export const AVAILABLE_REASON = {
  available: 'MinimumReplicasAvailable',
  unavailable: 'MinimumReplicasUnavailable',
} as const;

const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

export interface ObservedStatus {
  status: SeerDeploymentStatus;
  /** Look again after this long: a pod becomes available, or the progress deadline passes. */
  recheckAfterMs?: number;
}

/**
 * When the pods last showed the rollout moving: a pod of the current template created, any pod
 * becoming ready, a pod being deleted. The deployment's creation and the Progressing condition turning
 * True (for instance on resume) count too. The CRD's conditions have no last_update_time to keep this
 * in, so it is read from the pods themselves.
 */
export function lastProgress(deployment: SeerDeployment, pods: SeerPod[], currentHash: string): number {
  const times: (number | undefined)[] = [timeOf(deployment.metadata.creationTimestamp)];
  const progressing = deployment.status?.conditions?.find((c) => c.type === DEPLOYMENT_CONDITION.Progressing);
  if (progressing?.status === CONDITION_STATUS.True) times.push(timeOf(progressing.last_transition_time));
  for (const pod of pods) {
    if (isTerminating(pod)) {
      times.push(timeOf(pod.metadata.deletionTimestamp));
      continue;
    }
    times.push(readySince(pod));
    if (templateHashOf(pod) === currentHash) times.push(timeOf(pod.metadata.creationTimestamp));
  }
  return Math.max(0, ...times.filter((t): t is number => t !== undefined));
}

/**
 * Whether the counts moved forward since the previous status, as Kubernetes judges it: more updated,
 * ready or available replicas, or fewer old ones.
 */
export function madeProgress(
  previous: SeerDeploymentStatus | undefined,
  next: SeerDeploymentStatus,
): boolean {
  const count = (value: number | undefined) => value ?? 0;
  const oldReplicas = (s: SeerDeploymentStatus | undefined) =>
    count(s?.replicas) - count(s?.updated_replicas);
  return (
    count(next.updated_replicas) > count(previous?.updated_replicas) ||
    count(next.ready_replicas) > count(previous?.ready_replicas) ||
    count(next.available_replicas) > count(previous?.available_replicas) ||
    oldReplicas(next) < oldReplicas(previous)
  );
}

/**
 * The status the deployment's pods show, relative to the spec's template (hash `currentHash`), with
 * the Available and Progressing conditions. As in Kubernetes, a deployment whose last rollout
 * completed keeps Progressing at NewTemplateAvailable until the counts move again, so losing a pod or
 * waiting on a scale never counts against the progress deadline; only a rollout that moved and then
 * stopped moving does.
 */
export function observeStatus(
  deployment: SeerDeployment,
  pods: SeerPod[],
  currentHash: string,
  now: Date,
  waitingForPromotion = false,
): ObservedStatus {
  const { spec } = deployment;
  const name = deployment.metadata.name ?? '';
  const replicas = desiredReplicas(spec);
  const minReadySeconds = spec.min_ready_seconds ?? 0;
  const active = pods.filter(isActive);
  const available = active.filter((p) => isAvailable(p, minReadySeconds, now.getTime())).length;
  const updated = active.filter((p) => templateHashOf(p) === currentHash).length;
  const previous = deployment.status;
  const rechecks: number[] = [];
  for (const pod of active) {
    const from = availableFrom(pod, minReadySeconds);
    if (from !== undefined && from > now.getTime()) rechecks.push(from - now.getTime());
  }

  const status: SeerDeploymentStatus = {
    observed_generation: deployment.metadata.generation,
    replicas: active.length,
    ready_replicas: active.filter(isReady).length,
    updated_replicas: updated,
    available_replicas: available,
    unavailable_replicas: Math.max(0, replicas - available),
    selector: selectorString(deployment),
  };
  if (previous?.collision_count !== undefined) status.collision_count = previous.collision_count;

  const enough = available >= minimumAvailable(spec);
  const availableCondition = transition(
    previous?.conditions,
    {
      type: DEPLOYMENT_CONDITION.Available,
      status: enough ? CONDITION_STATUS.True : CONDITION_STATUS.False,
      reason: enough ? AVAILABLE_REASON.available : AVAILABLE_REASON.unavailable,
      message: enough
        ? 'Deployment has minimum availability.'
        : 'Deployment does not have minimum availability.',
    },
    now,
  );

  const before = previous?.conditions?.find((c) => c.type === DEPLOYMENT_CONDITION.Progressing);
  const complete = updated === replicas && active.length === replicas && available === replicas;
  const progressed = madeProgress(previous, status);
  let progressing: DeploymentCondition;
  if (waitingForPromotion && !spec.paused) {
    const ready = active.filter((p) => templateHashOf(p) === currentHash && isReady(p)).length;
    progressing = transition(
      previous?.conditions,
      {
        type: DEPLOYMENT_CONDITION.Progressing,
        status: CONDITION_STATUS.True,
        reason: PROGRESSING_REASON.waitingForPromotion,
        message: `waiting for promotion: ${ready} ${spec.strategy?.type === 'blue_green' ? 'new' : 'canary'} ${ready === 1 ? 'pod' : 'pods'} ready of ${updated}`,
      },
      now,
    );
  } else if (spec.paused) {
    progressing = transition(
      previous?.conditions,
      {
        type: DEPLOYMENT_CONDITION.Progressing,
        status: CONDITION_STATUS.Unknown,
        reason: PROGRESSING_REASON.paused,
        message: 'Deployment is paused.',
      },
      now,
    );
  } else if (complete) {
    progressing = transition(
      previous?.conditions,
      {
        type: DEPLOYMENT_CONDITION.Progressing,
        status: CONDITION_STATUS.True,
        reason: PROGRESSING_REASON.complete,
        message: `SeerDeployment "${name}" has successfully progressed.`,
      },
      now,
    );
  } else if (before?.reason === PROGRESSING_REASON.complete && !progressed) {
    progressing = before;
  } else {
    const deadlineMs = (spec.progress_deadline_seconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS) * 1000;
    // The clock also starts when Progressing first turns True: a new deployment, or a resumed one.
    const starting = before === undefined || before.status === CONDITION_STATUS.Unknown;
    const since = Math.max(
      lastProgress(deployment, pods, currentHash),
      progressed || starting ? now.getTime() : 0,
    );
    const timedOut = now.getTime() >= since + deadlineMs;
    if (!timedOut) rechecks.push(since + deadlineMs - now.getTime());
    progressing = transition(
      previous?.conditions,
      timedOut
        ? {
            type: DEPLOYMENT_CONDITION.Progressing,
            status: CONDITION_STATUS.False,
            reason: PROGRESSING_REASON.deadlineExceeded,
            message: `SeerDeployment "${name}" has timed out progressing.`,
          }
        : {
            type: DEPLOYMENT_CONDITION.Progressing,
            status: CONDITION_STATUS.True,
            reason: PROGRESSING_REASON.progressing,
            message: `SeerDeployment "${name}" is progressing.`,
          },
      now,
    );
  }
  status.conditions = [availableCondition, progressing];
  return { status, recheckAfterMs: rechecks.length > 0 ? Math.min(...rechecks) : undefined };
}
