import { readFile, writeFile } from 'node:fs/promises';
import yaml from 'js-yaml';

/** How a kubeconfig's user authenticates: a client certificate or a bearer token. */
export type KubeconfigCredentials = { clientCertFile: string; clientKeyFile: string } | { token: string };

export interface KubeconfigOptions {
  server: string;
  caCertFile: string;
  clusterName: string;
  userName: string;
  credentials: KubeconfigCredentials;
  namespace?: string;
}

async function base64(file: string): Promise<string> {
  return (await readFile(file)).toString('base64');
}

/** A self-contained kubeconfig (certificates embedded), usable from any directory or host. */
export async function kubeconfigYaml(options: KubeconfigOptions): Promise<string> {
  const { credentials } = options;
  const user =
    'token' in credentials
      ? { token: credentials.token }
      : {
          'client-certificate-data': await base64(credentials.clientCertFile),
          'client-key-data': await base64(credentials.clientKeyFile),
        };
  const context = { cluster: options.clusterName, user: options.userName, namespace: options.namespace };
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: options.clusterName,
        cluster: { server: options.server, 'certificate-authority-data': await base64(options.caCertFile) },
      },
    ],
    users: [{ name: options.userName, user }],
    contexts: [{ name: options.clusterName, context: JSON.parse(JSON.stringify(context)) }],
    'current-context': options.clusterName,
  });
}

export async function writeKubeconfig(file: string, options: KubeconfigOptions): Promise<void> {
  await writeFile(file, await kubeconfigYaml(options), { mode: 0o600 });
}
