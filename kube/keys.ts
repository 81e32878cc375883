/** What every Kubernetes object has, as far as caches and keys need. */
export interface KubernetesObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones (as client-go's cache keys). */
export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : (name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** A reference to the object `name` (in `namespace`), for client calls when only its name is at hand. */
export function objectRef(name: string, namespace?: string): KubernetesObject {
  return { metadata: namespace === undefined ? { name } : { name, namespace } };
}
