import { DEPLOYMENT_CONDITION } from '../api/names.js';
import type { SeerDeployment, SeerDeploymentSpec } from '../api/types.js';

/** Reasons of a deployment's Progressing condition. */
export const PROGRESSING_REASON = {
  /** Every replica runs the current template and is available. */
  complete: 'NewTemplateAvailable',
  /** A rollout or a scale is under way. */
  progressing: 'TemplateUpdated',
  /** No progress for progress_deadline_seconds (the rollout keeps trying). */
  deadlineExceeded: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
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
