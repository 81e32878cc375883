import type { SeerKind } from '../api/names.js';
import { isConflict, isNotFound } from './errors.js';
import type { SeerClient, SeerObjects } from './seer-client.js';

const ATTEMPTS = 5;

/**
 * Rewrites an object's metadata.finalizers with its resourceVersion as a precondition, so a
 * finalizer someone else added or removed meanwhile is never lost: on a conflict it reads the object
 * again and edits that. `edit` returns the new list, or undefined when nothing needs to change.
 * Returns the object as written, or undefined when it is gone or needed no change.
 */
export async function editFinalizers<K extends SeerKind>(
  client: SeerClient,
  kind: K,
  object: SeerObjects[K],
  edit: (current: string[]) => string[] | undefined,
): Promise<SeerObjects[K] | undefined> {
  const name = object.metadata.name ?? '';
  const namespace = object.metadata.namespace;
  let current = object;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const finalizers = edit(current.metadata.finalizers ?? []);
    if (!finalizers) return undefined;
    try {
      return await client.patch(kind, current, {
        metadata: { finalizers, resourceVersion: current.metadata.resourceVersion },
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      if (!isConflict(error)) throw error;
      const fresh = await client.find(kind, name, namespace);
      if (!fresh) return undefined;
      current = fresh;
    }
  }
  throw new Error(
    `could not update the finalizers of ${kind} ${namespace ?? ''}/${name}: too many conflicts`,
  );
}

export function addFinalizer<K extends SeerKind>(
  client: SeerClient,
  kind: K,
  object: SeerObjects[K],
  finalizer: string,
): Promise<SeerObjects[K] | undefined> {
  return editFinalizers(client, kind, object, (current) =>
    current.includes(finalizer) ? undefined : [...current, finalizer],
  );
}

export function removeFinalizer<K extends SeerKind>(
  client: SeerClient,
  kind: K,
  object: SeerObjects[K],
  finalizer: string,
): Promise<SeerObjects[K] | undefined> {
  return editFinalizers(client, kind, object, (current) =>
    current.includes(finalizer) ? current.filter((f) => f !== finalizer) : undefined,
  );
}
