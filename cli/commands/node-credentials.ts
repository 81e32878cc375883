import { chmod, readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { NODE_LEASE_NAMESPACE, SEER_NAMESPACE } from '../../api/names.js';
import { repoPath } from '../../common/paths.js';
import { isNotFound } from '../../kube/errors.js';
import { connectionFromKubeconfig, RestClient } from '../../kube/rest.js';
import { UsageError } from '../command.js';
import { NODE_LABEL } from '../../api/names.js';
import { resolveKubeconfig } from '../kubeconfig.js';

/** Where node agents' ServiceAccounts live. */
export const NODE_CREDENTIALS_NAMESPACE = SEER_NAMESPACE;
/** The shared ClusterRole (and Role in kube-node-lease) every node's agent is bound to. */
export const NODE_ROLE = 'seer:node';
/** One year: how long a node's token is valid unless told otherwise. */
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 365 * 24 * 60 * 60;
const FIELD_MANAGER = 'seer';

/** A node agent's ServiceAccount (and its bindings): `seer-node-NAME`; the policy relies on this name. */
export function nodeServiceAccountName(node: string): string {
  return `seer-node-${node}`;
}

/** The username the API server gives a node agent's token. */
export function nodeUsername(node: string): string {
  return `system:serviceaccount:${NODE_CREDENTIALS_NAMESPACE}:${nodeServiceAccountName(node)}`;
}

export interface AddNodeOptions {
  /** The API server the agent dials, as the admin kubeconfig names it. */
  server: string;
  /** The cluster's CA certificate (PEM); absent when the admin kubeconfig skips verification. */
  caData?: Buffer;
  insecureSkipTlsVerify?: boolean;
  /** Lifetime of the token (TokenRequest spec.expirationSeconds); default one year. */
  expirationSeconds?: number;
  /** The shared manifests (namespace, roles, admission policy); default deploy/node-restriction.yaml. */
  manifestsFile?: string;
}

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

const RESOURCES: Record<string, { group: string; plural: string; namespaced: boolean }> = {
  Namespace: { group: '', plural: 'namespaces', namespaced: false },
  ServiceAccount: { group: '', plural: 'serviceaccounts', namespaced: true },
  ClusterRole: { group: 'rbac.authorization.k8s.io', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: {
    group: 'rbac.authorization.k8s.io',
    plural: 'clusterrolebindings',
    namespaced: false,
  },
  Role: { group: 'rbac.authorization.k8s.io', plural: 'roles', namespaced: true },
  RoleBinding: { group: 'rbac.authorization.k8s.io', plural: 'rolebindings', namespaced: true },
  ValidatingAdmissionPolicy: {
    group: 'admissionregistration.k8s.io',
    plural: 'validatingadmissionpolicies',
    namespaced: false,
  },
  ValidatingAdmissionPolicyBinding: {
    group: 'admissionregistration.k8s.io',
    plural: 'validatingadmissionpolicybindings',
    namespaced: false,
  },
};

/** The API path of an object of one of the kinds above. */
export function objectPath(object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const resource = RESOURCES[object.kind];
  if (!resource) throw new Error(`unsupported kind ${object.kind}`);
  const base = resource.group ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
  const namespace = resource.namespaced ? `/namespaces/${object.metadata.namespace ?? 'default'}` : '';
  return `${base}${namespace}/${resource.plural}/${object.metadata.name}`;
}

/** Creates or updates `object` (server-side apply): running it twice changes nothing. */
async function apply(rest: RestClient, object: KubeObject): Promise<void> {
  await rest.request('PATCH', objectPath(object), {
    body: object,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: FIELD_MANAGER, force: true },
  });
}

/**
 * Whether `object` exists and a Helm release manages it (the chart installs the node restriction
 * policy): the release keeps it up to date, and applying this copy over it would take its fields
 * from Helm.
 */
async function managedByHelm(rest: RestClient, object: KubeObject): Promise<boolean> {
  try {
    const current = await rest.request<KubeObject>('GET', objectPath(object));
    return current.metadata.labels?.['app.kubernetes.io/managed-by'] === 'Helm';
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** The shared objects every node needs: the namespace, the roles and the node restriction policy. */
export async function nodeRestrictionManifests(
  file = repoPath('deploy', 'node-restriction.yaml'),
): Promise<KubeObject[]> {
  return yaml.loadAll(await readFile(file, 'utf8')).filter((o): o is KubeObject => !!o) as KubeObject[];
}

/** The per-node objects: its ServiceAccount and the bindings of the shared roles to it. */
export function nodeObjects(node: string): KubeObject[] {
  const name = nodeServiceAccountName(node);
  const labels = { [NODE_LABEL]: node };
  const subjects = [{ kind: 'ServiceAccount', name, namespace: NODE_CREDENTIALS_NAMESPACE }];
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace: NODE_CREDENTIALS_NAMESPACE, labels },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: NODE_ROLE },
      subjects,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: NODE_LEASE_NAMESPACE, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: NODE_ROLE },
      subjects,
    },
  ];
}

/** Node names are Kubernetes object names, and `seer-node-NAME` must be one too. */
export function checkNodeName(name: string): void {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253 - 'seer-node-'.length) {
    throw new UsageError(`node name ${JSON.stringify(name)} is not a valid Kubernetes object name`);
  }
}

