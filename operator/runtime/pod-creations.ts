import type { SeerPod } from '../../api/types.js';
import { errorMessage } from '../../kube/errors.js';
import { objectKey } from '../../kube/keys.js';
import type { PodExpectations } from '../deployments/expectations.js';
import type { OperatorContext } from './context.js';
import type { EventSubject } from './events.js';
import { plural } from '../../common/plural.js';

/**
 * Creates an owner's pods at once, each creation expected (so a watch that lags does not make the
 * owner create it again), with one event naming those created and one for a failure. Resolves with
 * the first failure, if any.
 */
export async function createOwnedPods(
  ctx: Pick<OperatorContext, 'client' | 'events'>,
  expectations: PodExpectations,
  owner: EventSubject,
  pods: SeerPod[],
): Promise<{ error?: unknown }> {
  if (pods.length === 0) return {};
  const key = objectKey(owner);
  const results = await Promise.allSettled(
    pods.map(async (pod) => {
      const name = pod.metadata.name ?? '';
      expectations.expect(key, 'creation', name);
      try {
        await ctx.client.create('SeerPod', pod);
      } catch (error) {
        expectations.observed(key, 'creation', name);
        throw error;
      }
      return pod.spec.node_name ? `${name} on ${pod.spec.node_name}` : name;
    }),
  );
  const created = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (created.length > 0)
    ctx.events.record(
      owner,
      'Normal',
      'SuccessfulCreate',
      `Created ${plural(created.length, 'pod')}: ${created.join(', ')}`,
    );
  if (failure) {
    ctx.events.record(owner, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(failure.reason)}`);
    return { error: failure.reason };
  }
  return {};
}
