import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import yaml from 'js-yaml';
import { AGENT_FINALIZER, SEER_API_VERSION } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { addNode, removeNode, runNodeAdd, runNodeRemove } from '../../cli/commands/node-credentials.js';
import { connectionFromKubeconfig, MERGE_PATCH as MERGE, RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { microTime } from '../../kube/time.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import {
  assertOtherSeerNodeRefused,
  forbidden,
  NODE_LEASES as LEASES,
  nodeLease,
  nodeRestrictionInForce,
  refused,
} from '../support/node-credentials.js';
import { makePackage, seerPod, SLEEPER } from '../support/pods.js';
import { objectRef } from '../../kube/keys.js';

let cluster: TestCluster;
let admin: SeerClient;
let work: string;
let kubeconfigA: string;
let kubeconfigB: string;
let nodeA: RestClient;
let nodeB: RestClient;
let agent: AgentProcess | undefined;
const clients: RestClient[] = [];

function client(kubeconfig: string): RestClient {
  const rest = RestClient.fromKubeconfig(kubeconfig);
  clients.push(rest);
  return rest;
}

function podPath(name: string, subresource = ''): string {
  return `/apis/seer.io/v1alpha1/namespaces/default/seerpods/${name}${subresource}`;
}

async function createPod(name: string, node: string): Promise<SeerPod> {
  const pod = seerPod(name, {
    node_name: node,
    containers: [{ name: 'main', package: 'file:///nonexistent.tar.gz', commands: { start: 'true' } }],
  });
  pod.metadata.labels = { app: name };
  return admin.create('SeerPod', pod);
}

