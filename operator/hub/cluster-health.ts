import type { Logger } from 'pino';
import { setCondition } from '../../api/conditions.js';
import { CLUSTER_CONDITION, CLUSTER_PHASE, NODE_PHASE, SEER_RESOURCES } from '../../api/names.js';
import type { SeerCluster, SeerClusterStatus, SeerNode } from '../../api/types.js';
import { errorMessage } from '../../kube/errors.js';
import type { Informer } from '../../kube/informer.js';
import { objectKey } from '../../kube/keys.js';
import type { SeerList } from '../../kube/seer-client.js';
import { whenSynced } from '../runtime/caches.js';
import { QueueController } from '../runtime/controller.js';
import type { Controller, OperatorContext } from '../runtime/context.js';
import { WrittenStatus } from '../runtime/written-status.js';
import { KubeconfigError, type MemberClients } from './member-clients.js';

export interface ClusterHealthOptions {
  clusters: Informer<SeerCluster>;
  /** How often each member is checked. */
  intervalMs: number;
  /** How long one check may take before the member counts as unreachable. */
  timeoutMs: number;
  /** The members' clients, shared with the app set controller. */
  members: MemberClients;
}

/**
 * The hub's background check of each member cluster: reads its SeerNodes with the kubeconfig from
 * its Secret and reports reachability, the last heartbeat, node counts and the agents' Seer versions.
 * An unreachable member is only reported: nothing anywhere is changed or deleted because of it.
 */
export class ClusterHealthController implements Controller {
  readonly name = 'cluster-health';
  private readonly queue: QueueController;
  private readonly statuses: WrittenStatus<'SeerCluster'>;
  private readonly members: MemberClients;
  private readonly logger: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: OperatorContext,
    private readonly options: ClusterHealthOptions,
  ) {
    this.logger = ctx.logger.child({ controller: this.name });
    this.statuses = new WrittenStatus(ctx, 'SeerCluster');
    this.members = options.members;
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    const { clusters } = options;
    clusters.on('add', (cluster) => this.queue.enqueue(objectKey(cluster)));
    clusters.on('update', (old, cluster) => {
      // Status writes come back as updates; only a spec change needs a check before the next one.
      if (old.metadata.generation !== cluster.metadata.generation) this.queue.enqueue(objectKey(cluster));
    });
    clusters.on('delete', (cluster) => this.queue.enqueue(objectKey(cluster)));
  }

  start(): void {
    this.ready = whenSynced(this.options.clusters).then(() => {
      for (const cluster of this.options.clusters.list()) this.queue.enqueue(objectKey(cluster));
    });
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    await this.ready;
    const cluster = this.options.clusters.get(key);
    if (!cluster) {
      this.members.forget(key);
      this.countByPhase();
      return;
    }
    const status = await this.check(cluster);
    const reason = status.conditions?.find((c) => c.type === CLUSTER_CONDITION.Reachable)?.reason;
    this.logger.debug({ cluster: key, phase: status.phase, reason }, 'checked member cluster');
    const previous = this.statuses.previous(key, cluster);
    await this.statuses.write(key, { ...cluster, status: previous }, status);
    this.countByPhase();
    this.queue.enqueueAfter(key, this.options.intervalMs);
  }

  private async check(cluster: SeerCluster): Promise<SeerClusterStatus> {
    const now = new Date();
    const previous = cluster.status ?? {};
    const generation = cluster.metadata.generation;
    const failed = (phase: SeerClusterStatus['phase'], reason: string, message: string) => ({
      ...previous,
      phase,
      observed_generation: generation,
      conditions: setCondition(
        previous.conditions,
        {
          type: CLUSTER_CONDITION.Reachable,
          status: 'False',
          reason,
          message,
          observed_generation: generation,
        },
        now,
      ),
    });
    let client;
    try {
      client = await this.members.clientFor(cluster);
    } catch (error) {
      if (error instanceof KubeconfigError) return failed(CLUSTER_PHASE.Invalid, error.reason, error.message);
      throw error;
    }
    try {
      const nodes: SeerList<SeerNode> = await client.rest.request(
        'GET',
        client.collectionPath(SEER_RESOURCES.SeerNode.kind),
        { timeoutMs: this.options.timeoutMs },
      );
      const ready = nodes.items.filter((n) => n.status?.phase === NODE_PHASE.Ready).length;
      const versions = [
        ...new Set(nodes.items.flatMap((n) => n.status?.node_info?.agent_version ?? [])),
      ].sort();
      return {
        phase: CLUSTER_PHASE.Reachable,
        server: client.rest.connection.server,
        last_heartbeat_time: now.toISOString(),
        seer_version: versions.join(', ') || undefined,
        nodes: `${ready}/${nodes.items.length}`,
        node_count: nodes.items.length,
        ready_node_count: ready,
        observed_generation: generation,
        conditions: setCondition(
          previous.conditions,
          {
            type: CLUSTER_CONDITION.Reachable,
            status: 'True',
            reason: 'Reachable',
            message: 'the API server answered',
            observed_generation: generation,
          },
          now,
        ),
      };
    } catch (error) {
      this.logger.warn(
        { cluster: cluster.metadata.name, err: errorMessage(error) },
        'member cluster unreachable',
      );
      return {
        ...failed(CLUSTER_PHASE.Unreachable, 'Unreachable', errorMessage(error)),
        server: client.rest.connection.server,
      };
    }
  }

  private countByPhase(): void {
    const counts = new Map<string, number>(Object.values(CLUSTER_PHASE).map((phase) => [phase, 0]));
    for (const cluster of this.options.clusters.list()) {
      const phase = cluster.status?.phase;
      if (phase) counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    for (const [phase, count] of counts) this.ctx.metrics.memberClusters.set({ phase }, count);
  }
}
