import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DAEMON_SET_LABEL, SEER_API_VERSION, TEMPLATE_HASH_LABEL } from '../../api/names.js';
import type { Container, SeerDaemonSet, SeerDaemonSetSpec, SeerPod } from '../../api/types.js';
import { createRolloutCommand } from '../../cli/commands/rollout.js';
import { objectRef } from '../../kube/keys.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import {
  eventually,
  killManagedProcesses,
  startAgentProcess,
  type AgentProcess,
  type SeerProcess,
} from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { startOperatorProcess } from '../support/operator.js';
import { makePackage, SLEEPER } from '../support/pods.js';

const NODES = ['node-1', 'node-2', 'node-3'];

let cluster: TestCluster;
let client: SeerClient;
let work: string;
const agents = new Map<string, AgentProcess>();
let operator: SeerProcess;
let app: { reference: string; digest: string };

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-daemonsets-e2e-'));
  app = await makePackage({ 'bin/app': SLEEPER });
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
    args: ['--lease-duration', '3', '--node-grace-period', '4', '--pod-eviction-timeout', '2'],
  });
  await eventually('three Ready nodes', async () => {
    const nodes = (await client.list('SeerNode')).items;
    return nodes.filter((n) => n.status?.phase === 'Ready').length === 3;
  });
  // node-1 and node-2 run the daemon set's pods; node-3 does not match yet.
  for (const node of ['node-1', 'node-2']) await setLabels(node, { role: 'logs' });
});

