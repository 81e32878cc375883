import { objectKey } from '../../kube/keys.js';
import type { SeerObjects } from '../../kube/seer-client.js';
import type { OperatorContext } from './context.js';
import type { WrittenStatus } from './written-status.js';

/**
 * A template's hash names a revision that holds another template: counted in the owner's
 * status.collision_count (which the next hash includes, as Kubernetes does) and said in an event.
 */
export async function countHashCollision<K extends 'SeerDeployment' | 'SeerStatefulSet'>(
  ctx: Pick<OperatorContext, 'events'>,
  statuses: WrittenStatus<K>,
  owner: SeerObjects[K],
  hash: string,
): Promise<void> {
  const collisionCount = (owner.status?.collision_count ?? 0) + 1;
  await statuses.patch(objectKey(owner), owner, { collision_count: collisionCount });
  ctx.events.record(
    owner,
    'Warning',
    'TemplateHashCollision',
    `Template hash ${hash} is taken by another template; collision count now ${collisionCount}`,
  );
}
