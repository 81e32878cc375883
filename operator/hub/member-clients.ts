import { KUBECONFIG_SECRET_KEY, SEER_NAMESPACE } from '../../api/names.js';
import type { SeerCluster } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { connectionFromKubeconfigText, RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';

/** Why a member's kubeconfig cannot be used, as the SeerCluster's condition reason says. */
export class KubeconfigError extends Error {
  constructor(
    readonly reason: 'KubeconfigMissing' | 'KubeconfigInvalid',
    message: string,
  ) {
    super(message);
  }
}

interface Secret {
  metadata: { uid?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

interface Member {
  /** The Secret's uid, resourceVersion and key the client was made from. */
  source: string;
  client: SeerClient;
}

/**
 * One client per member cluster, made from the kubeconfig in its Secret (read from the hub at each
 * use, so a rotated Secret takes effect at the next check) and remade only when that Secret changes.
 */
export class MemberClients {
  private readonly members = new Map<string, Member>();

  constructor(private readonly hub: RestClient) {}

  async clientFor(cluster: SeerCluster): Promise<SeerClient> {
    const name = cluster.metadata.name ?? '';
    const ref = cluster.spec.kubeconfig_secret;
    const namespace = ref.namespace || SEER_NAMESPACE;
    const key = ref.key || KUBECONFIG_SECRET_KEY;
    const where = `Secret ${namespace}/${ref.name}`;
    let secret: Secret;
    try {
      secret = await this.hub.request('GET', `/api/v1/namespaces/${namespace}/secrets/${ref.name}`);
    } catch (error) {
      if (isNotFound(error)) throw new KubeconfigError('KubeconfigMissing', `${where} does not exist`);
      throw error;
    }
    const source = `${secret.metadata.uid}/${secret.metadata.resourceVersion}/${key}`;
    const known = this.members.get(name);
    if (known?.source === source) return known.client;
    const data = secret.data?.[key];
    if (data === undefined) throw new KubeconfigError('KubeconfigMissing', `${where} has no key ${key}`);
    let connection;
    try {
      connection = connectionFromKubeconfigText(
        Buffer.from(data, 'base64').toString('utf8'),
        `${where} key ${key}`,
      );
    } catch (error) {
      const message = errorMessage(error);
      throw new KubeconfigError(
        'KubeconfigInvalid',
        message.startsWith(where) ? message : `${where} key ${key}: ${message}`,
      );
    }
    this.forget(name);
    const client = new SeerClient(new RestClient(connection));
    this.members.set(name, { source, client });
    return client;
  }

  /**
   * The client last made for the member, without reading its Secret: the health check refreshes it
   * every interval, so the app sets need not read the Secret at every reconcile.
   */
  current(name: string): SeerClient | undefined {
    return this.members.get(name)?.client;
  }

  /** Closes the client of a member that is gone. */
  forget(name: string): void {
    this.members.get(name)?.client.rest.close();
    this.members.delete(name);
  }

  closeAll(): void {
    for (const name of [...this.members.keys()]) this.forget(name);
  }
}
