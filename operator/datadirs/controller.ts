import type { Logger } from 'pino';
import { DATA_DIR_FINALIZER, NODE_LABEL, SEER_API_VERSION } from '../../api/names.js';
import type { SeerDataDir, SeerPod } from '../../api/types.js';
import { isAlreadyExists, isConflict, isNotFound } from '../../kube/errors.js';
import { addFinalizer, removeFinalizer } from '../../kube/finalizers.js';
import { objectKey, splitKey } from '../../kube/keys.js';
import { ClaimBindings, podClaimKeys } from '../../workloads/data-dirs.js';
import { whenSynced } from '../runtime/caches.js';
import { QueueController } from '../runtime/controller.js';
import type { Controller, OperatorContext } from '../runtime/context.js';

/**
 * Records where each claimed data dir is: when a pod claiming data is bound to a node (by the
 * scheduler, or created bound), its SeerDataDir is created on that node — or, written by hand without
 * a node, given that node — with the node label the agent selects on and the finalizer that lets the
 * agent remove the directory before the object goes. A deleted SeerDataDir whose node is gone has no
 * agent left to clean up: its finalizer is removed here.
 */
export class DataDirController implements Controller {
  readonly name = 'datadir';
  private readonly queue: QueueController;
  private readonly claims = new ClaimBindings();
  private readonly logger: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: OperatorContext) {
    this.logger = ctx.logger.child({ controller: this.name });
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    const { pods, dataDirs, nodes } = ctx.caches;
    pods.on('add', (pod) => this.onPod(pod));
    pods.on('update', (_old, pod) => this.onPod(pod));
    pods.on('delete', (pod) => {
      this.claims.removePod(objectKey(pod));
      for (const claim of podClaimKeys(pod)) this.queue.enqueue(claim);
    });
    dataDirs.on('add', (dataDir) => this.queue.enqueue(objectKey(dataDir)));
    dataDirs.on('update', (_old, dataDir) => this.queue.enqueue(objectKey(dataDir)));
    nodes.on('delete', (node) => {
      for (const dataDir of dataDirs.list()) {
        if (dataDir.spec?.node_name === node.metadata.name) this.queue.enqueue(objectKey(dataDir));
      }
    });
  }

  start(): void {
    const { pods, dataDirs, nodes } = this.ctx.caches;
    this.ready = Promise.all([whenSynced(pods), whenSynced(dataDirs), whenSynced(nodes)]).then(() => {
      for (const pod of pods.list()) this.onPod(pod);
      for (const dataDir of dataDirs.list()) this.queue.enqueue(objectKey(dataDir));
    });
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
  }

  private onPod(pod: SeerPod): void {
    this.claims.putPod(pod);
    if (pod.spec.node_name) for (const claim of podClaimKeys(pod)) this.queue.enqueue(claim);
  }

  private async reconcile(key: string): Promise<void> {
    await this.ready;
    const dataDir = this.ctx.caches.dataDirs.get(key);
    if (dataDir?.metadata.deletionTimestamp) return this.releaseOrphan(dataDir);
    const boundOn = this.claims.nodeOf(key);
    try {
      if (!dataDir) {
        if (boundOn) await this.create(key, boundOn);
        return;
      }
      const node = dataDir.spec?.node_name ?? boundOn;
      if (!node) return;
      if (dataDir.spec?.node_name !== node || dataDir.metadata.labels?.[NODE_LABEL] !== node) {
        await this.ctx.client.patch('SeerDataDir', dataDir, {
          metadata: { resourceVersion: dataDir.metadata.resourceVersion, labels: { [NODE_LABEL]: node } },
          spec: { node_name: node },
        });
        return;
      }
      if (!dataDir.metadata.finalizers?.includes(DATA_DIR_FINALIZER)) {
        await addFinalizer(this.ctx.client, 'SeerDataDir', dataDir, DATA_DIR_FINALIZER);
      }
    } catch (error) {
      // The cache is behind the API server: it will bring the object as it is now.
      if (isAlreadyExists(error) || isConflict(error) || isNotFound(error)) return;
      throw error;
    }
  }

  private async create(key: string, node: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const size = this.claims.sizeOf(key);
    const dataDir: SeerDataDir = {
      apiVersion: SEER_API_VERSION,
      kind: 'SeerDataDir',
      metadata: { name, namespace, labels: { [NODE_LABEL]: node }, finalizers: [DATA_DIR_FINALIZER] },
      spec: size === undefined ? { node_name: node } : { node_name: node, size },
    };
    await this.ctx.client.create('SeerDataDir', dataDir);
    this.logger.info({ dataDir: key, node }, 'data dir placed');
  }

  /** The agent removes the directory and then the finalizer; without a node there is none to do it. */
  private async releaseOrphan(dataDir: SeerDataDir): Promise<void> {
    if (!dataDir.metadata.finalizers?.includes(DATA_DIR_FINALIZER)) return;
    const node = dataDir.spec?.node_name;
    if (node && this.ctx.caches.nodes.get(node)) return;
    await removeFinalizer(this.ctx.client, 'SeerDataDir', dataDir, DATA_DIR_FINALIZER);
    this.logger.info({ dataDir: objectKey(dataDir), node }, 'released a data dir whose node is gone');
  }
}
