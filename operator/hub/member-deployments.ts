import type { Logger } from 'pino';
import { APP_SET_LABEL, MEMBER_CLUSTER_LABEL } from '../../api/names.js';
import type { SeerCluster, SeerDeployment } from '../../api/types.js';
import { errorMessage } from '../../kube/errors.js';
import type { Informer } from '../../kube/informer.js';
import type { SeerClient } from '../../kube/seer-client.js';
import type { MemberClients } from './member-clients.js';

interface MemberCache {
  client: SeerClient;
  informer: Informer<SeerDeployment>;
}

/**
 * The hub's cache of app set deployments in each member: one informer per member (of the
 * SeerDeployments the hub made there through that SeerCluster), remade when the member's client
 * changes (a rotated kubeconfig) and dropped with the SeerCluster. A member that goes away keeps its
 * last contents while its informer retries, so nothing is taken for deleted because it is unreachable.
 */
export class MemberDeployments {
  private readonly caches = new Map<string, MemberCache>();

  constructor(
    private readonly members: MemberClients,
    private readonly onChange: (deployment: SeerDeployment) => void,
    private readonly logger: Logger,
  ) {}

  /**
   * The member's client (the one the health check keeps current, else made now), with its cache
   * started; throws a KubeconfigError when there is none to be made.
   */
  async clientFor(cluster: SeerCluster): Promise<SeerClient> {
    const name = cluster.metadata.name ?? '';
    const client = this.members.current(name) ?? (await this.members.clientFor(cluster));
    const known = this.caches.get(name);
    if (known?.client === client) return client;
    if (known) void known.informer.stop();
    const informer = client.informer('SeerDeployment', {
      labelSelector: `${APP_SET_LABEL},${MEMBER_CLUSTER_LABEL}=${name}`,
      onError: (error) =>
        this.logger.warn(
          { cluster: name, err: errorMessage(error) },
          'member watch failed; relisting with backoff',
        ),
    });
    const changed = this.onChange;
    informer.on('add', changed);
    informer.on('update', (_old, deployment) => changed(deployment));
    informer.on('delete', changed);
    informer.on('synced', () => {
      for (const deployment of informer.list()) changed(deployment);
    });
    void informer.start();
    this.caches.set(name, { client, informer });
    return client;
  }

  /** The app set deployments in the member, or undefined before its cache has been filled. */
  deployments(cluster: string): SeerDeployment[] | undefined {
    const informer = this.caches.get(cluster)?.informer;
    return informer?.hasSynced ? informer.list() : undefined;
  }

  /** The members with a cache, so deployments left in clusters no longer named are found. */
  clusters(): string[] {
    return [...this.caches.keys()];
  }

  async forget(cluster: string): Promise<void> {
    const known = this.caches.get(cluster);
    this.caches.delete(cluster);
    await known?.informer.stop();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.caches.keys()].map((name) => this.forget(name)));
  }
}