after(async () => {
  await operator?.stop();
  for (const agent of agents.values()) await agent.cleanUp();
  for (const node of NODES) await killManagedProcesses(path.join(work, node));
  await cluster?.stop();
  // SEER_KEEP_TEST_DIRS=1 keeps the agents' and operator's logs for a look after a failure.
  if (work && !process.env.SEER_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

function setLabels(node: string, labels: Record<string, string | null>): Promise<unknown> {
  return client.patch('SeerNode', objectRef(node), { metadata: { labels } });
}

function container(extra: Partial<Container> = {}): Container {
  return {
    name: 'app',
    package: app.reference,
    package_digest: app.digest,
    commands: { start: 'bin/app' },
    stop_timeout_seconds: 5,
    ...extra,
  };
}

function daemonSet(name: string, spec: Partial<SeerDaemonSetSpec> = {}): SeerDaemonSet {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDaemonSet',
    metadata: { name, namespace: 'default' },
    spec: {
      template: { metadata: { labels: { app: name } }, spec: { containers: [container()] } },
      ...spec,
    },
  };
}

async function podsOf(name: string): Promise<SeerPod[]> {
  return (
    await client.list('SeerPod', { namespace: 'default', labelSelector: `${DAEMON_SET_LABEL}=${name}` })
  ).items;
}

const live = (pods: SeerPod[]) => pods.filter((p) => !p.metadata.deletionTimestamp);
const ready = (pod: SeerPod) =>
  pod.status?.phase === 'Running' &&
  (pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);

/** Waits until exactly `nodes` each run one Running, ready pod of the daemon set, and nothing else does. */
async function runningOn(name: string, nodes: string[], hash?: string): Promise<SeerPod[]> {
  return eventually(
    `pods of ${name} running on ${nodes.join(', ') || 'no node'}`,
    async () => {
      const pods = await podsOf(name);
      const onNodes = pods.map((p) => p.spec.node_name).sort();
      const done =
        JSON.stringify(onNodes) === JSON.stringify([...nodes].sort()) &&
        pods.every(
          (p) =>
            ready(p) &&
            !p.metadata.deletionTimestamp &&
            (!hash || p.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash),
        );
      return done ? pods : undefined;
    },
    60_000,
    200,
  );
}

async function statusOf(name: string) {
  return (await client.get('SeerDaemonSet', name, 'default')).status ?? {};
}

/** The `kubectl get sds` row of `name`, as header → cell. */
async function kubectlRow(name: string): Promise<Record<string, string>> {
  const table = await cluster.kubectlOk(['get', 'sds', name]);
  const [header = '', line = ''] = table.trim().split('\n');
  const names = header.trim().split(/\s{2,}/);
  const cells = line.trim().split(/\s{2,}/);
  return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']));
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

test('a daemon set runs one pod, bound at creation, on each node its node_selector matches', async (t) => {
  await client.create('SeerDaemonSet', daemonSet('logs', { node_selector: { role: 'logs' } }));
  const pods = await runningOn('logs', ['node-1', 'node-2']);
  for (const pod of pods) {
    assert.equal(pod.metadata.labels?.['seer.io/node'], pod.spec.node_name);
    assert.equal(pod.metadata.ownerReferences?.[0]?.kind, 'SeerDaemonSet');
    // Bound by the daemon set itself: the scheduler never saw it unbound.
    assert.ok(!pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False'));
  }
  const status = await eventually('status of logs', async () => {
    const s = await statusOf('logs');
    return s.number_available === 2 ? s : undefined;
  });
  assert.equal(status.desired_number_scheduled, 2);
  assert.equal(status.current_number_scheduled, 2);
  assert.equal(status.number_ready, 2);
  assert.equal(status.updated_number_scheduled, 2);
  assert.equal(status.number_misscheduled, 0);
  assert.equal(status.number_unavailable, 0);
  assert.equal(status.observed_generation, 1);
  const available = status.conditions?.find((c) => c.type === 'Available');
  assert.equal(available?.status, 'True');

  t.diagnostic(await cluster.kubectlOk(['get', 'sds', 'logs']));
  const row = await kubectlRow('logs');
  assert.deepEqual(Object.keys(row), [
    'NAME',
    'DESIRED',
    'CURRENT',
    'READY',
    'UP-TO-DATE',
    'AVAILABLE',
    'NODE-SELECTOR',
    'AGE',
  ]);
  assert.deepEqual(
    [row.NAME, row.DESIRED, row.CURRENT, row.READY, row['UP-TO-DATE'], row.AVAILABLE],
    ['logs', '2', '2', '2', '2', '2'],
  );
  assert.match(row['NODE-SELECTOR'] ?? '', /role.*logs/);
  const all = await cluster.kubectlOk(['get', 'seer', '-o', 'name']);
  assert.match(all, /seerdaemonset\.seer\.io\/logs/);
});

test('a node relabelled to match gets a pod; relabelled not to match, it loses it', async () => {
  await setLabels('node-3', { role: 'logs' });
  await runningOn('logs', NODES);
  await setLabels('node-1', { role: null });
  await runningOn('logs', ['node-2', 'node-3']);
  // The pod left node-1 through its agent: the processes are stopped and the object is gone.
  assert.equal((await statusOf('logs')).desired_number_scheduled, 2);
  await setLabels('node-1', { role: 'logs' });
  await runningOn('logs', NODES);
});

test('a cordoned node keeps its pod, and a cordoned node that comes to match gets one', async () => {
  const before = await runningOn('logs', NODES);
  await client.patch('SeerNode', objectRef('node-2'), { spec: { unschedulable: true } });
  await sleep(2000);
  const after = await runningOn('logs', NODES);
  assert.deepEqual(
    after.map((p) => p.metadata.uid).sort(),
    before.map((p) => p.metadata.uid).sort(),
    'no pod replaced',
  );
  // As Kubernetes' daemon sets, it is placed on a cordoned node too.
  await setLabels('node-2', { role: null });
  await runningOn('logs', ['node-1', 'node-3']);
  await setLabels('node-2', { role: 'logs' });
  await runningOn('logs', NODES);
  await client.patch('SeerNode', objectRef('node-2'), { spec: { unschedulable: false } });
});

test('a template change rolls node by node, never more than max_unavailable nodes unavailable', async (t) => {
  await client.patch('SeerDaemonSet', objectRef('logs', 'default'), {
    spec: { min_ready_seconds: 1, update_strategy: { type: 'rolling', max_unavailable: 1 } },
  });
  const before = await runningOn('logs', NODES);
  let polling = true;
  let worst = 0;
  const samples: string[] = [];
  const watcher = (async () => {
    while (polling) {
      const pods = live(await podsOf('logs'));
      const servingNodes = new Set(pods.filter(ready).map((p) => p.spec.node_name));
      const unavailable = NODES.filter((n) => !servingNodes.has(n)).length;
      worst = Math.max(worst, unavailable);
      samples.push(String(unavailable));
      await sleep(100);
    }
  })();
  await client.patch('SeerDaemonSet', objectRef('logs', 'default'), {
    spec: {
      template: { spec: { containers: [container({ env: [{ name: 'VERSION', value: 'v2' }] })] } },
    },
  });
  const started = Date.now();
  const out = await rollout('status', 'seerdaemonset/logs', '--timeout', '120s');
  polling = false;
  await watcher;
  t.diagnostic(
    `rolled 3 nodes in ${Date.now() - started} ms; nodes without a ready pod, every 100 ms: ${samples.join(' ')}`,
  );
  t.diagnostic(out);
  assert.match(out, /daemon set "logs" successfully rolled out/);
  const after = await runningOn('logs', NODES);
  const replaced = new Set(before.map((p) => p.metadata.uid));
  assert.ok(
    after.every((p) => !replaced.has(p.metadata.uid)),
    'every pod replaced',
  );
  assert.ok(after.every((p) => p.spec.containers[0]?.env?.[0]?.value === 'v2'));
  assert.equal(worst, 1, `nodes without a ready pod during the rollout: ${samples.join(' ')}`);
  const status = await statusOf('logs');
  assert.equal(status.updated_number_scheduled, 3);
  assert.equal(status.conditions?.find((c) => c.type === 'Progressing')?.reason, 'NewTemplateAvailable');
});

test('on_delete: a template change waits until a pod is deleted, which comes back new', async () => {
  await client.patch('SeerDaemonSet', objectRef('logs', 'default'), {
    spec: { update_strategy: { type: 'on_delete', max_unavailable: null } },
  });
  const before = await runningOn('logs', NODES);
  await client.patch('SeerDaemonSet', objectRef('logs', 'default'), {
    spec: {
      template: { spec: { containers: [container({ env: [{ name: 'VERSION', value: 'v3' }] })] } },
    },
  });
  await eventually('the change observed', async () => {
    const s = await statusOf('logs');
    return (
      s.observed_generation === (await client.get('SeerDaemonSet', 'logs', 'default')).metadata.generation
    );
  });
  await sleep(1500);
  const unchanged = await runningOn('logs', NODES);
  assert.deepEqual(unchanged.map((p) => p.metadata.uid).sort(), before.map((p) => p.metadata.uid).sort());
  assert.equal((await statusOf('logs')).updated_number_scheduled, 0);
  const onNode1 = unchanged.find((p) => p.spec.node_name === 'node-1');
  assert.ok(onNode1);
  await client.delete('SeerPod', onNode1);
  const renewed = await eventually('node-1 running the new template', async () => {
    const pods = live(await podsOf('logs'));
    const pod = pods.find((p) => p.spec.node_name === 'node-1');
    return pod && ready(pod) && pod.spec.containers[0]?.env?.[0]?.value === 'v3' ? pod : undefined;
  });
  assert.notEqual(renewed.metadata.uid, onNode1.metadata.uid);
  const others = live(await podsOf('logs')).filter((p) => p.spec.node_name !== 'node-1');
  assert.ok(others.every((p) => p.spec.containers[0]?.env?.[0]?.value === 'v2'));
  await eventually('one updated node', async () => (await statusOf('logs')).updated_number_scheduled === 1);
});

test('a node that stops reporting keeps its pod; once its SeerNode is deleted, the pod is released', async () => {
  const agent = agents.get('node-3');
  assert.ok(agent);
  const onNode3 = (await runningOn('logs', NODES)).find((p) => p.spec.node_name === 'node-3');
  assert.ok(onNode3);
  await agent.stop();
  agents.delete('node-3');
  // Past the grace period and the eviction timeout (4 s + 2 s): Unknown, but still the daemon set's.
  await eventually('node-3 Unknown', async () => {
    return (await client.get('SeerNode', 'node-3')).status?.phase === 'Unknown';
  });
  await sleep(3000);
  const kept = (await podsOf('logs')).find((p) => p.spec.node_name === 'node-3');
  assert.equal(kept?.metadata.uid, onNode3.metadata.uid);
  assert.ok(!kept?.metadata.deletionTimestamp, 'not deleted while the node only stopped reporting');

  await client.delete('SeerNode', objectRef('node-3'));
  await eventually(
    'the pod on node-3 gone',
    async () => !(await podsOf('logs')).some((p) => p.spec.node_name === 'node-3'),
  );
  await runningOn('logs', ['node-1', 'node-2']);
  const status = await eventually('status without node-3', async () => {
    const s = await statusOf('logs');
    return s.desired_number_scheduled === 2 && s.number_misscheduled === 0 ? s : undefined;
  });
  assert.equal(status.current_number_scheduled, 2);
  await killManagedProcesses(path.join(work, 'node-3'));
});

test('deleting the daemon set deletes its pods', async () => {
  await client.delete('SeerDaemonSet', objectRef('logs', 'default'));
  await eventually('no pods of logs', async () => (await podsOf('logs')).length === 0, 60_000, 200);
});
