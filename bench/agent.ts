/**
 * seer-agent against a real API server: resident memory idle and with 100 managed processes, the
 * time from a bound pod's creation to Running in its status (package cached), over 100 pods, and the
 * CPU time (user + system, from /proc/<pid>/stat) the agent spends over BENCH_CPU_SECONDS (20 s)
 * idle, with its 100 processes as children, and with the same 100 processes adopted by a second
 * agent (not its children: their exits are found by watching /proc), in three windows.
 * Targets: 60 MB idle, 120 MB with 100 processes; p50 300 ms, p99 1 s.
 * Baselines in the same run: a bare Node.js process with the Kubernetes client loaded (memory), a
 * "null agent" that marks each pod Running as soon as its watch sees it (the API and watch floor),
 * and the idle agent's CPU time (heartbeats and watches, no process).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SeerPod } from '../api/types.js';
import { RestClient } from '../kube/rest.js';
import { objectKey, objectRef } from '../kube/keys.js';
import { SeerClient } from '../kube/seer-client.js';
import { startAgentProcess, eventually } from '../test/support/agent.js';
import { startTestCluster } from '../test/support/control-plane.js';
import { makePackage, seerPod } from '../test/support/pods.js';

const PODS = Number(process.env.BENCH_PODS ?? 100);
const CPU_SECONDS = Number(process.env.BENCH_CPU_SECONDS ?? 20);
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** User + system CPU time of `pid` so far, in ms (fields 14 and 15 of /proc/<pid>/stat). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** CPU time `pid` spends over CPU_SECONDS, as ms and as a share of one core. */
async function cpuOver(pid: number): Promise<{ ms: number; percent: number }> {
  const before = await cpuMs(pid);
  const began = performance.now();
  await sleep(CPU_SECONDS * 1000);
  const ms = (await cpuMs(pid)) - before;
  return { ms, percent: (100 * ms) / (performance.now() - began) };
}

