/**
 * The operator against a real API server and 50 simulated nodes (one process that heartbeats and
 * reports pods Running at once):
 *  - a 1,000-replica deployment: time until every pod is bound (target 10 s) and Running;
 *    baseline in the same run: the same 1,000 pods created already bound by one client;
 *  - a rolling update of 100 replicas: time to complete;
 *  - operator resident memory with 10,000 pods in its caches (target 250 MB).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEER_API_VERSION } from '../api/names.js';
import type { SeerPod } from '../api/types.js';
import { RestClient } from '../kube/rest.js';
import type { Informer } from '../kube/informer.js';
import { SeerClient } from '../kube/seer-client.js';
import { eventually } from '../test/support/agent.js';
import { startTestCluster } from '../test/support/control-plane.js';
import { startOperatorProcess } from '../test/support/operator.js';
import { SimulatedNodes } from './simulated-nodes.js';
import { objectRef } from '../kube/keys.js';

const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 1000);
const NODES = Number(process.env.BENCH_NODES ?? 50);
const CACHED_PODS = Number(process.env.BENCH_CACHED_PODS ?? 10_000);

const container = { name: 'app', package: 'file:///opt/app.tar.gz', commands: { start: 'bin/app' } };

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Pods seen through one watch (polling lists of 1,000 pods would load the API server being measured). */
let watched: Informer<SeerPod> | undefined;

function count(_client: SeerClient, namespace: string, check: (pod: SeerPod) => boolean): number {
  return (watched?.list() ?? []).filter((p) => p.metadata.namespace === namespace && check(p)).length;
}

const running = (p: SeerPod) => p.status?.phase === 'Running';

/** Creates pods `parallel` at a time. */
async function createPods(client: SeerClient, pods: SeerPod[], parallel = 16): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < pods.length) {
        const pod = pods[next++];
        if (pod) await client.create('SeerPod', pod);
      }
    }),
  );
}

const cluster = await startTestCluster({ crds: true });
const work = await mkdtemp(path.join(os.tmpdir(), 'seer-bench-operator-'));
try {
  for (const ns of ['baseline', 'bench', 'cached']) await cluster.kubectlOk(['create', 'namespace', ns]);
  const client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  watched = client.informer('SeerPod');
  await watched.start();
  const nodes = new SimulatedNodes(
    client,
    Array.from({ length: NODES }, (_, i) => `sim-${i}`),
  );
  await nodes.start();

  // Baseline: one client creating the pods already bound, round-robin over the nodes.
  let started = performance.now();
  await createPods(
    client,
    Array.from({ length: REPLICAS }, (_, i) => ({
      apiVersion: SEER_API_VERSION,
      kind: 'SeerPod',
      metadata: { name: `base-${i}`, namespace: 'baseline' },
      spec: { node_name: nodes.names[i % NODES], containers: [container] },
    })),
  );
  const baselineCreated = performance.now() - started;
  await eventually(
    'baseline pods Running',
    async () => count(client, 'baseline', running) === REPLICAS,
    300_000,
    250,
  );
  const baselineRunning = performance.now() - started;

  const operator = await startOperatorProcess({
    kubeconfig: cluster.kubeconfig,
    identity: 'bench',
    logDir: work,
    args: ['--log-level', 'warn'],
  });
  await sleep(3000);
  started = performance.now();
  await client.create('SeerDeployment', {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    metadata: { name: 'big', namespace: 'bench' },
    spec: { replicas: REPLICAS, template: { spec: { containers: [container] } } },
  });
  await eventually('all created', async () => count(client, 'bench', () => true) === REPLICAS, 300_000, 100);
  const created = performance.now() - started;
  await eventually(
    'all bound',
    async () => count(client, 'bench', (p) => !!p.spec.node_name) === REPLICAS,
    300_000,
    100,
  );
  const bound = performance.now() - started;
  await eventually('all Running', async () => count(client, 'bench', running) === REPLICAS, 300_000, 250);
  const allRunning = performance.now() - started;

  // Rolling update of 100 replicas.
  await client.create('SeerDeployment', {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    metadata: { name: 'rolling', namespace: 'bench' },
    spec: { replicas: 100, template: { spec: { containers: [container] } } },
  });
  const rollingDone = async (generation: number) => {
    const d = await client.get('SeerDeployment', 'rolling', 'bench');
    const s = d.status;
    return (
      (s?.observed_generation ?? 0) >= generation &&
      s?.updated_replicas === 100 &&
      s.available_replicas === 100 &&
      s.replicas === 100
    );
  };
  await eventually('rolling ready', () => rollingDone(1), 300_000, 250);
  started = performance.now();
  const updated = await client.patch('SeerDeployment', objectRef('rolling', 'bench'), {
    spec: { template: { spec: { containers: [{ ...container, env: [{ name: 'V', value: '2' }] }] } } },
  });
  await eventually('rollout complete', () => rollingDone(updated.metadata.generation ?? 2), 300_000, 250);
  const rolling = performance.now() - started;

  // 10,000 pods in the caches: bound to a node that does not exist, so no controller acts on them.
  await createPods(
    client,
    Array.from({ length: CACHED_PODS }, (_, i) => ({
      apiVersion: SEER_API_VERSION,
      kind: 'SeerPod',
      metadata: { name: `cached-${i}`, namespace: 'cached' },
      spec: { node_name: 'nowhere', containers: [container] },
    })),
    32,
  );
  await sleep(5000);
  const rss = await rssMb(operator.child.pid ?? 0);

  console.log(`${REPLICAS}-replica deployment over ${NODES} simulated nodes`);
  console.log(`  all created                ${(created / 1000).toFixed(1)} s`);
  console.log(`  all bound                  ${(bound / 1000).toFixed(1)} s   (target 10 s)`);
  console.log(`  all Running                ${(allRunning / 1000).toFixed(1)} s`);
  console.log(
    `  baseline, pods created bound by one client: created ${(baselineCreated / 1000).toFixed(1)} s, Running ${(baselineRunning / 1000).toFixed(1)} s`,
  );
  console.log(`rolling update of 100 replicas  ${(rolling / 1000).toFixed(1)} s`);
  console.log(
    `operator RSS with ${REPLICAS + 100 + CACHED_PODS + REPLICAS} pods in its caches  ${rss.toFixed(0)} MB   (target 250 MB)`,
  );
  await operator.stop();
  await nodes.stop();
  await watched?.stop();
} finally {
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}
