import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_FINALIZER, COMPONENT_LABEL, DEPLOYMENT_LABEL, SEER_API_VERSION } from '../../api/names.js';
import { HostLayout } from '../../agent/pods/layout.js';
import type { Container, SeerDeployment, SeerPod } from '../../api/types.js';
import { nodeCommand } from '../../cli/commands/node.js';
import { rolloutCommand } from '../../cli/commands/rollout.js';
import { isNotFound } from '../../kube/errors.js';
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
import { objectRef } from '../../kube/keys.js';

let cluster: TestCluster;
let client: SeerClient;
let work: string;
const agents = new Map<string, AgentProcess>();
const operators = new Map<string, SeerProcess>();
let app: { reference: string; digest: string };

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-operator-e2e-'));
  app = await makePackage({ 'bin/app': SLEEPER });
  for (const node of ['node-1', 'node-2', 'node-3']) {
    agents.set(
      node,
      await startAgentProcess({
        nodeName: node,
        root: path.join(work, node),
        kubeconfig: cluster.kubeconfig,
      }),
    );
  }
  for (const identity of ['operator-a', 'operator-b']) {
    operators.set(
      identity,
      await startOperatorProcess({
        kubeconfig: cluster.kubeconfig,
        identity,
        logDir: work,
        args: ['--lease-duration', '3', '--node-grace-period', '4', '--pod-eviction-timeout', '2'],
      }),
    );
  }
  await eventually('three Ready nodes', async () => {
    const nodes = (await client.list('SeerNode')).items;
    return nodes.filter((n) => n.status?.phase === 'Ready').length === 3;
  });
});