function describeCpu(samples: { ms: number; percent: number }[]): string {
  return samples.map((s) => `${s.ms.toFixed(0)} ms (${s.percent.toFixed(2)} %)`).join(', ');
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Creates pods one by one and records, per pod, the time from its create call to Running in status. */
async function bindToRunning(
  client: SeerClient,
  node: string,
  names: string[],
  reference: string,
  digest: string,
) {
  const created = new Map<string, number>();
  const latencies = new Map<string, number>();
  const informer = client.informer('SeerPod', { fieldSelector: `spec.node_name=${node}` });
  const observe = (pod: SeerPod) => {
    const start = created.get(pod.metadata.name ?? '');
    if (start !== undefined && pod.status?.phase === 'Running' && !latencies.has(pod.metadata.name ?? '')) {
      latencies.set(pod.metadata.name ?? '', performance.now() - start);
    }
  };
  informer.on('add', observe);
  informer.on('update', (_old, pod) => observe(pod));
  await informer.start();
  for (const name of names) {
    created.set(name, performance.now());
    await client.create(
      'SeerPod',
      seerPod(name, {
        node_name: node,
        containers: [
          {
            name: 'main',
            package: reference,
            package_digest: digest,
            commands: { start: 'exec sleep 100000' },
          },
        ],
      }),
    );
    await sleep(20);
  }
  await eventually('all pods Running', () => latencies.size === names.length, 120_000, 200);
  await informer.stop();
  return [...latencies.values()];
}

/** Marks every pod bound to `node` Running as soon as it is seen: no processes, only API round trips. */
async function nullAgent(client: SeerClient, node: string) {
  const informer = client.informer('SeerPod', { fieldSelector: `spec.node_name=${node}` });
  const done = new Set<string>();
  const mark = (pod: SeerPod) => {
    const key = objectKey(pod);
    if (done.has(key)) return;
    done.add(key);
    void client.patchStatus('SeerPod', pod, { phase: 'Running' });
  };
  informer.on('add', mark);
  await informer.start();
  return informer;
}

const cluster = await startTestCluster({ crds: true });
const work = await mkdtemp(path.join(os.tmpdir(), 'seer-bench-agent-'));
try {
  const client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  const pkg = await makePackage({ README: 'a package with nothing to run but sleep\n' });

  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000);'], {
    stdio: 'ignore',
  });
  const agent = await startAgentProcess({
    nodeName: 'bench',
    root: path.join(work, 'root'),
    kubeconfig: cluster.kubeconfig,
    args: ['--log-level', 'info'],
  });
  await sleep(5000);
  const idle = await rssMb(agent.child.pid ?? 0);
  const idleCpu = await cpuOver(agent.child.pid ?? 0);
  const bareRss = await rssMb(bare.pid ?? 0);
  bare.kill();

  // Warm the package cache, so the measured pods only unpack.
  await bindToRunning(client, 'bench', ['warm-up'], pkg.reference, pkg.digest);
  const names = Array.from({ length: PODS }, (_, i) => `p${i}`);
  const latencies = await bindToRunning(client, 'bench', names, pkg.reference, pkg.digest);
  await sleep(3000);
  const loaded = await rssMb(agent.child.pid ?? 0);
  const childrenCpu = await cpuOver(agent.child.pid ?? 0);

  // A second agent on the same root adopts every process the first one leaves running.
  await agent.stop();
  const adopting = await startAgentProcess({
    nodeName: 'bench',
    root: path.join(work, 'root'),
    kubeconfig: cluster.kubeconfig,
    logFile: path.join(work, 'bench-agent-adopting.log'),
    args: ['--log-level', 'info'],
  });
  await eventually(
    'every process adopted',
    async () =>
      (await adopting.log()).split('\n').filter((line) => line.includes('"adopted":true')).length ===
      PODS + 1,
    120_000,
    200,
  );
  await sleep(3000);
  const adoptedCpu: { ms: number; percent: number }[] = [];
  for (let window = 0; window < 3; window++) adoptedCpu.push(await cpuOver(adopting.child.pid ?? 0));

  const floor = await nullAgent(client, 'null-node');
  const baseline = await bindToRunning(
    client,
    'null-node',
    names.map((n) => `null-${n}`),
    pkg.reference,
    pkg.digest,
  );
  await floor.stop();

  console.log(
    `agent RSS idle                  ${idle.toFixed(1)} MB   (target 60 MB; bare node process ${bareRss.toFixed(1)} MB)`,
  );
  console.log(`agent RSS with ${PODS} processes    ${loaded.toFixed(1)} MB   (target 120 MB)`);
  console.log(
    `bound pod -> Running (n=${latencies.length})  p50 ${percentile(latencies, 50).toFixed(0)} ms  p99 ${percentile(latencies, 99).toFixed(0)} ms  (targets 300 / 1000 ms)`,
  );
  console.log(
    `baseline null agent (n=${baseline.length})  p50 ${percentile(baseline, 50).toFixed(0)} ms  p99 ${percentile(baseline, 99).toFixed(0)} ms`,
  );
  console.log(`agent CPU over ${CPU_SECONDS} s:`);
  console.log(`  baseline: idle, no process       ${describeCpu([idleCpu])}`);
  console.log(`  ${PODS} processes, its children     ${describeCpu([childrenCpu])}`);
  console.log(`  ${PODS} processes, adopted          ${describeCpu(adoptedCpu)}`);
  const started = (await agent.log())
    .split('\n')
    .filter((line) => line.includes('"pod started"'))
    .map((line) => JSON.parse(line) as { pull_ms: number; unpack_ms: number; start_ms: number });
  if (started.length > 0) {
    const mean = (key: 'pull_ms' | 'unpack_ms' | 'start_ms') =>
      (started.reduce((sum, s) => sum + s[key], 0) / started.length).toFixed(0);
    console.log(
      `  agent stages, mean: pull ${mean('pull_ms')} ms, unpack ${mean('unpack_ms')} ms, start ${mean('start_ms')} ms`,
    );
  }
  // Leave nothing running: deleting every pod makes the agent stop all processes.
  for (const name of ['warm-up', ...names]) await client.delete('SeerPod', objectRef(name, 'default'));
  await eventually(
    'all pods gone',
    async () => (await client.list('SeerPod', { fieldSelector: 'spec.node_name=bench' })).items.length === 0,
    120_000,
    500,
  );
  await adopting.stop();
} finally {
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}
