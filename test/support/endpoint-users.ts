import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { addNode } from '../../cli/commands/node-credentials.js';
import { repoPath } from '../../common/paths.js';
import { connectionFromKubeconfig, type RestClient } from '../../kube/rest.js';
import type { TestCluster } from './control-plane.js';

/** Creates the chart's user ClusterRoles (seer-logs-reader, seer-exec …), as `helm install` would. */
export async function applyChartUserRoles(cluster: TestCluster): Promise<void> {
  const rendered = await cluster.helm([
    'template',
    'seer-operator',
    repoPath('helm', 'seer-operator'),
    '--show-only',
    'templates/user-roles.yaml',
  ]);
  assert.equal(rendered.code, 0, rendered.stderr);
  await cluster.kubectlOk(['apply', '-f', '-'], rendered.stdout);
}

/** Joins `node` as `seer node add` does and writes its agent's kubeconfig to `dir`; returns the file. */
export async function nodeKubeconfig(
  cluster: TestCluster,
  rest: RestClient,
  node: string,
  dir: string,
): Promise<string> {
  const connection = connectionFromKubeconfig(cluster.kubeconfig);
  const file = path.join(dir, `${node}.kubeconfig`);
  await writeFile(file, await addNode(rest, node, { server: connection.server, caData: connection.ca }));
  return file;
}

/** A kubeconfig for the test cluster with these user credentials, written to `dir`; returns the file. */
export async function userKubeconfig(
  cluster: TestCluster,
  dir: string,
  name: string,
  user: Record<string, string>,
  namespace: string,
): Promise<string> {
  const connection = connectionFromKubeconfig(cluster.kubeconfig);
  const file = path.join(dir, `${name}.kubeconfig`);
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'test',
          cluster: {
            server: connection.server,
            'certificate-authority-data': connection.ca?.toString('base64'),
          },
        },
      ],
      users: [{ name, user }],
      contexts: [{ name, context: { cluster: 'test', user: name, namespace } }],
      'current-context': name,
    }),
  );
  return file;
}
