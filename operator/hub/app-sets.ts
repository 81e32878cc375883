import type { Logger } from 'pino';
import { setCondition } from '../../api/conditions.js';
import {
  APP_SET_CONDITION,
  APP_SET_FINALIZER,
  APP_SET_LABEL,
  APP_SET_PHASE,
  DEPLOYMENT_LABEL,
  FORGOTTEN_ANNOTATION,
} from '../../api/names.js';
import type { SeerAppSet, SeerAppSetStatus, SeerCluster, SeerDeployment } from '../../api/types.js';
import { errorMessage, isAlreadyExists, isNotFound } from '../../kube/errors.js';
import { addFinalizer, removeFinalizer } from '../../kube/finalizers.js';
import type { Informer } from '../../kube/informer.js';
import { objectKey } from '../../kube/keys.js';
import type { SeerClient } from '../../kube/seer-client.js';
import { whenSynced } from '../runtime/caches.js';
import { QueueController } from '../runtime/controller.js';
import type { Controller, OperatorContext } from '../runtime/context.js';
import { WrittenStatus } from '../runtime/written-status.js';
import { type MemberView, planAppSet, type WantedDeployment } from './app-set-plan.js';
import { KubeconfigError, type MemberClients } from './member-clients.js';
import { MemberDeployments } from './member-deployments.js';

export interface AppSetControllerOptions {
  appSets: Informer<SeerAppSet>;
  clusters: Informer<SeerCluster>;
  members: MemberClients;
}

/** While members are away or objects are going, look again this often even without an event. */
const RETRY_MS = 2000;

/**
 * sym's AppSet controller for Seer: makes each pod set of an app set a SeerDeployment in its member
 * cluster, removes those no longer wanted, rolls new versions wave by wave, and gathers the members'
 * status. Owner references cannot span clusters, so a finalizer on the app set and one on each member
 * deployment keep everything until the members' deployments and their pods are gone.
 */