before(async () => {
  cluster = await startTestCluster({ crds: true });
  admin = new SeerClient(client(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-node-credentials-'));
  const adminConnection = connectionFromKubeconfig(cluster.kubeconfig);
  const options = { server: adminConnection.server, caData: adminConnection.ca };
  kubeconfigA = path.join(work, 'a.kubeconfig');
  kubeconfigB = path.join(work, 'b.kubeconfig');
  // Node a through the command (as `seer node add a -o FILE`), node b through the function.
  await runNodeAdd([
    'a',
    '--kubeconfig',
    cluster.kubeconfig,
    '-o',
    kubeconfigA,
    '--expiration-seconds',
    '3600',
  ]);
  await writeFile(kubeconfigB, await addNode(admin.rest, 'b', options));
  nodeA = client(kubeconfigA);
  nodeB = client(kubeconfigB);
  await createPod('pod-a', 'a');
  await createPod('pod-b', 'b');
  await nodeRestrictionInForce(nodeA);
});

after(async () => {
  await agent?.stop();
  for (const rest of clients) rest.close();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('node add creates a ServiceAccount, bindings and a kubeconfig holding a bound token, idempotently', async () => {
  const sa = JSON.parse(
    await cluster.kubectlOk(['get', 'serviceaccount', '-n', 'seer-system', 'seer-node-a', '-o', 'json']),
  );
  assert.equal(sa.metadata.labels['seer.io/node'], 'a');
  const binding = JSON.parse(
    await cluster.kubectlOk(['get', 'clusterrolebinding', 'seer-node-a', '-o', 'json']),
  );
  assert.equal(binding.roleRef.name, 'seer:node');
  assert.deepEqual(binding.subjects, [
    { kind: 'ServiceAccount', name: 'seer-node-a', namespace: 'seer-system' },
  ]);
  await cluster.kubectlOk(['get', 'validatingadmissionpolicy', 'seer-node-restriction']);
  await cluster.kubectlOk(['get', 'validatingadmissionpolicybinding', 'seer-node-restriction']);

  assert.equal((await stat(kubeconfigA)).mode & 0o777, 0o600);
  const config = yaml.load(await readFile(kubeconfigA, 'utf8')) as {
    clusters: [{ cluster: Record<string, string> }];
    users: [{ user: { token: string } }];
  };
  const adminConnection = connectionFromKubeconfig(cluster.kubeconfig);
  assert.equal(config.clusters[0].cluster.server, adminConnection.server);
  assert.equal(
    config.clusters[0].cluster['certificate-authority-data'],
    adminConnection.ca?.toString('base64'),
  );

  const review = await nodeA.request<{
    status: { userInfo: { username: string }; expirationTimestamp?: string };
  }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  assert.equal(review.status.userInfo.username, 'system:serviceaccount:seer-system:seer-node-a');
  // --expiration-seconds 3600 reached the TokenRequest.
  const claims = JSON.parse(
    Buffer.from(config.users[0].user.token.split('.')[1] ?? '', 'base64url').toString('utf8'),
  );
  assert.equal(claims.exp - claims.iat, 3600);

  // Again: the same objects, a fresh token, no error.
  const again = await addNode(admin.rest, 'a', {
    server: adminConnection.server,
    caData: adminConnection.ca,
  });
  assert.notEqual((yaml.load(again) as typeof config).users[0].user.token, config.users[0].user.token);
  const items = JSON.parse(
    await cluster.kubectlOk([
      'get',
      'serviceaccounts',
      '-n',
      'seer-system',
      '-l',
      'seer.io/node',
      '-o',
      'json',
    ]),
  ).items as { metadata: { name: string } }[];
  assert.deepEqual(items.map((i) => i.metadata.name).sort(), ['seer-node-a', 'seer-node-b']);
});

test("a node's credentials may register its own SeerNode and write its status", async () => {
  const node = { apiVersion: SEER_API_VERSION, kind: 'SeerNode', metadata: { name: 'a' }, spec: {} };
  await nodeA.request('POST', '/apis/seer.io/v1alpha1/seernodes', { body: node });
  await nodeA.request('GET', '/apis/seer.io/v1alpha1/seernodes/a');
  await nodeA.request('PATCH', '/apis/seer.io/v1alpha1/seernodes/a/status', {
    body: { status: { phase: 'Ready', root_dir: '/seer' } },
    contentType: MERGE,
  });
  assert.equal((await admin.get('SeerNode', 'a')).status?.phase, 'Ready');
});

test("a node's credentials are refused on another node's SeerNode and on its own SeerNode's spec", async () => {
  await admin.create('SeerNode', {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerNode',
    metadata: { name: 'b' },
    spec: {},
  });
  await forbidden(
    'create SeerNode b',
    nodeA.request('POST', '/apis/seer.io/v1alpha1/seernodes', {
      body: { apiVersion: SEER_API_VERSION, kind: 'SeerNode', metadata: { name: 'c' }, spec: {} },
    }),
  );
  await assertOtherSeerNodeRefused(nodeA, 'b');
  await forbidden(
    'cordon SeerNode a',
    nodeA.request('PATCH', '/apis/seer.io/v1alpha1/seernodes/a', {
      body: { spec: { unschedulable: true } },
      contentType: MERGE,
    }),
  );
  await forbidden(
    'label SeerNode a',
    nodeA.request('PATCH', '/apis/seer.io/v1alpha1/seernodes/a', {
      body: { metadata: { labels: { zone: 'anywhere' } } },
      contentType: MERGE,
    }),
  );
  await forbidden('delete SeerNode a', nodeA.request('DELETE', '/apis/seer.io/v1alpha1/seernodes/a'));
  assert.notEqual((await admin.get('SeerNode', 'a')).spec?.unschedulable, true);
  assert.equal((await admin.get('SeerNode', 'a')).metadata.labels?.zone, undefined);
  assert.equal((await admin.get('SeerNode', 'b')).status?.phase, undefined);
  assert.equal((await admin.get('SeerNode', 'b')).metadata.labels?.taken, undefined);
});

test("a node's credentials may create and renew its own Lease, not another node's", async () => {
  await nodeA.request('POST', LEASES, { body: nodeLease('seer-node-a', 'a') });
  await nodeA.request('PATCH', `${LEASES}/seer-node-a`, {
    body: { spec: { renewTime: microTime() } },
    contentType: MERGE,
  });
  await nodeB.request('POST', LEASES, { body: nodeLease('seer-node-b', 'b') });
  await forbidden(
    'renew Lease of b',
    nodeA.request('PATCH', `${LEASES}/seer-node-b`, {
      body: { spec: { holderIdentity: 'a' } },
      contentType: MERGE,
    }),
  );
  await forbidden(
    'create another Lease',
    nodeA.request('POST', LEASES, { body: nodeLease('something-else', 'a') }),
  );
  await forbidden(
    'a Lease outside kube-node-lease',
    nodeA.request('POST', '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases', {
      body: nodeLease('seer-node-a', 'a'),
    }),
  );
  const leaseB = await admin.rest.request<{ spec: { holderIdentity: string } }>(
    'GET',
    `${LEASES}/seer-node-b`,
  );
  assert.equal(leaseB.spec.holderIdentity, 'b');
});

test("a node's credentials may write the status and finalizers of its pods, and nothing else of theirs", async () => {
  const pods = await nodeA.request<{ items: SeerPod[] }>('GET', '/apis/seer.io/v1alpha1/seerpods', {
    query: { fieldSelector: 'spec.node_name=a' },
  });
  assert.deepEqual(
    pods.items.map((p) => p.metadata.name),
    ['pod-a'],
  );
  await nodeA.request('PATCH', podPath('pod-a', '/status'), {
    body: { status: { phase: 'Pending', message: 'from a' } },
    contentType: MERGE,
  });
  const current = await admin.get('SeerPod', 'pod-a', 'default');
  await nodeA.request('PATCH', podPath('pod-a'), {
    body: { metadata: { finalizers: [AGENT_FINALIZER], resourceVersion: current.metadata.resourceVersion } },
    contentType: MERGE,
  });
  const updated = await admin.get('SeerPod', 'pod-a', 'default');
  assert.equal(updated.status?.message, 'from a');
  assert.deepEqual(updated.metadata.finalizers, [AGENT_FINALIZER]);

  await forbidden(
    'change the spec of its pod',
    nodeA.request('PATCH', podPath('pod-a'), {
      body: {
        spec: { containers: [{ name: 'main', package: 'file:///other.tar.gz', commands: { start: 'x' } }] },
      },
      contentType: MERGE,
    }),
  );
  await forbidden(
    'label its pod',
    nodeA.request('PATCH', podPath('pod-a'), {
      body: { metadata: { labels: { app: 'other' } } },
      contentType: MERGE,
    }),
  );
  await forbidden(
    'annotate its pod',
    nodeA.request('PATCH', podPath('pod-a'), {
      body: { metadata: { annotations: { note: 'x' } } },
      contentType: MERGE,
    }),
  );
  await forbidden(
    'status of a pod bound to b',
    nodeA.request('PATCH', podPath('pod-b', '/status'), {
      body: { status: { phase: 'Failed' } },
      contentType: MERGE,
    }),
  );
  await forbidden(
    'finalizers of a pod bound to b',
    nodeA.request('PATCH', podPath('pod-b'), {
      body: { metadata: { finalizers: [AGENT_FINALIZER] } },
      contentType: MERGE,
    }),
  );
  await forbidden('delete its pod', nodeA.request('DELETE', podPath('pod-a')));
  await forbidden(
    'create a pod',
    nodeA.request('POST', '/apis/seer.io/v1alpha1/namespaces/default/seerpods', {
      body: seerPod('pod-new', { node_name: 'a', containers: [] }),
    }),
  );
  const podA = await admin.get('SeerPod', 'pod-a', 'default');
  assert.equal(podA.spec.node_name, 'a');
  assert.deepEqual(podA.metadata.labels, { app: 'pod-a' });
  const podB = await admin.get('SeerPod', 'pod-b', 'default');
  assert.equal(podB.status, undefined);
  assert.equal(podB.metadata.finalizers, undefined);

  // Node b may do to its own pod what a may not.
  await nodeB.request('PATCH', podPath('pod-b', '/status'), {
    body: { status: { phase: 'Pending' } },
    contentType: MERGE,
  });
});

test("a node's credentials cannot read Secrets or other kinds", async () => {
  await cluster.kubectlOk(['create', 'secret', 'generic', 'db', '--from-literal=password=x']);
  await forbidden('list secrets', nodeA.request('GET', '/api/v1/secrets'));
  await forbidden('get a secret', nodeA.request('GET', '/api/v1/namespaces/default/secrets/db'));
  await forbidden('list namespaces', nodeA.request('GET', '/api/v1/namespaces'));
  await forbidden('list deployments', nodeA.request('GET', '/apis/seer.io/v1alpha1/seerdeployments'));
});

test('the real agent runs with its node credentials: registers, runs a bound pod and cleans it up', async () => {
  const kubeconfigC = path.join(work, 'c.kubeconfig');
  await runNodeAdd(['c', '--kubeconfig', cluster.kubeconfig, '-o', kubeconfigC]);
  agent = await startAgentProcess({
    nodeName: 'c',
    root: path.join(work, 'root-c'),
    kubeconfig: kubeconfigC,
  });
  await eventually(
    'SeerNode c Ready',
    async () => (await admin.get('SeerNode', 'c')).status?.phase === 'Ready',
  );
  await eventually('Lease seer-node-c', async () =>
    admin.rest.request<{ spec: { holderIdentity: string } }>('GET', `${LEASES}/seer-node-c`),
  );

  const pkg = await makePackage({ 'bin/app': SLEEPER });
  await admin.create(
    'SeerPod',
    seerPod('app-c', {
      node_name: 'c',
      containers: [
        { name: 'main', package: pkg.reference, package_digest: pkg.digest, commands: { start: 'bin/app' } },
      ],
    }),
  );
  const running = await eventually('app-c Running', async () => {
    const pod = await admin.get('SeerPod', 'app-c', 'default');
    return pod.status?.phase === 'Running' ? pod : undefined;
  });
  assert.ok(running.metadata.finalizers?.includes(AGENT_FINALIZER));
  const pid = running.status?.container_statuses?.[0]?.state?.running?.pid ?? 0;
  assert.ok(pid > 0);
  const containerDir = path.join(agent.root, 'pod', 'app-c', 'container', 'main');
  assert.ok(existsSync(containerDir));

  await admin.delete('SeerPod', objectRef('app-c', 'default'));
  await eventually('app-c gone', async () => (await admin.find('SeerPod', 'app-c', 'default')) === undefined);
  assert.ok(!existsSync(path.join(agent.root, 'pod', 'app-c')));
  assert.throws(() => process.kill(pid, 0));
  assert.doesNotMatch(await agent.log(), /forbidden/i);
});

test('node remove revokes the credentials: refused at once, the token itself within seconds', async () => {
  const getNode = (rest: RestClient) => rest.request('GET', '/apis/seer.io/v1alpha1/seernodes/b');
  await getNode(nodeB);
  await nodeB.request('PATCH', `${LEASES}/seer-node-b`, {
    body: { spec: { renewTime: microTime() } },
    contentType: MERGE,
  });
  await runNodeRemove(['b', '--kubeconfig', cluster.kubeconfig]);
  // The bindings go first, so nothing is allowed from the moment the command returns...
  assert.ok([401, 403].includes(await refused('b after removal', getNode(nodeB))));
  assert.ok(
    [401, 403].includes(
      await refused(
        'b renewing its Lease after removal',
        nodeB.request('PATCH', `${LEASES}/seer-node-b`, {
          body: { spec: { renewTime: microTime() } },
          contentType: MERGE,
        }),
      ),
    ),
  );
  // ...and the token of the deleted ServiceAccount stops authenticating once the API server's
  // token cache (10 s) forgets it.
  await eventually(
    '401 for the token of b',
    async () => (await refused('b', getNode(nodeB))) === 401,
    20_000,
    500,
  );
  assert.equal(await refused('b with a new connection', getNode(client(kubeconfigB))), 401);
  assert.equal(
    (await cluster.kubectl(['get', 'serviceaccount', '-n', 'seer-system', 'seer-node-b'])).code,
    1,
  );
  assert.equal((await cluster.kubectl(['get', 'clusterrolebinding', 'seer-node-b'])).code, 1);
  assert.equal(
    (await cluster.kubectl(['get', 'rolebinding', '-n', 'kube-node-lease', 'seer-node-b'])).code,
    1,
  );
  assert.equal(await removeNode(admin.rest, 'b'), false);
  // The other nodes keep theirs.
  await nodeA.request('GET', '/apis/seer.io/v1alpha1/seernodes/a');
});
