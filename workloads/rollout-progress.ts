import { DEPLOYMENT_CONDITION } from '../api/names.js';
import type { SeerDaemonSet, SeerDeployment, SeerDeploymentSpec, SeerStatefulSet } from '../api/types.js';

/** Reasons of a deployment's Progressing condition. */
export const PROGRESSING_REASON = {
  /** Every replica runs the current template and is available. */
  complete: 'NewTemplateAvailable',
  /** A rollout or a scale is under way. */
  progressing: 'TemplateUpdated',
  /** No progress for progress_deadline_seconds (the rollout keeps trying). */
  deadlineExceeded: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  /** Canary or blue_green: the new template's pre-promotion pods are available; promotion is awaited. */
  waitingForPromotion: 'WaitingForPromotion',
  /** Canary or blue_green: the new template was abandoned (abort or auto_revert). */
  aborted: 'RolloutAborted',
} as const;

/** The replicas the spec asks for (1 when it does not say). */
export function desiredReplicas(spec: SeerDeploymentSpec): number {
  return spec.replicas ?? 1;
}

/** How far a deployment's rollout has got, in kubectl's words. */
export type RolloutProgress =
  | { state: 'waiting'; message: string }
  | { state: 'done'; message: string }
  | { state: 'failed'; message: string };

/**
 * Reads a rollout's progress from the deployment's status, as `kubectl rollout status` does: done once
 * the status describes the latest spec, every replica runs the current template, no old one is left
 * and every updated one is available; failed once the progress deadline has passed.
 */
export function rolloutProgress(deployment: SeerDeployment): RolloutProgress {
  const name = deployment.metadata.name ?? '';
  const status = deployment.status ?? {};
  if ((deployment.metadata.generation ?? 0) > (status.observed_generation ?? 0))
    return { state: 'waiting', message: 'Waiting for deployment spec update to be observed...' };
  const progressing = status.conditions?.find((c) => c.type === DEPLOYMENT_CONDITION.Progressing);
  if (progressing?.reason === PROGRESSING_REASON.deadlineExceeded)
    return { state: 'failed', message: `deployment "${name}" exceeded its progress deadline` };
  if (progressing?.reason === PROGRESSING_REASON.aborted)
    return { state: 'failed', message: `deployment "${name}" rollout aborted: ${progressing.message ?? ''}` };
  if (progressing?.reason === PROGRESSING_REASON.waitingForPromotion)
    return { state: 'waiting', message: progressing.message ?? 'waiting for promotion' };
  const wanted = desiredReplicas(deployment.spec);
  const replicas = status.replicas ?? 0;
  const updated = status.updated_replicas ?? 0;
  const available = status.available_replicas ?? 0;
  const waiting = (what: string) => ({
    state: 'waiting' as const,
    message: `Waiting for deployment "${name}" rollout to finish: ${what}...`,
  });
  if (updated < wanted) return waiting(`${updated} out of ${wanted} new replicas have been updated`);
  if (replicas > updated) return waiting(`${replicas - updated} old replicas are pending termination`);
  if (available < updated) return waiting(`${available} of ${updated} updated replicas are available`);
  return { state: 'done', message: `deployment "${name}" successfully rolled out` };
}

/**
 * Reads a daemon set's rollout progress from its status, as `kubectl rollout status` does for a
 * DaemonSet: done once the status describes the latest spec and every node that should run the pod
 * runs an available one of the current template. An on_delete daemon set has no rollout to follow.
 */
export function daemonSetRolloutProgress(daemonSet: SeerDaemonSet): RolloutProgress {
  const name = daemonSet.metadata.name ?? '';
  if (daemonSet.spec.update_strategy?.type === 'on_delete')
    return { state: 'failed', message: 'rollout status is only available for the rolling update strategy' };
  const status = daemonSet.status ?? {};
  if ((daemonSet.metadata.generation ?? 0) > (status.observed_generation ?? 0))
    return { state: 'waiting', message: 'Waiting for daemon set spec update to be observed...' };
  const desired = status.desired_number_scheduled ?? 0;
  const updated = status.updated_number_scheduled ?? 0;
  const available = status.number_available ?? 0;
  const waiting = (what: string) => ({
    state: 'waiting' as const,
    message: `Waiting for daemon set "${name}" rollout to finish: ${what}...`,
  });
  if (updated < desired) return waiting(`${updated} out of ${desired} new pods have been updated`);
  if (available < desired) return waiting(`${available} of ${desired} updated pods are available`);
  return { state: 'done', message: `daemon set "${name}" successfully rolled out` };
}

/**
 * Reads a stateful set's rollout progress from its status, as `kubectl rollout status` does for a
 * StatefulSet: done once the status describes the latest spec, every replica is ready, and every
 * ordinal from the partition up runs the update revision (with no partition: every ordinal does, and
 * it has become the current revision). An on_delete stateful set has no rollout to follow.
 */
export function statefulSetRolloutProgress(set: SeerStatefulSet): RolloutProgress {
  if (set.spec.update_strategy?.type === 'on_delete')
    return { state: 'failed', message: 'rollout status is only available for the rolling_update strategy' };
  const status = set.status ?? {};
  if ((set.metadata.generation ?? 0) > (status.observed_generation ?? 0) || !status.observed_generation)
    return { state: 'waiting', message: 'Waiting for stateful set spec update to be observed...' };
  const replicas = set.spec.replicas ?? 1;
  const ready = status.ready_replicas ?? 0;
  if (ready < replicas)
    return { state: 'waiting', message: `Waiting for ${replicas - ready} pods to be ready...` };
  const partition = set.spec.update_strategy?.rolling_update?.partition ?? 0;
  const updated = status.updated_replicas ?? 0;
  if (partition > 0) {
    const toUpdate = Math.max(0, replicas - partition);
    if (updated < toUpdate)
      return {
        state: 'waiting',
        message: `Waiting for partitioned roll out to finish: ${updated} out of ${toUpdate} new pods have been updated...`,
      };
    return {
      state: 'done',
      message: `partitioned roll out complete: ${updated} new pods have been updated...`,
    };
  }
  // Stricter than kubectl, which is done once the revisions agree: after an undo to the current
  // revision they agree at once, though pods of the undone one are still to be replaced.
  if (status.update_revision !== status.current_revision || updated < replicas)
    return {
      state: 'waiting',
      message: `waiting for stateful set rolling update to complete ${updated} pods at revision ${status.update_revision}...`,
    };
  return {
    state: 'done',
    message: `stateful set rolling update complete ${status.current_replicas ?? 0} pods at revision ${status.current_revision}...`,
  };
}
