import { DEPLOYMENT_CONDITION } from '../../api/names.js';
import type { SeerDeployment } from '../../api/types.js';
import { desiredReplicas } from './rollout-limits.js';
import { PROGRESSING_REASON } from './status.js';

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
