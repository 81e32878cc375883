import type { SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { objectKey } from '../../kube/keys.js';
import type { PodExpectations } from '../deployments/expectations.js';
import type { OperatorContext } from './context.js';
import type { EventSubject } from './events.js';
import { plural } from '../../common/plural.js';

/**
 * Deletes an owner's pods at once, each deletion expected (so a watch that lags does not make the
 * owner delete or create again), with one event naming those deleted (`reason`) and one for a
 * failure. A pod already gone counts as deleted. Resolves with the first failure, if any.
 */
export async function deleteOwnedPods(
  ctx: Pick<OperatorContext, 'client' | 'events'>,
  expectations: PodExpectations,
  owner: EventSubject,
  pods: SeerPod[],
  reason: string,
): Promise<{ error?: unknown }> {
  if (pods.length === 0) return {};
  const key = objectKey(owner);
  const results = await Promise.allSettled(
    pods.map(async (pod) => {
      const name = pod.metadata.name ?? '';
      expectations.expect(key, 'deletion', name);
      try {
        await ctx.client.delete('SeerPod', pod);
      } catch (error) {
        expectations.observed(key, 'deletion', name);
        if (!isNotFound(error)) throw error;
      }
      return pod.spec.node_name ? `${name} on ${pod.spec.node_name}` : name;
    }),
  );
  const deleted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (deleted.length > 0)
    ctx.events.record(
      owner,
      'Normal',
      reason,
      `Deleted ${plural(deleted.length, 'pod')}: ${deleted.join(', ')}`,
    );
  if (failure) {
    ctx.events.record(owner, 'Warning', 'FailedDelete', `Error deleting: ${errorMessage(failure.reason)}`);
    return { error: failure.reason };
  }
  return {};
}
