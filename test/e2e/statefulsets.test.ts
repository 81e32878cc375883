import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEER_API_VERSION, STATEFUL_SET_LABEL, TEMPLATE_HASH_LABEL } from '../../api/names.js';
import type { Container, SeerPod, SeerStatefulSet, SeerStatefulSetSpec } from '../../api/types.js';
import { createRolloutCommand } from '../../cli/commands/rollout.js';
import { objectRef } from '../../kube/keys.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { revisionsPath, type ControllerRevision } from '../../workloads/revisions.js';
import {
  eventually,
  killManagedProcesses,
  startAgentProcess,
  type AgentProcess,
  type SeerProcess,
} from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { startOperatorProcess } from '../support/operator.js';
import { makePackage } from '../support/pods.js';

const NODES = ['node-1', 'node-2'];

/** Writes what it was told it is, and becomes ready a moment after starting. */
const DB = `#!/bin/sh
echo "$SEER_ORDINAL $SEER_POD_NAME" > identity
(sleep 1; touch ready) &
trap 'exit 0' TERM
while true; do sleep 0.2; done
`;

let cluster: TestCluster;
let client: SeerClient;
let work: string;
const agents = new Map<string, AgentProcess>();
let operator: SeerProcess;
let app: { reference: string; digest: string };

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-statefulsets-e2e-'));
  app = await makePackage({ 'bin/db': DB });
  for (const node of NODES) {
    agents.set(
      node,
      await startAgentProcess({
        nodeName: node,
        root: path.join(work, node),
        kubeconfig: cluster.kubeconfig,
      }),
    );
  }
  operator = await startOperatorProcess({
    kubeconfig: cluster.kubeconfig,
    identity: 'operator-a',
    logDir: work,
    args: ['--lease-duration', '3'],
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
  // SEER_KEEP_TEST_DIRS=1 keeps the agents' and operator's logs for a look after a failure.
  if (work && !process.env.SEER_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

function container(extra: Partial<Container> = {}): Container {
  return {
    name: 'db',
    package: app.reference,
    package_digest: app.digest,
    commands: { start: 'bin/db' },
    readiness_probe: { exec: { command: 'test -f ready' }, period_seconds: 1 },
    data_dirs: [{ name: 'data', path: 'data' }],
    stop_timeout_seconds: 5,
    ...extra,
  };
}

function statefulSet(name: string, spec: Partial<SeerStatefulSetSpec> = {}): SeerStatefulSet {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerStatefulSet',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: 3,
      template: { metadata: { labels: { app: name } }, spec: { containers: [container()] } },
      ...spec,
    },
  };
}

async function podsOf(name: string): Promise<SeerPod[]> {
  return (
    await client.list('SeerPod', { namespace: 'default', labelSelector: `${STATEFUL_SET_LABEL}=${name}` })
  ).items;
}

const readyCondition = (pod: SeerPod) =>
  pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
const ready = (pod: SeerPod) =>
  pod.status?.phase === 'Running' && !pod.metadata.deletionTimestamp && readyCondition(pod) !== undefined;

/** Waits until exactly the pods `names` exist, each Running and ready (of `hashes[name]` if given). */
async function runningPods(set: string, names: string[], hashes: Record<string, string> = {}) {
  return eventually(
    `pods ${names.join(', ') || 'none'} of ${set} ready`,
    async () => {
      const pods = await podsOf(set);
      const done =
        JSON.stringify(pods.map((p) => p.metadata.name).sort()) === JSON.stringify([...names].sort()) &&
        pods.every((p) => {
          const hash = hashes[p.metadata.name ?? ''];
          return ready(p) && (!hash || p.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash);
        });
      return done ? new Map(pods.map((p) => [p.metadata.name ?? '', p])) : undefined;
    },
    90_000,
    200,
  );
}

async function statusOf(name: string) {
  return (await client.get('SeerStatefulSet', name, 'default')).status ?? {};
}

async function rollout(...args: string[]): Promise<string> {
  let out = '';
  const command = createRolloutCommand({
    stdout: { write: (text: string) => (out += text) },
    stderr: process.stderr,
  });
  await command.run([...args, '--kubeconfig', cluster.kubeconfig]);
  return out;
}

/** The file the pod's process wrote into its container directory on its node. */
async function identityOf(pod: SeerPod): Promise<string> {
  const node = pod.spec.node_name ?? '';
  const file = path.join(work, node, 'pod', pod.metadata.name ?? '', 'container', 'db', 'identity');
  return (await readFile(file, 'utf8')).trim();
}

const seconds = (value: Date | string | undefined) => Math.floor(new Date(value ?? 0).getTime() / 1000);

test('a stateful set starts db-0, db-1 and db-2 in order, each once the one before is ready', async (t) => {
  // Sampled while they start: no pod may exist while the one before it is not ready.
  let watching = true;
  const violations: string[] = [];
  const watcher = (async () => {
    while (watching) {
      const pods = new Map((await podsOf('db')).map((p) => [p.metadata.name, p]));
      for (let i = 1; i < 3; i++) {
        const before = pods.get(`db-${i - 1}`);
        if (pods.has(`db-${i}`) && !(before && ready(before)))
          violations.push(`db-${i} before db-${i - 1} was ready`);
      }
      await sleep(100);
    }
  })();
  await client.create('SeerStatefulSet', statefulSet('db'));
  const pods = await runningPods('db', ['db-0', 'db-1', 'db-2']);
  watching = false;
  await watcher;
  assert.deepEqual(violations, []);
  for (let i = 1; i < 3; i++) {
    const created = seconds(pods.get(`db-${i}`)?.metadata.creationTimestamp);
    const readyBefore = seconds(readyCondition(pods.get(`db-${i - 1}`)!)?.last_transition_time);
    assert.ok(created >= readyBefore, `db-${i} created at ${created}, db-${i - 1} ready at ${readyBefore}`);
  }
  for (const [name, pod] of pods) {
    const ordinal = name.slice('db-'.length);
    assert.equal(pod.metadata.ownerReferences?.[0]?.kind, 'SeerStatefulSet');
    assert.equal(pod.metadata.labels?.['seer.io/pod-ordinal'], ordinal);
    assert.deepEqual(pod.spec.containers[0]?.data_dirs, [{ name: `data-db-${ordinal}`, path: 'data' }]);
    assert.equal(await identityOf(pod), `${ordinal} ${name}`);
  }
  const status = await eventually('status of db', async () => {
    const s = await statusOf('db');
    return s.ready_replicas === 3 ? s : undefined;
  });
  assert.equal(status.replicas, 3);
  assert.equal(status.updated_replicas, 3);
  assert.equal(status.ready, '3/3');
  assert.equal(status.current_revision, status.update_revision);
  assert.equal(status.selector, 'seer.io/stateful-set=db');
  t.diagnostic(await cluster.kubectlOk(['get', 'ssts', 'db']));
  const table = await cluster.kubectlOk(['get', 'ssts', 'db']);
  assert.match(table, /^NAME\s+READY\s+AGE\n/);
  assert.match(table, /\ndb\s+3\/3\s+/);
  assert.match(await rollout('status', 'ssts/db'), /rolling update complete 3 pods at revision db-/);
});

test('kubectl scale --replicas=1 removes db-2, then db-1, and their data dirs under when_scaled delete', async () => {
  await client.patch('SeerStatefulSet', objectRef('db', 'default'), {
    spec: { data_retention: { when_scaled: 'delete' } },
  });
  // Each ordinal's data dir, recorded on the node its pod was placed on: only the removed ordinals' go.
  await eventually('a data dir per ordinal, each on a node', async () => {
    const dataDirs = (await client.list('SeerDataDir', { namespace: 'default' })).items;
    const placed = dataDirs.filter((d) => d.spec?.node_name).map((d) => d.metadata.name);
    return JSON.stringify(placed.sort()) === JSON.stringify(['data-db-0', 'data-db-1', 'data-db-2']);
  });
  const gone = new Map<string, number>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const names = new Set((await podsOf('db')).map((p) => p.metadata.name));
      for (const name of ['db-1', 'db-2'])
        if (!names.has(name) && !gone.has(name)) gone.set(name, Date.now());
      await sleep(50);
    }
  })();
  await cluster.kubectlOk(['scale', 'ssts/db', '--replicas=1']);
  await runningPods('db', ['db-0']);
  watching = false;
  await watcher;
  for (const name of ['db-1', 'db-2']) if (!gone.has(name)) gone.set(name, Date.now());
  assert.ok((gone.get('db-2') ?? 0) <= (gone.get('db-1') ?? 0), `db-2 gone before db-1: ${[...gone]}`);
  await eventually('the data dirs of db-1 and db-2 deleted', async () => {
    const names = (await client.list('SeerDataDir', { namespace: 'default' })).items.map(
      (d) => d.metadata.name,
    );
    return JSON.stringify(names) === JSON.stringify(['data-db-0']);
  });
  await cluster.kubectlOk(['scale', 'ssts/db', '--replicas=3']);
  await runningPods('db', ['db-0', 'db-1', 'db-2']);
});

