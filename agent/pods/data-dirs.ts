import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { DATA_DIR_FINALIZER, DATA_DIR_PHASE, NODE_LABEL } from '../../api/names.js';
import type { SeerDataDir, SeerDataDirStatus, SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { removeFinalizer } from '../../kube/finalizers.js';
import type { Informer } from '../../kube/informer.js';
import { objectKey } from '../../kube/keys.js';
import type { SeerClient } from '../../kube/seer-client.js';
import { podDataDirs } from '../../workloads/data-dirs.js';
import type { HostLayout } from './layout.js';

/** What the data dirs hook asks about the claims of the pods on this node. */
export interface DataDirs {
  /** Why a pod cannot use this claim on this node (yet), or undefined when it can. */
  unavailable(namespace: string, name: string): string | undefined;
  /** Says the claim's directory is made on this node, at `dir`. */
  made(namespace: string, name: string, dir: string): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Without a cluster (pods from manifests) there are no SeerDataDirs: every claim is this node's, and
 * its directory stays until an administrator removes it.
 */
export const localDataDirs: DataDirs = {
  unavailable: () => undefined,
  made: async () => undefined,
  start: async () => undefined,
  stop: async () => undefined,
};

/** How often a deletion waiting for pods to leave looks again. */
const RELEASE_POLL_MS = 1000;

export interface ApiDataDirsOptions {
  client: SeerClient;
  nodeName: string;
  layout: HostLayout;
  /** The pods bound to this node (a data dir in use by one of them is not removed). */
  pods: () => SeerPod[];
  logger: Logger;
}

/**
 * The SeerDataDirs placed on this node, watched by the node label. A pod may use a claim once its
 * SeerDataDir is placed here; its status says when the directory is made. A deleted one is removed
 * from the disk once no pod on this node claims it any more (until then its status says which pods it
 * waits for), and then its finalizer goes, letting the object go.
 */
export class ApiDataDirs implements DataDirs {
  private readonly informer: Informer<SeerDataDir>;
  private readonly releasing = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: ApiDataDirsOptions) {
    const { client, nodeName, logger } = options;
    this.informer = client.informer('SeerDataDir', {
      labelSelector: `${NODE_LABEL}=${nodeName}`,
      onError: (error) =>
        logger.warn({ err: errorMessage(error) }, 'data dir watch failed; relisting with backoff'),
    });
    this.informer.on('add', (dataDir) => void this.release(dataDir));
    this.informer.on('update', (_old, dataDir) => void this.release(dataDir));
  }

  async start(): Promise<void> {
    await this.informer.start();
    this.timer = setInterval(() => {
      for (const dataDir of this.informer.list()) void this.release(dataDir);
    }, RELEASE_POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.informer.stop();
  }

  unavailable(namespace: string, name: string): string | undefined {
    const dataDir = this.informer.get(`${namespace}/${name}`);
    const node = this.options.nodeName;
    if (!dataDir || dataDir.spec?.node_name !== node)
      return `data dir ${name} is not placed on node ${node} yet`;
    if (dataDir.metadata.deletionTimestamp) return `data dir ${name} is being deleted`;
    return undefined;
  }

  async made(namespace: string, name: string, dir: string): Promise<void> {
    const dataDir = this.informer.get(`${namespace}/${name}`);
    if (!dataDir || dataDir.metadata.deletionTimestamp) return;
    await this.writeStatus(dataDir, { phase: DATA_DIR_PHASE.Ready, path: dir });
  }

  /** Removes a deleted data dir's directory and finalizer, once no pod here claims it. */
  private async release(dataDir: SeerDataDir): Promise<void> {
    const key = objectKey(dataDir);
    if (!dataDir.metadata.deletionTimestamp || !dataDir.metadata.finalizers?.includes(DATA_DIR_FINALIZER))
      return;
    if (dataDir.spec?.node_name !== this.options.nodeName || this.releasing.has(key)) return;
    this.releasing.add(key);
    const { namespace = 'default', name = '' } = dataDir.metadata;
    try {
      const users = this.options
        .pods()
        .filter((pod) => (pod.metadata.namespace ?? 'default') === namespace)
        .filter((pod) => podDataDirs(pod).some((mount) => mount.name === name))
        .map((pod) => pod.metadata.name ?? '')
        .sort();
      if (users.length > 0) {
        const pods = `${users.length === 1 ? 'pod' : 'pods'} ${users.join(', ')}`;
        const message = `waiting for ${pods} to stop before removing the data`;
        await this.writeStatus(dataDir, { phase: DATA_DIR_PHASE.Releasing, message });
        return;
      }
      const dir = this.options.layout.dataDir(namespace, name);
      await rm(dir, { recursive: true, force: true });
      await removeFinalizer(this.options.client, 'SeerDataDir', dataDir, DATA_DIR_FINALIZER);
      this.options.logger.info({ dataDir: key, dir }, 'data dir removed');
    } catch (error) {
      if (!isNotFound(error))
        this.options.logger.warn({ dataDir: key, err: errorMessage(error) }, 'data dir release failed');
    } finally {
      this.releasing.delete(key);
    }
  }

  /** Writes the status only when it differs from what the object has. */
  private async writeStatus(dataDir: SeerDataDir, status: SeerDataDirStatus): Promise<void> {
    const current = dataDir.status ?? {};
    if (current.phase === status.phase && current.path === status.path && current.message === status.message)
      return;
    await this.options.client.patchStatus('SeerDataDir', dataDir, {
      phase: status.phase,
      path: status.path ?? current.path ?? null,
      message: status.message ?? null,
    });
  }
}