after(async () => {
  for (const operator of operators.values()) await operator.stop();
  for (const agent of agents.values()) await agent.cleanUp();
  // The agent killed for good left its processes behind, as agents do.
  for (const node of ['node-1', 'node-2', 'node-3']) await killManagedProcesses(path.join(work, node));
  await cluster?.stop();
  // SEER_KEEP_TEST_DIRS=1 keeps the agents' and operators' logs for a look after a failure.
  if (work && !process.env.SEER_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

function container(extra: Partial<Container> = {}): Container {
  return {
    name: 'app',
    package: app.reference,
    package_digest: app.digest,
    commands: { start: 'bin/app' },
    ...extra,
  };
}

/** A component in the default namespace whose instances run `instance`. */
function createComponent(name: string, instance: Container): Promise<unknown> {
  return client.create('SeerComponent', {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerComponent',
    metadata: { name, namespace: 'default' },
    spec: { template: { spec: { containers: [instance] } } },
  });
}

function deployment(
  name: string,
  replicas: number,
  extra: Partial<SeerDeployment['spec']> = {},
  c = container(),
): SeerDeployment {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      template: { metadata: { labels: { app: name } }, spec: { containers: [c] } },
      ...extra,
    },
  };
}

async function podsOf(name: string): Promise<SeerPod[]> {
  return (
    await client.list('SeerPod', { namespace: 'default', labelSelector: `${DEPLOYMENT_LABEL}=${name}` })
  ).items;
}

const live = (pods: SeerPod[]) => pods.filter((p) => !p.metadata.deletionTimestamp);
const ready = (pod: SeerPod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function allReady(name: string, replicas: number): Promise<SeerPod[]> {
  return eventually(
    `${replicas} ready pods of ${name}`,
    async () => {
      const pods = await podsOf(name);
      return pods.length === replicas && pods.every((p) => ready(p) && !p.metadata.deletionTimestamp)
        ? pods
        : undefined;
    },
    60_000,
    200,
  );
}

function perNode(pods: SeerPod[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const pod of pods) counts[pod.spec.node_name ?? '-'] = (counts[pod.spec.node_name ?? '-'] ?? 0) + 1;
  return counts;
}

async function rollout(...args: string[]): Promise<void> {
  await rolloutCommand.run([...args, '--kubeconfig', cluster.kubeconfig]);
}

test('a 6-replica deployment spreads over 3 nodes, and scales up and down', async () => {
  await client.create('SeerDeployment', deployment('web', 6));
  const pods = await allReady('web', 6);
  assert.deepEqual(perNode(pods), { 'node-1': 2, 'node-2': 2, 'node-3': 2 });

  await cluster.kubectlOk(['scale', 'seerdeployment/web', '--replicas=9']);
  assert.deepEqual(perNode(await allReady('web', 9)), { 'node-1': 3, 'node-2': 3, 'node-3': 3 });
  await cluster.kubectlOk(['scale', 'seerdeployment/web', '--replicas=3']);
  await allReady('web', 3);
  const status = await eventually('deployment status', async () => {
    const d = await client.get('SeerDeployment', 'web', 'default');
    return d.status?.ready_replicas === 3 && d.status.available_replicas === 3 ? d.status : undefined;
  });
  assert.equal(status.replicas, 3);
});

test('a rolling update never drops below the allowed availability, and can be rolled back', async () => {
  await client.patch('SeerDeployment', objectRef('web', 'default'), {
    spec: { strategy: { type: 'rolling_update', rolling_update: { max_surge: 1, max_unavailable: 1 } } },
  });
  const before = new Set((await allReady('web', 3)).map((p) => p.metadata.name));
  let polling = true;
  let lowest = Infinity;
  let highest = 0;
  const watcher = (async () => {
    while (polling) {
      const pods = live(await podsOf('web'));
      lowest = Math.min(lowest, pods.filter(ready).length);
      highest = Math.max(highest, pods.length);
      await sleep(50);
    }
  })();
  await client.patch('SeerDeployment', objectRef('web', 'default'), {
    spec: { template: { spec: { containers: [container({ env: [{ name: 'VERSION', value: 'v2' }] })] } } },
  });
  await rollout('status', 'seerdeployment/web', '--timeout', '120');
  polling = false;
  await watcher;
  const after = await allReady('web', 3);
  assert.ok(
    after.every((p) => !before.has(p.metadata.name)),
    'every pod replaced',
  );
  assert.ok(lowest >= 2, `availability fell to ${lowest} (allowed: 3 - 1)`);
  assert.ok(highest <= 4, `${highest} pods at once (allowed: 3 + 1)`);
  assert.ok(after.every((p) => p.spec.containers[0]?.env?.[0]?.value === 'v2'));

  await rollout('undo', 'seerdeployment/web');
  await rollout('status', 'seerdeployment/web', '--timeout', '120');
  const rolledBack = await allReady('web', 3);
  assert.ok(
    rolledBack.every((p) => !p.spec.containers[0]?.env),
    'back to the first template',
  );
});

test('pods using the same host port never share a node; the one that fits nowhere says why', async () => {
  await client.create(
    'SeerDeployment',
    deployment('ports', 4, {}, container({ ports: [{ name: 'http', container_port: 19090 }] })),
  );
  const pending = await eventually('one unschedulable replica', async () => {
    const pods = await podsOf('ports');
    const scheduled = pods.filter((p) => p.spec.node_name);
    const waiting = pods.find((p) => !p.spec.node_name);
    const condition = waiting?.status?.conditions?.find((c) => c.type === 'PodScheduled');
    return pods.length === 4 && scheduled.length === 3 && condition?.status === 'False'
      ? { scheduled, condition }
      : undefined;
  });
  assert.deepEqual(perNode(pending.scheduled), { 'node-1': 1, 'node-2': 1, 'node-3': 1 });
  assert.equal(pending.condition.reason, 'Unschedulable');
  assert.match(pending.condition.message ?? '', /^0\/3 nodes are available: 3 port 19090 in use\.$/);
  await client.delete('SeerDeployment', objectRef('ports', 'default'));
  await eventually('ports pods gone', async () => (await podsOf('ports')).length === 0, 30_000);
});

test('a pod requiring a component that does not exist waits with a clear condition', async () => {
  const pod: SeerPod = {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: { name: 'needs-missing', namespace: 'default' },
    spec: { required_components: [{ name: 'nope' }], containers: [container()] },
  };
  await client.create('SeerPod', pod);
  const condition = await eventually('ComponentNotFound-style condition', async () => {
    const p = await client.get('SeerPod', 'needs-missing', 'default');
    const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
    return c?.status === 'False' ? c : undefined;
  });
  assert.match(condition.message ?? '', /required component nope not found in namespace default/);
  assert.equal((await client.get('SeerPod', 'needs-missing', 'default')).spec.node_name, undefined);
  await client.delete('SeerPod', objectRef('needs-missing', 'default'));
});

test('a component gets one instance per node with dependents, receives their config, and goes with the last one', async () => {
  const component = await makePackage({
    'bin/web': '#!/bin/sh\ntrap "exit 0" TERM\nwhile true; do sleep 0.1; done\n',
    'bin/reload': "#!/bin/sh\necho \"reload: $(ls conf.d | tr '\\n' ' ')\" >> reloads.log\n",
    'conf.d/.keep': '',
  });
  await createComponent('web-server', {
    name: 'web',
    package: component.reference,
    sharing_dir: 'conf.d',
    commands: { start: 'bin/web', reload: 'bin/reload' },
    readiness_probe: { exec: { command: 'true' }, period_seconds: 1 },
  });
  const site = deployment('site', 2, {}, container());
  site.spec.template.spec.required_components = [
    { name: 'web-server', config: { 'site.conf': 'server {}\n' } },
  ];
  await client.create('SeerDeployment', site);
  const pods = await allReady('site', 2);
  const nodes = new Set(pods.map((p) => p.spec.node_name));
  const instances = (
    await client.list('SeerPod', { namespace: 'default', labelSelector: `${COMPONENT_LABEL}=web-server` })
  ).items;
  assert.deepEqual(
    new Set(instances.map((i) => i.spec.node_name)),
    nodes,
    'one instance on each node with a dependent',
  );
  assert.equal(instances.length, nodes.size);
  for (const instance of instances) {
    const dir = new HostLayout(path.join(work, instance.spec.node_name ?? '')).containerDir(
      instance.metadata.name ?? '',
      { name: 'web' },
    );
    assert.equal(await readFile(path.join(dir, 'conf.d', 'site.conf'), 'utf8'), 'server {}\n');
    assert.match(await readFile(path.join(dir, 'reloads.log'), 'utf8'), /reload: site\.conf/);
  }

  // In use: deleting the component is held back, with a condition naming who needs it.
  await client.delete('SeerComponent', objectRef('web-server', 'default'));
  const blocked = await eventually('DeletionBlocked', async () => {
    const c = await client.get('SeerComponent', 'web-server', 'default');
    const inUse = c.status?.conditions?.find((x) => x.type === 'InUse');
    return inUse?.reason === 'DeletionBlocked' ? inUse : undefined;
  });
  assert.match(blocked.message ?? '', /required by 2 pods: site-/);

  await client.delete('SeerDeployment', objectRef('site', 'default'));
  await eventually(
    'the component and its instances gone',
    async () => {
      const left = (
        await client.list('SeerPod', { namespace: 'default', labelSelector: `${COMPONENT_LABEL}=web-server` })
      ).items;
      try {
        await client.get('SeerComponent', 'web-server', 'default');
        return false;
      } catch (error) {
        return isNotFound(error) && left.length === 0;
      }
    },
    60_000,
  );
  for (const instance of instances) {
    assert.equal(
      existsSync(path.join(work, instance.spec.node_name ?? '', 'pod', instance.metadata.name ?? '')),
      false,
    );
  }
});

test('a port a component instance is about to need is taken by no other pod, even before the instance exists', async () => {
  const port = 18480;
  await cluster.kubectlOk(['label', 'snode', 'node-3', 'race=here']);
  await createComponent('edge', container({ name: 'edge', ports: [{ name: 'http', container_port: port }] }));
  const pinned = { node_selector: { race: 'here' } };
  const pod = (name: string, spec: Partial<SeerPod['spec']>): SeerPod => ({
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: { name, namespace: 'default' },
    spec: { ...pinned, containers: [container()], ...spec },
  });
  // One right after the other: the second is placed before the component controller has made the
  // instance the first brings to the node.
  await client.create('SeerPod', pod('edge-user', { required_components: [{ name: 'edge' }] }));
  await client.create(
    'SeerPod',
    pod('port-user', { containers: [container({ ports: [{ name: 'http', container_port: port }] })] }),
  );
  const refusal = await eventually('port-user refused', async () =>
    (await client.get('SeerPod', 'port-user', 'default')).status?.conditions?.find(
      (c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable',
    ),
  );
  assert.match(refusal.message ?? '', new RegExp(`1 port ${port} in use`));
  assert.equal((await client.get('SeerPod', 'edge-user', 'default')).spec.node_name, 'node-3');
  // And still so once the instance exists.
  await eventually(
    'the instance',
    async () =>
      (await client.list('SeerPod', { namespace: 'default', labelSelector: `${COMPONENT_LABEL}=edge` })).items
        .length === 1,
  );
  assert.equal((await client.get('SeerPod', 'port-user', 'default')).spec.node_name, undefined);

  for (const name of ['edge-user', 'port-user']) await client.delete('SeerPod', objectRef(name, 'default'));
  await client.delete('SeerComponent', objectRef('edge', 'default'));
  await eventually(
    'the edge pods and component gone',
    async () => {
      const left = (await client.list('SeerPod', { namespace: 'default' })).items.filter(
        (p) =>
          ['edge-user', 'port-user'].includes(p.metadata.name ?? '') ||
          p.metadata.labels?.[COMPONENT_LABEL] === 'edge',
      );
      return left.length === 0 && !(await client.find('SeerComponent', 'edge', 'default'));
    },
    60_000,
  );
  await cluster.kubectlOk(['label', 'snode', 'node-3', 'race-']);
});

test("seer node cordon keeps new pods away; drain moves a node's pods elsewhere; uncordon lets them back", async () => {
  const node = 'node-1';
  await nodeCommand.run(['cordon', node, '--kubeconfig', cluster.kubeconfig]);
  assert.equal((await client.get('SeerNode', node)).spec.unschedulable, true);
  await client.create('SeerDeployment', deployment('spread', 2));
  assert.ok(
    (await allReady('spread', 2)).every((p) => p.spec.node_name !== node),
    'nothing new on a cordoned node',
  );
  await nodeCommand.run(['uncordon', node, '--kubeconfig', cluster.kubeconfig]);
  assert.notEqual((await client.get('SeerNode', node)).spec.unschedulable, true);

  const target = (await allReady('web', 3))[0]?.spec.node_name ?? '';
  await nodeCommand.run(['drain', target, '--kubeconfig', cluster.kubeconfig, '--timeout', '60']);
  assert.equal((await client.get('SeerNode', target)).spec.unschedulable, true);
  const moved = await allReady('web', 3);
  assert.ok(
    moved.every((p) => p.spec.node_name !== target),
    'every pod of the drained node replaced elsewhere',
  );
  await nodeCommand.run(['uncordon', target, '--kubeconfig', cluster.kubeconfig]);
  await client.delete('SeerDeployment', objectRef('spread', 'default'));
});

test('a pod deleted before it was ever bound is released by the operator', async () => {
  const pod: SeerPod = {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: { name: 'never-bound', namespace: 'default', finalizers: [AGENT_FINALIZER] },
    spec: { node_selector: { zone: 'nowhere' }, containers: [container()] },
  };
  await client.create('SeerPod', pod);
  await eventually('unschedulable', async () => {
    const p = await client.get('SeerPod', 'never-bound', 'default');
    return p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False');
  });
  await client.delete('SeerPod', objectRef('never-bound', 'default'));
  await eventually(
    'released',
    async () => (await client.find('SeerPod', 'never-bound', 'default')) === undefined,
  );
});

test('a standby replica, which never led, exits promptly on SIGTERM', async () => {
  const standby = await startOperatorProcess({
    kubeconfig: cluster.kubeconfig,
    identity: 'operator-c',
    logDir: work,
  });
  try {
    await eventually('operator-c campaigning', async () =>
      (await standby.log()).includes('campaigning for leadership'),
    );
    const started = Date.now();
    const exited = await Promise.race([standby.stop().then(() => true), sleep(10_000).then(() => false)]);
    assert.ok(exited, 'still running 10 s after SIGTERM');
    assert.equal(standby.child.exitCode, 0);
    assert.ok(Date.now() - started < 10_000);
    assert.doesNotMatch(await standby.log(), /leading: controllers started/, 'it was a standby');
  } finally {
    await standby.kill();
  }
});

test('the leader serves /healthz, /readyz and /metrics, and records Events on the objects it acts on', async () => {
  const holder = await client.rest.request<{ spec?: { holderIdentity?: string } }>(
    'GET',
    '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases/seer-operator',
  );
  const leader = operators.get(holder.spec?.holderIdentity ?? '');
  assert.ok(leader);
  const port = /"http":(\d+)/.exec(await leader.log())?.[1];
  assert.ok(port, 'the operator logs its HTTP port');
  for (const endpoint of ['healthz', 'readyz']) {
    const response = await fetch(`http://127.0.0.1:${port}/${endpoint}`);
    assert.equal(response.status, 200, endpoint);
  }
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  for (const name of [
    'seer_reconcile_total{controller="scheduler",result="success"}',
    'seer_reconcile_duration_seconds_bucket',
    'seer_workqueue_depth',
    'seer_pods{phase="Running"}',
    'seer_scheduling_latency_seconds_count',
    'seer_leader 1',
  ]) {
    assert.ok(metrics.includes(name), `${name} missing from /metrics`);
  }
  const events = await cluster.kubectlOk([
    'get',
    'events',
    '--field-selector',
    'reason=Scheduled',
    '-o',
    'name',
  ]);
  assert.ok(events.trim().split('\n').length >= 3);
  const described = await cluster.kubectlOk(['describe', 'seerdeployment', 'web']);
  assert.match(described, /Events:[\s\S]*Scaling|Events:[\s\S]*Rollout/);
});

test('a node whose agent is gone for good has its deployment pods replaced on the others', async () => {
  const pods = await allReady('web', 3);
  const victim = pods[0]?.spec.node_name ?? '';
  await agents.get(victim)?.kill();
  agents.delete(victim);
  await eventually(
    `${victim} Unknown`,
    async () => (await client.get('SeerNode', victim)).status?.phase === 'Unknown',
    30_000,
  );
  const replaced = await eventually(
    'replacements on healthy nodes',
    async () => {
      const now = await podsOf('web');
      return now.length === 3 && now.every((p) => ready(p) && p.spec.node_name !== victim) ? now : undefined;
    },
    60_000,
    200,
  );
  assert.equal(replaced.length, 3);
});

test('killing the leader hands over to the standby with exactly the right number of pods throughout', async () => {
  const leaseHolder = async () =>
    (
      await client.rest.request<{ spec?: { holderIdentity?: string } }>(
        'GET',
        '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases/seer-operator',
      )
    ).spec?.holderIdentity;
  const leader = (await leaseHolder()) ?? '';
  assert.ok(operators.has(leader), `a known leader, got ${leader}`);
  let polling = true;
  const counts: number[] = [];
  const watcher = (async () => {
    while (polling) {
      counts.push(live(await podsOf('web')).length);
      await sleep(100);
    }
  })();
  await operators.get(leader)?.kill();
  operators.delete(leader);
  const standby = [...operators.keys()][0] ?? '';
  await eventually('the standby leads', async () => (await leaseHolder()) === standby, 15_000);
  await cluster.kubectlOk(['scale', 'seerdeployment/web', '--replicas=4']);
  await allReady('web', 4);
  polling = false;
  await watcher;
  assert.ok(counts.length > 10);
  const before = counts.filter((c) => c !== 3 && c !== 4);
  assert.deepEqual(before, [], 'never a duplicate or a missing pod during failover');
});
