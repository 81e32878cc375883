import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATA_DIR_FINALIZER, NODE_LABEL } from '../../api/names.js';
import type { Container, SeerDataDir, SeerPod } from '../../api/types.js';
import { addNode } from '../../cli/commands/node-credentials.js';
import { objectRef } from '../../kube/keys.js';
import { connectionFromKubeconfig, RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import {
  eventually,
  killManagedProcesses,
  startAgentProcess,
  type AgentProcess,
  type SeerProcess,
} from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { forbidden } from '../support/node-credentials.js';
import { startOperatorProcess } from '../support/operator.js';
import { makePackage, seerPod, SLEEPER } from '../support/pods.js';

const NODES = ['node-1', 'node-2'];

let cluster: TestCluster;
let client: SeerClient;
let work: string;
const kubeconfigs = new Map<string, string>();
const agents = new Map<string, AgentProcess>();
let operator: SeerProcess;
let writer: { reference: string; digest: string };
let plain: { reference: string; digest: string };

/** Appends a line naming the pod to data/lines at each start, then runs until stopped. */
const WRITER = `#!/bin/sh
echo "$SEER_POD_NAME" >> data/lines
trap 'exit 0' TERM
while true; do sleep 0.2; done
`;

function startAgent(node: string): Promise<AgentProcess> {
  return startAgentProcess({
    nodeName: node,
    root: path.join(work, node),
    kubeconfig: kubeconfigs.get(node),
    args: ['--lease-duration', '3'],
    logFile: path.join(work, `${node}-agent.log`),
  });
}

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-data-dirs-e2e-'));
  writer = await makePackage({ 'bin/app': WRITER });
  plain = await makePackage({ 'bin/app': SLEEPER });
  // The agents use their own node credentials: RBAC and the node restriction apply to them.
  const connection = connectionFromKubeconfig(cluster.kubeconfig);
  for (const node of NODES) {
    const file = path.join(work, `${node}.kubeconfig`);
    await writeFile(
      file,
      await addNode(client.rest, node, { server: connection.server, caData: connection.ca }),
    );
    kubeconfigs.set(node, file);
    agents.set(node, await startAgent(node));
  }
  operator = await startOperatorProcess({
    kubeconfig: cluster.kubeconfig,
    identity: 'operator-a',
    logDir: work,
    args: ['--lease-duration', '3', '--node-grace-period', '4', '--pod-eviction-timeout', '600'],
  });
  await eventually('two Ready nodes', async () => {
    const nodes = (await client.list('SeerNode')).items;
    return nodes.filter((n) => n.status?.phase === 'Ready').length === NODES.length;
  });
});

