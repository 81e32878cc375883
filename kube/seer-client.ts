import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
} from '@kubernetes/client-node';
import { SEER_GROUP, SEER_RESOURCES, SEER_VERSION, type SeerKind } from '../api/names.js';
import type { SeerComponent, SeerDeployment, SeerNode, SeerPod } from '../api/types.js';
import { Informer } from './informer.js';

/** The object type of each kind. */
export interface SeerObjects {
  SeerPod: SeerPod;
  SeerDeployment: SeerDeployment;
  SeerComponent: SeerComponent;
  SeerNode: SeerNode;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Typed access to the Seer resources through client-node's CustomObjectsApi: get, list, create,
 * replace (optimistic concurrency by resourceVersion), merge-patch of spec or status, delete, and
 * informers with server-side selectors.
 */
export class SeerClient {
  readonly api: CustomObjectsApi;

  constructor(readonly kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  private target(kind: SeerKind, namespace?: string) {
    const resource = SEER_RESOURCES[kind];
    if (resource.namespaced && !namespace) throw new Error(`${kind} needs a namespace`);
    return { group: SEER_GROUP, version: SEER_VERSION, plural: resource.plural, namespace: namespace ?? '' };
  }

  async get<K extends SeerKind>(kind: K, name: string, namespace?: string): Promise<SeerObjects[K]> {
    const t = this.target(kind, namespace);
    return SEER_RESOURCES[kind].namespaced
      ? this.api.getNamespacedCustomObject({ ...t, name })
      : this.api.getClusterCustomObject({ ...t, name });
  }

  async list<K extends SeerKind>(
    kind: K,
    options: ListOptions = {},
  ): Promise<KubernetesListObject<SeerObjects[K]>> {
    const { group, version, plural } = this.target(kind, options.namespace ?? 'unused');
    const selectors = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector };
    return options.namespace
      ? this.api.listNamespacedCustomObject({
          group,
          version,
          plural,
          namespace: options.namespace,
          ...selectors,
        })
      : this.api.listClusterCustomObject({ group, version, plural, ...selectors });
  }

  async create<K extends SeerKind>(kind: K, object: SeerObjects[K]): Promise<SeerObjects[K]> {
    const t = this.target(kind, object.metadata?.namespace);
    return SEER_RESOURCES[kind].namespaced
      ? this.api.createNamespacedCustomObject({ ...t, body: object })
      : this.api.createClusterCustomObject({ ...t, body: object });
  }

  /** Replaces the whole object; fails with 409 when it changed since `object.metadata.resourceVersion`. */
  async replace<K extends SeerKind>(kind: K, object: SeerObjects[K]): Promise<SeerObjects[K]> {
    const name = object.metadata?.name ?? '';
    const t = this.target(kind, object.metadata?.namespace);
    return SEER_RESOURCES[kind].namespaced
      ? this.api.replaceNamespacedCustomObject({ ...t, name, body: object })
      : this.api.replaceClusterCustomObject({ ...t, name, body: object });
  }

  /** A JSON merge patch of the object (metadata and spec). */
  async patch<K extends SeerKind>(kind: K, name: string, namespace: string | undefined, patch: object) {
    const t = this.target(kind, namespace);
    const result: Promise<SeerObjects[K]> = SEER_RESOURCES[kind].namespaced
      ? this.api.patchNamespacedCustomObject({ ...t, name, body: patch }, mergePatch)
      : this.api.patchClusterCustomObject({ ...t, name, body: patch }, mergePatch);
    return result;
  }

  /** A JSON merge patch of the status subresource. */
  async patchStatus<K extends SeerKind>(
    kind: K,
    name: string,
    namespace: string | undefined,
    status: object,
  ) {
    const t = this.target(kind, namespace);
    const body = { status };
    const result: Promise<SeerObjects[K]> = SEER_RESOURCES[kind].namespaced
      ? this.api.patchNamespacedCustomObjectStatus({ ...t, name, body }, mergePatch)
      : this.api.patchClusterCustomObjectStatus({ ...t, name, body }, mergePatch);
    return result;
  }

  async delete(kind: SeerKind, name: string, namespace?: string): Promise<void> {
    const t = this.target(kind, namespace);
    if (SEER_RESOURCES[kind].namespaced) await this.api.deleteNamespacedCustomObject({ ...t, name });
    else await this.api.deleteClusterCustomObject({ ...t, name });
  }

  /** A cache of the kind (one namespace or all), kept current by list + watch with these selectors. */
  informer<K extends SeerKind>(
    kind: K,
    options: ListOptions & { onError?: (error: unknown) => void } = {},
  ): Informer<SeerObjects[K]> {
    const { plural } = SEER_RESOURCES[kind];
    const scope = options.namespace ? `/namespaces/${options.namespace}` : '';
    return new Informer<SeerObjects[K]>({
      kubeConfig: this.kubeConfig,
      path: `/apis/${SEER_GROUP}/${SEER_VERSION}${scope}/${plural}`,
      list: () => this.list(kind, options),
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      onError: options.onError,
    });
  }
}
