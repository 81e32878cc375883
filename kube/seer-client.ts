import { SEER_GROUP, SEER_RESOURCES, SEER_VERSION, type SeerKind } from '../api/names.js';
import type {
  SeerAppSet,
  SeerCluster,
  SeerComponent,
  SeerDaemonSet,
  SeerDataDir,
  SeerDeployment,
  SeerNode,
  SeerPod,
  SeerStatefulSet,
} from '../api/types.js';
import { isNotFound } from './errors.js';
import { Informer } from './informer.js';
import type { KubernetesObject } from './keys.js';
import { MERGE_PATCH, type RestClient } from './rest.js';

/** The object type of each kind. */
export interface SeerObjects {
  SeerPod: SeerPod;
  SeerDeployment: SeerDeployment;
  SeerDaemonSet: SeerDaemonSet;
  SeerStatefulSet: SeerStatefulSet;
  SeerComponent: SeerComponent;
  SeerNode: SeerNode;
  SeerDataDir: SeerDataDir;
  SeerCluster: SeerCluster;
  SeerAppSet: SeerAppSet;
}

export interface SeerList<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/**
 * Typed access to the Seer resources: get, list, create, replace (optimistic concurrency by
 * resourceVersion), merge-patch of the object or its status, delete, and informers with server-side
 * selectors.
 */
export class SeerClient {
  constructor(readonly rest: RestClient) {}

  /** The collection's path, in one namespace or (namespace undefined) across all. */
  collectionPath(kind: SeerKind, namespace?: string): string {
    const { plural } = SEER_RESOURCES[kind];
    const scope = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `/apis/${SEER_GROUP}/${SEER_VERSION}${scope}/${plural}`;
  }

  private objectPath(kind: SeerKind, name: string, namespace?: string): string {
    if (SEER_RESOURCES[kind].namespaced && !namespace) throw new Error(`${kind} ${name} needs a namespace`);
    return `${this.collectionPath(kind, SEER_RESOURCES[kind].namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
  }

  /** The path of an object, from its metadata (what patch, patchStatus and delete are given). */
  private pathOf(kind: SeerKind, object: KubernetesObject): string {
    return this.objectPath(kind, object.metadata?.name ?? '', object.metadata?.namespace);
  }

  get<K extends SeerKind>(kind: K, name: string, namespace?: string): Promise<SeerObjects[K]> {
    return this.rest.request('GET', this.objectPath(kind, name, namespace));
  }

  /** The object, or undefined when it does not exist. */
  async find<K extends SeerKind>(
    kind: K,
    name: string,
    namespace?: string,
  ): Promise<SeerObjects[K] | undefined> {
    try {
      return await this.get(kind, name, namespace);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  list<K extends SeerKind>(kind: K, options: ListOptions = {}): Promise<SeerList<SeerObjects[K]>> {
    return this.rest.request('GET', this.collectionPath(kind, options.namespace), {
      query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
    });
  }

  create<K extends SeerKind>(kind: K, object: SeerObjects[K]): Promise<SeerObjects[K]> {
    const namespace = SEER_RESOURCES[kind].namespaced ? (object.metadata?.namespace ?? 'default') : undefined;
    return this.rest.request('POST', this.collectionPath(kind, namespace), { body: object });
  }

  /** Replaces the whole object; fails with 409 when it changed since `object.metadata.resourceVersion`. */
  replace<K extends SeerKind>(kind: K, object: SeerObjects[K]): Promise<SeerObjects[K]> {
    return this.rest.request('PUT', this.pathOf(kind, object), { body: object });
  }

  /** A JSON merge patch of the object (metadata and spec). */
  patch<K extends SeerKind>(kind: K, object: KubernetesObject, patch: object): Promise<SeerObjects[K]> {
    return this.rest.request('PATCH', this.pathOf(kind, object), { body: patch, contentType: MERGE_PATCH });
  }

  /**
   * A JSON merge patch of the status subresource; with `resourceVersion`, only if the object is still
   * at that version (409 otherwise), for a patch computed against that version.
   */
  patchStatus<K extends SeerKind>(
    kind: K,
    object: KubernetesObject,
    status: object,
    options: { resourceVersion?: string } = {},
  ): Promise<SeerObjects[K]> {
    const metadata = options.resourceVersion
      ? { metadata: { resourceVersion: options.resourceVersion } }
      : {};
    return this.rest.request('PATCH', `${this.pathOf(kind, object)}/status`, {
      body: { ...metadata, status },
      contentType: MERGE_PATCH,
    });
  }

  async delete(kind: SeerKind, object: KubernetesObject): Promise<void> {
    await this.rest.request('DELETE', this.pathOf(kind, object));
  }

  /** A cache of the kind (one namespace or all), kept current by list + watch with these selectors. */
  informer<K extends SeerKind>(
    kind: K,
    options: ListOptions & { onError?: (error: unknown) => void; resyncMs?: number } = {},
  ): Informer<SeerObjects[K]> {
    return new Informer<SeerObjects[K]>({
      client: this.rest,
      path: this.collectionPath(kind, options.namespace),
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      onError: options.onError,
      resyncMs: options.resyncMs,
    });
  }
}
