import type { SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { objectKey } from '../../kube/keys.js';
import type { PodExpectations } from '../deployments/expectations.js';
import type { OperatorContext } from './context.js';
import type { EventSubject } from './events.js';
import { plural } from '../../common/plural.js';

type Context = Pick<OperatorContext, 'client' | 'events'>;

interface PodWrite {
  expectation: 'creation' | 'deletion';
  write: (ctx: Context, pod: SeerPod) => Promise<void>;
  /** Event reasons and words: `${done} 2 pods: …`, `Error ${failing}: …`. */
  doneReason: string;
  done: string;
  failedReason: string;
  failing: string;
}

/**
 * Writes an owner's pods at once, each write expected (so a watch that lags does not make the owner
 * write it again), with one event naming the pods written and one for a failure. Resolves with the
 * first failure, if any.
 */
async function writeOwnedPods(
  ctx: Context,
  expectations: PodExpectations,
  owner: EventSubject,
  pods: SeerPod[],
  how: PodWrite,
): Promise<{ error?: unknown }> {
  if (pods.length === 0) return {};
  const key = objectKey(owner);
  const results = await Promise.allSettled(
    pods.map(async (pod) => {
      const name = pod.metadata.name ?? '';
      expectations.expect(key, how.expectation, name);
      try {
        await how.write(ctx, pod);
      } catch (error) {
        expectations.observed(key, how.expectation, name);
        throw error;
      }
      return pod.spec.node_name ? `${name} on ${pod.spec.node_name}` : name;
    }),
  );
  const written = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (written.length > 0)
    ctx.events.record(
      owner,
      'Normal',
      how.doneReason,
      `${how.done} ${plural(written.length, 'pod')}: ${written.join(', ')}`,
    );
  if (failure) {
    ctx.events.record(
      owner,
      'Warning',
      how.failedReason,
      `Error ${how.failing}: ${errorMessage(failure.reason)}`,
    );
    return { error: failure.reason };
  }
  return {};
}

/** Creates an owner's pods (see writeOwnedPods). */
export function createOwnedPods(
  ctx: Context,
  expectations: PodExpectations,
  owner: EventSubject,
  pods: SeerPod[],
): Promise<{ error?: unknown }> {
  return writeOwnedPods(ctx, expectations, owner, pods, {
    expectation: 'creation',
    write: async (c, pod) => void (await c.client.create('SeerPod', pod)),
    doneReason: 'SuccessfulCreate',
    done: 'Created',
    failedReason: 'FailedCreate',
    failing: 'creating',
  });
}

/** Deletes an owner's pods (see writeOwnedPods); one already gone counts as deleted. */
export function deleteOwnedPods(
  ctx: Context,
  expectations: PodExpectations,
  owner: EventSubject,
  pods: SeerPod[],
  reason: string,
): Promise<{ error?: unknown }> {
  return writeOwnedPods(ctx, expectations, owner, pods, {
    expectation: 'deletion',
    write: async (c, pod) => {
      try {
        await c.client.delete('SeerPod', pod);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        // Gone already: no watch event will come to end the expectation.
        expectations.observed(objectKey(owner), 'deletion', pod.metadata.name ?? '');
      }
    },
    doneReason: reason,
    done: 'Deleted',
    failedReason: 'FailedDelete',
    failing: 'deleting',
  });
}
