import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { AGENT_FINALIZER, NODE_NAME_FIELD } from '../../api/names.js';
import type { SeerPod, SeerPodStatus } from '../../api/types.js';
import { errorMessage } from '../../kube/errors.js';
import { addFinalizer, removeFinalizer } from '../../kube/finalizers.js';
import type { Informer } from '../../kube/informer.js';
import { objectKey } from '../../kube/keys.js';
import type { SeerClient } from '../../kube/seer-client.js';

/** A pod status where null removes a field, as in a JSON merge patch. */
export type StatusPatch = { [K in keyof SeerPodStatus]: SeerPodStatus[K] | null };

/**
 * Where the agent learns which pods to run and reports on them: the API server, or a directory of
 * manifests when there is no cluster. Emits `changed` with a pod key whenever a pod may need work.
 */
export interface PodStore extends EventEmitter<{ changed: [string] }> {
  /** Resolves once the store knows every pod bound to this node. */
  start(): Promise<void>;
  stop(): Promise<void>;
  get(key: string): SeerPod | undefined;
  list(): SeerPod[];
  /** Reads the pod afresh from its source, not from what the store has seen; undefined once gone. */
  read(key: string): Promise<SeerPod | undefined>;
  /**
   * Writes the status as a merge patch: fields set to null are removed. With a resourceVersion, the
   * write fails with a conflict (409) unless the pod is still at that version. Resolves to the pod as
   * written, when the source says.
   */
  writeStatus(pod: SeerPod, status: StatusPatch, resourceVersion?: string): Promise<SeerPod | void>;
  /** Adds the agent's finalizer (before anything is created on the host for the pod). */
  addFinalizer(pod: SeerPod): Promise<void>;
  /** Removes the agent's finalizer once the host is clean, letting a deleted pod go. */
  removeFinalizer(pod: SeerPod): Promise<void>;
}

/** The pods bound to this node, watched with a server-side field selector on spec.node_name. */
export class ApiPodStore extends EventEmitter<{ changed: [string] }> implements PodStore {
  private readonly informer: Informer<SeerPod>;

  constructor(
    private readonly client: SeerClient,
    nodeName: string,
    private readonly logger: Logger,
  ) {
    super();
    this.informer = client.informer('SeerPod', {
      fieldSelector: `${NODE_NAME_FIELD}=${nodeName}`,
      onError: (error) =>
        logger.warn({ err: errorMessage(error) }, 'pod watch failed; relisting with backoff'),
    });
    const changed = (pod: SeerPod) => this.emit('changed', objectKey(pod));
    this.informer.on('add', changed);
    this.informer.on('update', (_old, pod) => changed(pod));
    this.informer.on('delete', changed);
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  get(key: string): SeerPod | undefined {
    return this.informer.get(key);
  }

  list(): SeerPod[] {
    return this.informer.list();
  }

  read(key: string): Promise<SeerPod | undefined> {
    const [namespace = '', name = ''] = key.split('/');
    return this.client.find('SeerPod', name, namespace);
  }

  writeStatus(pod: SeerPod, status: StatusPatch, resourceVersion?: string): Promise<SeerPod> {
    return this.client.patchStatus('SeerPod', pod, status, { resourceVersion });
  }

  async addFinalizer(pod: SeerPod): Promise<void> {
    await addFinalizer(this.client, 'SeerPod', pod, AGENT_FINALIZER);
  }

  async removeFinalizer(pod: SeerPod): Promise<void> {
    await removeFinalizer(this.client, 'SeerPod', pod, AGENT_FINALIZER);
  }
}