test('a template change with partition 1 updates db-2 then db-1 and leaves db-0; undo goes back', async (t) => {
  const before = await runningPods('db', ['db-0', 'db-1', 'db-2']);
  const oldHash = before.get('db-0')?.metadata.labels?.[TEMPLATE_HASH_LABEL] ?? '';
  await client.patch('SeerStatefulSet', objectRef('db', 'default'), {
    spec: {
      update_strategy: { type: 'rolling_update', rolling_update: { partition: 1 } },
      template: { spec: { containers: [container({ env: [{ name: 'VERSION', value: 'v2' }] })] } },
    },
  });
  const out = await rollout('status', 'seerstatefulset/db', '--timeout', '120s');
  t.diagnostic(out);
  assert.match(out, /partitioned roll out complete: 2 new pods have been updated/);
  const status = await statusOf('db');
  const newHash = (status.update_revision ?? '').slice('db-'.length);
  assert.notEqual(newHash, oldHash);
  const after = await runningPods('db', ['db-0', 'db-1', 'db-2'], {
    'db-0': oldHash,
    'db-1': newHash,
    'db-2': newHash,
  });
  assert.equal(after.get('db-0')?.metadata.uid, before.get('db-0')?.metadata.uid, 'db-0 untouched');
  // Highest first: db-2's replacement is older than db-1's.
  assert.ok(
    seconds(after.get('db-2')?.metadata.creationTimestamp) <=
      seconds(after.get('db-1')?.metadata.creationTimestamp),
  );
  assert.equal(status.current_revision, `db-${oldHash}`);
  assert.equal(status.updated_replicas, 2);
  assert.equal(status.current_replicas, 1);

  const history = await rollout('history', 'ssts/db');
  assert.match(history, /^REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n/m);
  // Undo puts revision 1's template back; with the partition gone it reaches every ordinal.
  await client.patch('SeerStatefulSet', objectRef('db', 'default'), {
    spec: { update_strategy: { rolling_update: { partition: 0 } } },
  });
  assert.match(await rollout('undo', 'ssts/db'), /seerstatefulset.seer.io\/db rolled back/);
  assert.match(
    await rollout('status', 'ssts/db', '--timeout', '120s'),
    /rolling update complete 3 pods at revision db-/,
  );
  await runningPods('db', ['db-0', 'db-1', 'db-2'], { 'db-0': oldHash, 'db-1': oldHash, 'db-2': oldHash });
  const revisions = (
    await client.rest.request<{ items: ControllerRevision[] }>('GET', revisionsPath('default'), {
      query: { labelSelector: `${STATEFUL_SET_LABEL}=db` },
    })
  ).items;
  assert.deepEqual(
    revisions.map((r) => [r.metadata.name, r.revision]).sort(),
    [
      [`db-${newHash}`, 2],
      [`db-${oldHash}`, 3],
    ].sort(),
    'the old template renumbered after the latest',
  );
});

test('deleting a stateful set with when_deleted delete removes its pods, then its data dirs, then itself', async () => {
  await client.patch('SeerStatefulSet', objectRef('db', 'default'), {
    spec: { data_retention: { when_deleted: 'delete' } },
  });
  await eventually('the data finalizer', async () =>
    (await client.get('SeerStatefulSet', 'db', 'default')).metadata.finalizers?.includes(
      'seer.io/stateful-set-data',
    ),
  );
  await client.delete('SeerStatefulSet', objectRef('db', 'default'));
  await eventually(
    'the stateful set, its pods and data dirs gone',
    async () =>
      (await podsOf('db')).length === 0 &&
      (await client.list('SeerDataDir', { namespace: 'default' })).items.length === 0 &&
      (await client.find('SeerStatefulSet', 'db', 'default')) === undefined,
    60_000,
    200,
  );
});
