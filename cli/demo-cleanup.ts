import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostLayout } from '../agent/pods/layout.js';
import { readStateFile } from '../agent/process/state-file.js';
import { isRunning } from '../agent/process/proc.js';
import type { SeerKind } from '../api/names.js';
import { RestClient } from '../kube/rest.js';
import { SeerClient } from '../kube/seer-client.js';
import { stopCluster } from './control-plane/cluster.js';
import { runsProgram, terminate } from './control-plane/processes.js';
import { objectRef } from '../kube/keys.js';

/** A process the demo started, with its program to tell it from a later process given the same pid. */
export interface DemoProcess {
  pid: number;
  program: string;
}

/**
 * What `seer demo` has started, in DIR/demo.json, so that the demo's own Ctrl-C and its watchdog (when
 * the demo died) stop the same things the same way.
 */
export interface DemoState {
  /** The demo process itself. */
  owner: DemoProcess;
  clusterDir: string;
  watchdog?: DemoProcess;
  /** The local registry, and its storage directory. */
  registry?: DemoProcess & { dir: string };
  operator?: DemoProcess;
  /** Each agent with its root, where the records of the processes it runs are. */
  agents: (DemoProcess & { node: string; root: string })[];
}

const STATE_FILE = 'demo.json';

export function demoStatePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

export async function readDemoState(dir: string): Promise<DemoState | undefined> {
  try {
    return JSON.parse(await readFile(demoStatePath(dir), 'utf8')) as DemoState;
  } catch {
    return undefined;
  }
}

export async function writeDemoState(dir: string, state: DemoState): Promise<void> {
  await writeFile(demoStatePath(dir), JSON.stringify(state, null, 2));
}

/** Those of `processes` that still run (a pid now used by another program does not count). */
async function stillRunning<T extends DemoProcess>(processes: (T | undefined)[]): Promise<T[]> {
  const found: T[] = [];
  for (const child of processes) {
    if (child && (await runsProgram(child.pid, child.program))) found.push(child);
  }
  return found;
}

/** Kinds whose objects end up as processes on the agents: deleting them all stops everything. */
const WORKLOAD_KINDS: SeerKind[] = [
  'SeerDeployment',
  'SeerDaemonSet',
  'SeerStatefulSet',
  'SeerComponent',
  'SeerPod',
];

/**
 * Deletes every workload and waits (up to `timeoutMs`) until the agents have stopped the pods'
 * processes and let the pods go. Pods are deleted too, not only their deployments, so this works
 * without the operator; without agents, the next demo's agents finish the pods' deletion.
 */
async function removeWorkloads(clusterDir: string, timeoutMs: number): Promise<void> {
  const kubeconfig = path.join(clusterDir, 'kubeconfig');
  if (!existsSync(kubeconfig)) return;
  const rest = RestClient.fromKubeconfig(kubeconfig);
  const client = new SeerClient(rest);
  try {
    for (const kind of WORKLOAD_KINDS) {
      for (const object of (await client.list(kind)).items) {
        const { name = '', namespace } = object.metadata;
        await client.delete(kind, objectRef(name, namespace)).catch(() => undefined);
      }
    }
    const deadline = Date.now() + timeoutMs;
    while ((await client.list('SeerPod')).items.length > 0 && Date.now() < deadline) await sleep(250);
  } catch {
    // The API server is gone: what the agents left is killed below.
  } finally {
    rest.close();
  }
}

/**
 * The pods' processes still running under the agents' roots, from the records the agents keep to
 * re-adopt them. Each leads its own process group.
 */
async function leftoverPodProcesses(roots: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const root of roots) {
    const layout = new HostLayout(root);
    const pods = await readdir(layout.podsDir).catch(() => [] as string[]);
    for (const pod of pods) {
      const files = await readdir(layout.recordDir(pod)).catch(() => [] as string[]);
      for (const file of files.filter((name) => name.endsWith('.state.json'))) {
        const state = await readStateFile(path.join(layout.recordDir(pod), file)).catch(() => undefined);
        if (state?.pid && isRunning(state.pid, state.proc_start_time)) pids.push(state.pid);
      }
    }
  }
  return pids;
}

/**
 * Stops everything the demo in `dir` started, in an order that leaves nothing behind: the workloads
 * first, while the agents run and can stop their processes (which outlive an agent by design); then
 * the agents, the operator and the registry; then any pod process the agents did not stop; then the
 * control plane. Safe to run again after an interrupted run: the demo runs it on Ctrl-C, and its
 * watchdog runs it when the demo died.
 */
export async function stopDemo(dir: string, say: (line: string) => void): Promise<void> {
  const state = await readDemoState(dir);
  if (!state) return;
  const agents = await stillRunning(state.agents);
  if (agents.length > 0) say('removing the deployment: the agents stop its processes');
  await removeWorkloads(state.clusterDir, agents.length > 0 ? 30_000 : 0);

  const started = await stillRunning([...state.agents, state.operator, state.registry]);
  if (started.length > 0) say('stopping the agents, the operator and the registry');
  await Promise.all(started.map((child) => terminate(child.pid, 5_000)));
  const leftovers = await leftoverPodProcesses(state.agents.map((agent) => agent.root));
  if (leftovers.length > 0) {
    say(`stopping pod processes the agents left running: ${leftovers.join(' ')}`);
    await Promise.all(leftovers.map((pid) => terminate(pid, 5_000)));
  }

  if (state.registry) await rm(state.registry.dir, { recursive: true, force: true });

  say('stopping etcd and kube-apiserver');
  await stopCluster(state.clusterDir);
  await rm(demoStatePath(dir), { force: true });
  for (const watchdog of await stillRunning([state.watchdog])) {
    if (watchdog.pid !== process.pid) await terminate(watchdog.pid, 1_000);
  }
  say('stopped');
}