/** A kubeconfig for a node's agent: the cluster's server and CA and the node's token. */
export function nodeKubeconfigYaml(
  node: string,
  options: { server: string; caData?: Buffer; insecureSkipTlsVerify?: boolean; token: string },
): string {
  const user = nodeServiceAccountName(node);
  const cluster: Record<string, string | boolean> = { server: options.server };
  if (options.caData) cluster['certificate-authority-data'] = options.caData.toString('base64');
  if (options.insecureSkipTlsVerify) cluster['insecure-skip-tls-verify'] = true;
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'seer', cluster }],
    users: [{ name: user, user: { token: options.token } }],
    contexts: [{ name: user, context: { cluster: 'seer', user } }],
    'current-context': user,
  });
}

/**
 * Creates (or refreshes) a node's credentials and returns its agent's kubeconfig: installs the
 * shared roles and the node restriction policy (leaving what the Helm chart installed to it), the
 * node's ServiceAccount and bindings, and asks the TokenRequest API for a token. Running it again
 * issues a new token; earlier ones stay valid until they expire or the node is removed.
 */
export async function addNode(rest: RestClient, name: string, options: AddNodeOptions): Promise<string> {
  checkNodeName(name);
  const expirationSeconds = options.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_SECONDS;
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < 600) {
    throw new UsageError(
      `expiration must be a whole number of seconds, at least 600, not ${expirationSeconds}`,
    );
  }
  for (const object of await nodeRestrictionManifests(options.manifestsFile))
    if (!(await managedByHelm(rest, object))) await apply(rest, object);
  for (const object of nodeObjects(name)) await apply(rest, object);
  const account = nodeServiceAccountName(name);
  const response = await rest.request<{ status?: { token?: string } }>(
    'POST',
    `/api/v1/namespaces/${NODE_CREDENTIALS_NAMESPACE}/serviceaccounts/${account}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds },
      },
    },
  );
  const token = response.status?.token;
  if (!token) throw new Error(`the API server returned no token for ${account}`);
  return nodeKubeconfigYaml(name, { ...options, token });
}

/**
 * Revokes a node's credentials: deletes its bindings and its ServiceAccount, whose tokens the API
 * server refuses from then on. Resolves with false when the node had no credentials.
 */
export async function removeNode(rest: RestClient, name: string): Promise<boolean> {
  checkNodeName(name);
  let found = false;
  // The ServiceAccount last: while it exists, its tokens must already have lost their bindings.
  for (const object of nodeObjects(name).reverse()) {
    try {
      await rest.request('DELETE', objectPath(object));
      found = true;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  return found;
}

export const NODE_CREDENTIALS_USAGE = `usage:
  seer node add NAME       create credentials for the agent of node NAME and print its kubeconfig
                           [-o FILE] write the kubeconfig to FILE (mode 0600) instead
                           [--expiration-seconds N] token lifetime (default ${DEFAULT_TOKEN_EXPIRATION_SECONDS}, one year)
  seer node remove NAME    revoke them: the agent's token is refused from then on
options: --kubeconfig FILE (an administrator's)`;

function parseNodeArgs(args: string[], extra: { output?: boolean }) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        kubeconfig: { type: 'string' },
        ...(extra.output
          ? {
              output: { type: 'string', short: 'o' },
              'expiration-seconds': { type: 'string' },
            }
          : {}),
      },
    });
  } catch (error) {
    throw new UsageError(
      `${error instanceof Error ? error.message : String(error)}\n${NODE_CREDENTIALS_USAGE}`,
    );
  }
  const { values, positionals } = parsed;
  const [name] = positionals;
  if (name === undefined || positionals.length !== 1) throw new UsageError(NODE_CREDENTIALS_USAGE);
  return { name, values: values as Record<string, string | undefined> };
}

/** `seer node add NAME [--kubeconfig F] [-o FILE] [--expiration-seconds N]`. */
export async function runNodeAdd(args: string[]): Promise<void> {
  const { name, values } = parseNodeArgs(args, { output: true });
  const seconds = values['expiration-seconds'];
  const expirationSeconds = seconds === undefined ? undefined : Number(seconds);
  const file = resolveKubeconfig(values.kubeconfig);
  const connection = connectionFromKubeconfig(file);
  const rest = new RestClient(connection);
  try {
    const kubeconfig = await addNode(rest, name, {
      server: connection.server,
      caData: connection.ca,
      insecureSkipTlsVerify: connection.insecureSkipTlsVerify,
      expirationSeconds,
    });
    if (values.output) {
      await writeFile(values.output, kubeconfig, { mode: 0o600 });
      await chmod(values.output, 0o600);
      console.error(`node/${name} credentials written to ${values.output}`);
    } else {
      process.stdout.write(kubeconfig);
    }
  } finally {
    rest.close();
  }
}

/** `seer node remove NAME [--kubeconfig F]`. */
export async function runNodeRemove(args: string[]): Promise<void> {
  const { name, values } = parseNodeArgs(args, {});
  const rest = new RestClient(connectionFromKubeconfig(resolveKubeconfig(values.kubeconfig)));
  try {
    const found = await removeNode(rest, name);
    console.log(found ? `node/${name} credentials revoked` : `node/${name} had no credentials`);
  } finally {
    rest.close();
  }
}