export class AppSetController implements Controller {
  readonly name = 'app-sets';
  private readonly queue: QueueController;
  private readonly statuses: WrittenStatus<'SeerAppSet'>;
  private readonly memberDeployments: MemberDeployments;
  private readonly logger: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: OperatorContext,
    private readonly options: AppSetControllerOptions,
  ) {
    this.logger = ctx.logger.child({ controller: this.name });
    this.statuses = new WrittenStatus(ctx, 'SeerAppSet');
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    this.memberDeployments = new MemberDeployments(
      options.members,
      (deployment) => {
        const appSet = deployment.metadata.labels?.[APP_SET_LABEL];
        if (appSet) this.queue.enqueue(`${deployment.metadata.namespace ?? 'default'}/${appSet}`);
      },
      this.logger,
    );
    const { appSets, clusters } = options;
    appSets.on('add', (appSet) => this.queue.enqueue(objectKey(appSet)));
    appSets.on('update', (_old, appSet) => this.queue.enqueue(objectKey(appSet)));
    clusters.on('add', () => this.enqueueAll());
    clusters.on('update', (old, cluster) => {
      if (old.status?.phase !== cluster.status?.phase) this.enqueueAll();
    });
    clusters.on('delete', (cluster) => {
      void this.memberDeployments.forget(cluster.metadata.name ?? '');
      this.enqueueAll();
    });
  }

  start(): void {
    const { appSets, clusters } = this.options;
    this.ready = Promise.all([whenSynced(appSets), whenSynced(clusters)]).then(() => this.enqueueAll());
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await this.memberDeployments.stop();
  }

  private enqueueAll(): void {
    for (const appSet of this.options.appSets.list()) this.queue.enqueue(objectKey(appSet));
  }

  private async reconcile(key: string): Promise<void> {
    await this.ready;
    const appSet = this.options.appSets.get(key);
    if (!appSet) {
      this.statuses.forget(key);
      return;
    }
    const { members, clients } = await this.memberViews(appSet);
    if (appSet.metadata.deletionTimestamp) {
      await this.finalize(key, appSet, members, clients);
      return;
    }
    if (!appSet.metadata.finalizers?.includes(APP_SET_FINALIZER)) {
      await addFinalizer(this.ctx.client, 'SeerAppSet', appSet, APP_SET_FINALIZER);
    }
    const plan = planAppSet(appSet, members);
    const failures: string[] = [];
    const attempt = (what: string, write: Promise<unknown>) =>
      write.catch((error: unknown) => {
        failures.push(`${what}: ${errorMessage(error)}`);
      });
    await Promise.all([
      ...plan.creates.map((w) => attempt(`create ${w.cluster}/${w.podSet}`, this.create(clients, w))),
      ...plan.updates.map((u) =>
        attempt(
          `update ${u.cluster}/${u.wanted.podSet}`,
          this.update(clients, u.cluster, u.current, u.wanted, u.template),
        ),
      ),
      ...plan.deletes.map((d) =>
        attempt(
          `delete ${d.cluster}/${d.deployment.metadata.name ?? ''}`,
          this.deleteMember(clients, d.cluster, d.deployment),
        ),
      ),
    ]);
    const released = await this.releaseDeleted(members, clients);
    if (failures.length > 0) {
      // Said where people look, not only in the operator's log.
      plan.conditions = plan.conditions.map((c) =>
        c.type === APP_SET_CONDITION.Available
          ? { ...c, status: 'False', reason: 'MemberWriteFailed', message: failures.join('; ') }
          : c,
      );
    }
    let conditions = appSet.status?.conditions;
    const now = new Date();
    for (const condition of plan.conditions) {
      conditions = setCondition(
        conditions,
        { ...condition, observed_generation: appSet.metadata.generation },
        now,
      );
    }
    await this.writeStatus(key, appSet, { ...plan.status, conditions });
    if (failures.length > 0) {
      this.logger.warn({ appSet: key, failures }, 'member writes failed');
      throw new Error(failures.join('; '));
    }
    if (plan.status.phase !== APP_SET_PHASE.Running || !released) this.queue.enqueueAfter(key, RETRY_MS);
  }

  /** Each SeerCluster's phase and the app set's deployments there, with the members' clients. */
  private async memberViews(
    appSet: SeerAppSet,
  ): Promise<{ members: MemberView[]; clients: Map<string, SeerClient> }> {
    const members: MemberView[] = [];
    const clients = new Map<string, SeerClient>();
    const name = appSet.metadata.name;
    const namespace = appSet.metadata.namespace ?? 'default';
    for (const cluster of this.options.clusters.list()) {
      const clusterName = cluster.metadata.name ?? '';
      let phase = cluster.status?.phase ?? 'Unchecked';
      try {
        clients.set(clusterName, await this.memberDeployments.clientFor(cluster));
      } catch (error) {
        if (!(error instanceof KubeconfigError)) throw error;
        phase = 'Invalid';
      }
      const deployments = this.memberDeployments
        .deployments(clusterName)
        ?.filter((d) => d.metadata.namespace === namespace && d.metadata.labels?.[APP_SET_LABEL] === name);
      members.push({ name: clusterName, phase, deployments });
    }
    return { members, clients };
  }

  private async create(clients: Map<string, SeerClient>, wanted: WantedDeployment): Promise<void> {
    const client = this.clientOf(clients, wanted.cluster);
    try {
      await client.create('SeerDeployment', wanted.deployment);
    } catch (error) {
      if (isAlreadyExists(error)) {
        // Ours would be in the cache (it selects this app set's label): this one belongs to someone else.
        throw new Error(
          `a SeerDeployment ${wanted.deployment.metadata.name ?? ''} that is not this app set's already exists there`,
        );
      }
      if (!isNotFound(error)) throw error;
      // The namespace does not exist in the member yet: make it, as the app set's namespace in the hub.
      const namespace = wanted.deployment.metadata.namespace ?? 'default';
      await client.rest
        .request('POST', '/api/v1/namespaces', {
          body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
        })
        .catch((failed: unknown) => {
          if (!isAlreadyExists(failed)) throw failed;
        });
      await client.create('SeerDeployment', wanted.deployment);
    }
  }

  private async update(
    clients: Map<string, SeerClient>,
    cluster: string,
    current: SeerDeployment,
    wanted: WantedDeployment,
    template: boolean,
  ): Promise<void> {
    const client = this.clientOf(clients, cluster);
    if (!template) {
      await client.patch('SeerDeployment', current, { spec: { replicas: wanted.deployment.spec.replicas } });
      return;
    }
    // A replace, with the cached resourceVersion: fields the app set no longer sets go away, and a
    // deployment changed meanwhile is retried from the fresh cache.
    const { metadata } = wanted.deployment;
    await client.replace('SeerDeployment', {
      ...current,
      metadata: {
        ...current.metadata,
        labels: metadata.labels,
        annotations: { ...current.metadata.annotations, ...metadata.annotations },
      },
      spec: wanted.deployment.spec,
    });
  }

  private async deleteMember(
    clients: Map<string, SeerClient>,
    cluster: string,
    deployment: SeerDeployment,
  ): Promise<void> {
    await this.clientOf(clients, cluster)
      .delete('SeerDeployment', deployment)
      .catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
  }

  private clientOf(clients: Map<string, SeerClient>, cluster: string): SeerClient {
    const client = clients.get(cluster);
    if (!client) throw new Error(`no client for member ${cluster}`);
    return client;
  }

  /**
   * Removes the hub's finalizer from the app set's deleted member deployments whose pods are all gone
   * (so no process of theirs runs on any host). True when none is left waiting.
   */
  private async releaseDeleted(members: MemberView[], clients: Map<string, SeerClient>): Promise<boolean> {
    let released = true;
    for (const member of members) {
      const client = clients.get(member.name);
      if (member.phase !== 'Reachable' || !client) continue;
      for (const deployment of member.deployments ?? []) {
        if (!deployment.metadata.deletionTimestamp) continue;
        released = false;
        const pods = await client.list('SeerPod', {
          namespace: deployment.metadata.namespace,
          labelSelector: `${DEPLOYMENT_LABEL}=${deployment.metadata.name ?? ''}`,
        });
        if (pods.items.length === 0) {
          await removeFinalizer(client, 'SeerDeployment', deployment, APP_SET_FINALIZER);
        }
      }
    }
    return released;
  }

  /**
   * The app set is deleted: delete its deployments in every member, wait until they and their pods are
   * gone, and only then let the app set go. A member that cannot be reached keeps it Terminating, named
   * in a condition, until it is back or `seer cluster forget` gives up on it.
   */
  private async finalize(
    key: string,
    appSet: SeerAppSet,
    members: MemberView[],
    clients: Map<string, SeerClient>,
  ): Promise<void> {
    if (!appSet.metadata.finalizers?.includes(APP_SET_FINALIZER)) return;
    // A string in JSON, whatever client-node's type says.
    const deletedAt = new Date(appSet.metadata.deletionTimestamp ?? 0).getTime();
    const named = new Set(appSet.spec.cluster_topology.clusters.map((c) => c.name));
    const waiting: string[] = [];
    for (const member of members) {
      const forgottenAt = this.options.clusters.get(member.name)?.metadata.annotations?.[
        FORGOTTEN_ANNOTATION
      ];
      if (forgottenAt && Date.parse(forgottenAt) >= deletedAt) continue;
      const client = clients.get(member.name);
      if (member.phase !== 'Reachable' || !member.deployments || !client) {
        // Away: it may hold deployments (the cache keeps what it last saw; a named cluster may have
        // some the hub has not seen yet).
        if (named.has(member.name) || (member.deployments?.length ?? 0) > 0)
          waiting.push(`${member.name} (${member.phase})`);
        continue;
      }
      if (member.deployments.length === 0) continue;
      waiting.push(
        `${member.name} (${member.deployments.length} deployment${member.deployments.length === 1 ? '' : 's'})`,
      );
      await Promise.all(
        member.deployments
          .filter((d) => !d.metadata.deletionTimestamp)
          .map((d) => this.deleteMember(clients, member.name, d)),
      );
    }
    await this.releaseDeleted(members, clients);
    if (waiting.length === 0) {
      await removeFinalizer(this.ctx.client, 'SeerAppSet', appSet, APP_SET_FINALIZER);
      this.statuses.forget(key);
      return;
    }
    const conditions = setCondition(appSet.status?.conditions, {
      type: APP_SET_CONDITION.Terminating,
      status: 'True',
      reason: 'WaitingForMembers',
      message: `waiting for ${waiting.join(', ')}; seer cluster forget NAME gives up on a member`,
      observed_generation: appSet.metadata.generation,
    });
    await this.writeStatus(key, appSet, { ...appSet.status, phase: APP_SET_PHASE.Terminating, conditions });
    this.queue.enqueueAfter(key, RETRY_MS);
  }

  private async writeStatus(key: string, appSet: SeerAppSet, status: SeerAppSetStatus): Promise<void> {
    const previous = this.statuses.previous(key, appSet);
    await this.statuses.write(key, { ...appSet, status: previous }, status);
  }
}
