/**
 * Following a container's log through the agent's endpoint, against a real API server and agent:
 * - throughput: a container writes BENCH_FOLLOW_LINES (1,000,000) numbered lines as fast as `seq`
 *   can while two followers are attached, the endpoint's (`follow=true`) and `tail -F` of the same
 *   file (the baseline, same run); each one's lines/s until its last line arrives. Goal ≥ 0.5×. Then
 *   the same with timestamps=true on another container: the cost of stamping each line.
 * - memory: the agent's resident memory idle, and its peak with BENCH_FOLLOWERS (20) followers
 *   attached to a container writing a line every 10 ms. Budget 120 MB.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SeerNode } from '../api/types.js';
import { addNode } from '../cli/commands/node-credentials.js';
import { connectionFromKubeconfig, RestClient } from '../kube/rest.js';
import { SeerClient } from '../kube/seer-client.js';
import { eventually, startAgentProcess } from '../test/support/agent.js';
import { startTestCluster } from '../test/support/control-plane.js';
import { makePackage, seerPod } from '../test/support/pods.js';

const LINES = Number(process.env.BENCH_FOLLOW_LINES ?? 1_000_000);
const FOLLOWERS = Number(process.env.BENCH_FOLLOWERS ?? 20);
const NODE = 'bench-logs';

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Counts newline-terminated lines from a stream until `total`, and when the last came (ms). */
function countLines(
  stream: NodeJS.ReadableStream,
  total: number,
  onDone: (at: number, count: number) => void,
): void {
  let count = 0;
  let done = false;
  stream.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) count++;
    if (!done && count >= total) {
      done = true;
      onDone(performance.now(), count);
    }
  });
}

const cluster = await startTestCluster({ crds: true });
const rest = RestClient.fromKubeconfig(cluster.kubeconfig);
const admin = new SeerClient(rest);
const work = await mkdtemp(path.join(os.tmpdir(), 'seer-bench-logs-'));
const requests: ReturnType<typeof https.get>[] = [];
let agentPid: number | undefined;
let stopAgent: (() => Promise<void>) | undefined;
try {
  const connection = connectionFromKubeconfig(cluster.kubeconfig);
  const kubeconfig = path.join(work, 'node.kubeconfig');
  await writeFile(
    kubeconfig,
    await addNode(rest, NODE, { server: connection.server, caData: connection.ca }),
  );
  await cluster.kubectlOk(['create', 'serviceaccount', 'bench']);
  await cluster.kubectlOk([
    'create',
    'clusterrolebinding',
    'bench',
    '--clusterrole=cluster-admin',
    '--serviceaccount=default:bench',
  ]);
  const token = (await cluster.kubectlOk(['create', 'token', 'bench'])).trim();
  const root = path.join(work, 'root');
  const agent = await startAgentProcess({
    nodeName: NODE,
    root,
    kubeconfig,
    args: ['--endpoint-address', '127.0.0.1', '--log-level', 'info'],
  });
  agentPid = agent.child.pid ?? 0;
  stopAgent = () => agent.cleanUp();
  const endpoint = await eventually('the endpoint in the SeerNode status', async () => {
    const node: SeerNode = await admin.get('SeerNode', NODE);
    return node.status?.endpoint ?? undefined;
  });
  const follow = (pod: string, extra = '') =>
    https.get({
      host: '127.0.0.1',
      port: endpoint.port,
      ca: endpoint.ca_certificates,
      path: `/pods/default/${pod}/containers/main/logs?stream=stdout&follow=true${extra}`,
      headers: { authorization: `Bearer ${token}` },
      agent: false,
    });

  // Each writer waits for its start file, so both followers are attached before the first line.
  const burst = async (name: string) => {
    const startFile = path.join(work, `go-${name}`);
    const pkg = await makePackage({
      'run.sh': `#!/bin/sh\nwhile [ ! -e ${startFile} ]; do sleep 0.05; done\nseq 1 ${LINES}\nexec sleep 3600\n`,
    });
    return { name, pkg, startFile };
  };
  const plain = await burst('burst');
  const stamped = await burst('stamped');
  const ticker = await makePackage({
    'run.sh': '#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo "tick $i"; sleep 0.01; done\n',
  });
  const pods = [
    ['burst', plain.pkg],
    ['stamped', stamped.pkg],
    ['ticker', ticker],
  ] as const;
  for (const [name, pkg] of pods)
    await admin.create(
      'SeerPod',
      seerPod(name, {
        node_name: NODE,
        containers: [{ name: 'main', package: pkg.reference, commands: { start: './run.sh' } }],
      }),
    );
  for (const [name] of pods)
    await eventually(`${name} running`, async () => {
      const pod = await admin.get('SeerPod', name, 'default');
      return pod.status?.phase === 'Running';
    });
  await sleep(2000);
  const idleRss = await rssMb(agentPid);

  /** Lines/s of tail -F and of the endpoint (with `query`) following one burst, in the same run. */
  const throughput = async ({ name, startFile }: { name: string; startFile: string }, query = '') => {
    const liveFile = path.join(root, 'pod', name, 'log', 'main.stdout.log');
    const finished: Record<string, number> = {};
    const tail = spawn('tail', ['-n', '+1', '-F', liveFile], { stdio: ['ignore', 'pipe', 'ignore'] });
    countLines(tail.stdout, LINES, (at) => (finished.tail = at));
    const request = follow(name, query);
    requests.push(request);
    request.on('response', (response) => countLines(response, LINES, (at) => (finished.endpoint = at)));
    await sleep(1000);
    const began = performance.now();
    await writeFile(startFile, '');
    await eventually('both followers have every line', () => finished.tail && finished.endpoint, 300_000, 20);
    tail.kill();
    const rate = (at: number) => LINES / ((at - began) / 1000);
    return { tail: rate(finished.tail!), endpoint: rate(finished.endpoint!) };
  };
  const rates = await throughput(plain);

  let peak = await rssMb(agentPid);
  for (let i = 0; i < FOLLOWERS; i++) requests.push(follow('ticker'));
  for (let second = 0; second < 10; second++) {
    await sleep(1000);
    peak = Math.max(peak, await rssMb(agentPid));
  }

  // Last: what stamping leaves in the heap does not count in the budget above.
  const stampedRates = await throughput(stamped, '&timestamps=true');
  const stampedRss = await rssMb(agentPid);

  console.log(`follow throughput, ${LINES} lines written by seq:`);
  console.log(`  tail -F (baseline)     ${rates.tail.toFixed(0)} lines/s`);
  console.log(`  endpoint follow=true   ${rates.endpoint.toFixed(0)} lines/s`);
  console.log(`  ratio                  ${(rates.endpoint / rates.tail).toFixed(2)}× (goal ≥ 0.5×)`);
  console.log(`with timestamps=true, another burst:`);
  console.log(`  tail -F (baseline)     ${stampedRates.tail.toFixed(0)} lines/s`);
  console.log(`  endpoint               ${stampedRates.endpoint.toFixed(0)} lines/s`);
  console.log(`  ratio                  ${(stampedRates.endpoint / stampedRates.tail).toFixed(2)}×`);
  console.log(`  agent RSS afterwards   ${stampedRss.toFixed(1)} MB`);
  console.log(`agent resident memory:`);
  console.log(`  idle (3 pods)          ${idleRss.toFixed(1)} MB`);
  console.log(`  ${FOLLOWERS} followers, peak    ${peak.toFixed(1)} MB (budget 120 MB)`);
} finally {
  for (const request of requests) request.destroy();
  if (agentPid !== undefined) await stopAgent?.();
  rest.close();
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}