after(async () => {
  await operator?.stop();
  for (const agent of agents.values()) await agent.cleanUp();
  for (const node of NODES) await killManagedProcesses(path.join(work, node));
  await cluster?.stop();
  if (work && !process.env.SEER_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

function container(extra: Partial<Container> = {}): Container {
  return {
    name: 'app',
    package: writer.reference,
    package_digest: writer.digest,
    commands: { start: 'bin/app' },
    stop_timeout_seconds: 5,
    data_dirs: [{ name: 'notes', path: 'data', size: '1Mi' }],
    ...extra,
  };
}

const running = (pod: SeerPod | undefined) => pod?.status?.phase === 'Running';

async function createAndRun(name: string): Promise<SeerPod> {
  await client.create('SeerPod', seerPod(name, { containers: [container()] }));
  return eventually(`${name} running`, async () => {
    const pod = await client.find('SeerPod', name, 'default');
    return running(pod) ? pod : undefined;
  });
}

async function deleteAndWait(name: string): Promise<void> {
  await client.delete('SeerPod', objectRef(name, 'default'));
  await eventually(`${name} gone`, async () => !(await client.find('SeerPod', name, 'default')));
}

const dataDir = () => client.find('SeerDataDir', 'notes', 'default');
const linesOn = (node: string) => path.join(work, node, 'data', 'default', 'notes', 'lines');

let home = '';

test('the first pod claiming data places it on its node: a SeerDataDir, and a directory the process writes in', async () => {
  const pod = await createAndRun('writer-1');
  home = pod.spec.node_name ?? '';
  assert.ok(NODES.includes(home));
  const placed = await eventually('the data dir Ready', async () => {
    const found = await dataDir();
    return found?.status?.phase === 'Ready' ? found : undefined;
  });
  assert.equal(placed.spec?.node_name, home);
  assert.equal(placed.spec?.size, '1Mi');
  assert.equal(placed.metadata.labels?.[NODE_LABEL], home);
  assert.deepEqual(placed.metadata.finalizers, [DATA_DIR_FINALIZER]);
  assert.equal(placed.status?.path, path.join(work, home, 'data', 'default', 'notes'));
  await eventually('the process wrote its line', async () =>
    existsSync(linesOn(home)) ? (await readFile(linesOn(home), 'utf8')) === 'writer-1\n' : false,
  );
  const stdout = await cluster.kubectlOk(['get', 'sdd', 'notes']);
  assert.match(stdout, new RegExp(`notes\\s+${home}\\s+1Mi\\s+Ready`));
});

test('the data outlives its pod, and a replacement goes to its node even when another has more room', async () => {
  await deleteAndWait('writer-1');
  assert.equal(await readFile(linesOn(home), 'utf8'), 'writer-1\n', 'deleting the pod kept the data');
  // Two other pods on the data's node: without the data, the replacement would go to the emptier node.
  for (const name of ['filler-1', 'filler-2']) {
    await client.create(
      'SeerPod',
      seerPod(name, {
        node_name: home,
        containers: [{ name: 'app', package: plain.reference, commands: { start: 'bin/app' } }],
      }),
    );
  }
  const pod = await createAndRun('writer-2');
  assert.equal(pod.spec.node_name, home);
  await eventually(
    'the replacement appended to the same data',
    async () => (await readFile(linesOn(home), 'utf8')) === 'writer-1\nwriter-2\n',
  );
  for (const name of ['filler-1', 'filler-2']) await deleteAndWait(name);
});

test("while the data's node is down, a pod claiming it waits with a reason naming the node, and runs there once it is back", async () => {
  await deleteAndWait('writer-2');
  await agents.get(home)?.stop();
  agents.delete(home);
  await eventually(`${home} not ready`, async () => {
    const node = await client.find('SeerNode', home);
    return node?.status?.phase !== 'Ready';
  });
  await client.create('SeerPod', seerPod('writer-3', { containers: [container()] }));
  const waiting = await eventually('writer-3 unschedulable', async () => {
    const pod = await client.find('SeerPod', 'writer-3', 'default');
    return pod?.status?.reason === 'Unschedulable' ? pod : undefined;
  });
  assert.equal(
    waiting.status?.message,
    `data dir notes is on node ${home}, which cannot take the pod (node not ready); the pod waits for it`,
  );
  await sleep(3000);
  const still = await client.find('SeerPod', 'writer-3', 'default');
  assert.equal(still?.spec.node_name, undefined, 'the pod was placed elsewhere');

  agents.set(home, await startAgent(home));
  const back = await eventually('writer-3 running', async () => {
    const pod = await client.find('SeerPod', 'writer-3', 'default');
    return running(pod) ? pod : undefined;
  });
  assert.equal(back.spec.node_name, home);
  await eventually(
    'writer-3 appended to the same data',
    async () => (await readFile(linesOn(home), 'utf8')) === 'writer-1\nwriter-2\nwriter-3\n',
  );
});

test("a node's credentials cannot touch a data dir placed on another node", async () => {
  const other = NODES.find((n) => n !== home) ?? '';
  const credentials = RestClient.fromKubeconfig(kubeconfigs.get(other) ?? '');
  try {
    const nodeClient = new SeerClient(credentials);
    const found = (await dataDir()) as SeerDataDir;
    await forbidden(
      "status of another node's data dir",
      nodeClient.patchStatus('SeerDataDir', found, { phase: 'Ready' }),
    );
    await forbidden(
      "finalizers of another node's data dir",
      nodeClient.patch('SeerDataDir', found, { metadata: { finalizers: [] } }),
    );
    await forbidden('deleting a data dir', nodeClient.delete('SeerDataDir', found));
  } finally {
    credentials.close();
  }
});

test('deleting the SeerDataDir waits for the pods using it, then removes the directory, then the object', async () => {
  await cluster.kubectlOk(['delete', 'sdd', 'notes', '--wait=false']);
  const releasing = await eventually('the data dir Releasing', async () => {
    const found = await dataDir();
    return found?.status?.phase === 'Releasing' ? found : undefined;
  });
  assert.equal(releasing.status?.message, 'waiting for pod writer-3 to stop before removing the data');
  assert.ok(existsSync(linesOn(home)), 'the data is still there while a pod uses it');

  await deleteAndWait('writer-3');
  await eventually('the data dir gone', async () => !(await dataDir()));
  assert.equal(existsSync(path.dirname(linesOn(home))), false, 'the directory was removed');

  // A new claim of the same name starts from empty data.
  await createAndRun('writer-4');
  const node = (await client.find('SeerPod', 'writer-4', 'default'))?.spec.node_name ?? '';
  await eventually(
    'fresh data',
    async () => existsSync(linesOn(node)) && (await readFile(linesOn(node), 'utf8')) === 'writer-4\n',
  );
  await deleteAndWait('writer-4');
});
