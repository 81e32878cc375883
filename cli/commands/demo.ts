import { spawn } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { pushPackage } from '../../packages/build.js';
import type { SeerDeployment } from '../../api/types.js';
import { repoPath } from '../../common/paths.js';
import { untilStopOrHangup } from '../../common/signals.js';
import { HostLayout } from '../../agent/pods/layout.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import type { Command } from '../command.js';
import { controlPlaneBinaries } from '../control-plane/binaries.js';
import { startCluster, startWatchdog } from '../control-plane/cluster.js';
import { runsProgram } from '../control-plane/processes.js';
import {
  readDemoState,
  stopDemo,
  writeDemoState,
  type DemoProcess,
  type DemoState,
} from '../demo-cleanup.js';
import { startRegistry } from '../local-registry.js';
import { runCommand } from '../run-command.js';

/**
 * The demo's nodes share this machine's network, so each gets its own loopback address: the replicas
 * listen on their node's address (SEER_NODE_IP) and so can use the same port.
 */
const NODES = [
  { name: 'demo-1', address: '127.0.0.1' },
  { name: 'demo-2', address: '127.0.0.2' },
];

function say(line: string): void {
  console.log(`\x1b[1m==>\x1b[0m ${line}`);
}

/** A stop signal arrived while the demo was starting: it stops what it has started so far. */
class Interrupted extends Error {}

/**
 * Starts `node dist/<script> args`, its output appended to `logFile`, detached: in its own session, so
 * the terminal's Ctrl-C and SIGHUP reach only the demo, which then stops the agents after their pods.
 */
async function startSeer(script: string, args: string[], logFile: string): Promise<DemoProcess> {
  const log = await open(logFile, 'a');
  try {
    const child = spawn(process.execPath, [repoPath('dist', script), ...args], {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return { pid: child.pid ?? 0, program: process.execPath };
  } finally {
    await log.close();
  }
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The whole system on one machine: a local control plane, the CRDs, the operator, two agents (two node
 * names, two roots, two addresses), the example package pushed to a local OCI registry, and the hello
 * deployment running on both nodes. Ctrl-C, or the terminal closing, removes the deployment (the agents
 * stop its processes) and stops everything; if the demo itself is killed, its watchdog does the same.
 */
async function demo(dir: string): Promise<void> {
  // Caught from the start: a signal during start-up stops what has been started so far.
  let stopping = false;
  const stopSignal = untilStopOrHangup().then(() => (stopping = true));
  // Once the terminal has closed, writing to it fails; the cleanup must carry on regardless.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const step = (line: string) => {
    if (stopping) throw new Interrupted();
    say(line);
  };
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check().catch(() => false))) {
      if (stopping) throw new Interrupted();
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  await mkdir(dir, { recursive: true });
  const previous = await readDemoState(dir);
  if (previous && (await runsProgram(previous.owner.pid, previous.owner.program))) {
    throw new Error(`a demo is already running in ${dir} (pid ${previous.owner.pid})`);
  }
  // A demo killed together with its watchdog left processes behind: stop them first.
  if (previous) await stopDemo(dir, say);

  const clusterDir = path.join(dir, 'cluster');
  await mkdir(clusterDir, { recursive: true });
  const state: DemoState = { owner: { pid: process.pid, program: process.execPath }, clusterDir, agents: [] };
  await writeDemoState(dir, state);
  // Before anything else starts, so that whatever this process starts goes when it dies, even by SIGKILL.
  state.watchdog = { pid: await startWatchdog(process.pid, clusterDir, dir), program: process.execPath };
  await writeDemoState(dir, state);

  let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
  // The shared cleanup stops the registry by its pid; stop() then only removes its storage.
  const stopEverything = async () => {
    await stopDemo(dir, say);
    await registry?.stop();
  };
  try {
    const binaries = await controlPlaneBinaries();
    step(`starting etcd and kube-apiserver in ${clusterDir}`);
    const cluster = await startCluster({ dir: clusterDir, binaries });
    // Its own discovery cache: one made before the CRDs existed would hide them from `kubectl get seer`
    // in the user's shell for hours.
    const kubectl = (...args: string[]) =>
      runCommand(binaries.kubectl, [
        '--kubeconfig',
        cluster.kubeconfig,
        '--cache-dir',
        path.join(dir, 'kubectl-cache'),
        ...args,
      ]);
    const rest = RestClient.fromKubeconfig(cluster.kubeconfig);
    const client = new SeerClient(rest);
    try {
      step('installing the CRDs');
      await kubectl('apply', '-f', repoPath('crds'));
      await kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all');

      step('building the hello package and pushing it to a local OCI registry');
      // startRegistry() does not say which process it started: it is this process's new child.
      registry = await startRegistry();
      state.registry = { pid: registry.pid, program: registry.program, dir: registry.dir };
      await writeDemoState(dir, state);
      const reference = `${registry.host}/examples/hello:v1`;
      const registries = { insecure: [registry.host], credentials: {} };
      const pushed = await pushPackage(repoPath('examples', 'hello', 'package'), reference, { registries });
      say(`pushed ${reference} (${pushed.digest})`);

      step('starting seer-operator and two agents');
      state.operator = await startSeer(
        path.join('operator', 'main.js'),
        ['--kubeconfig', cluster.kubeconfig, '--http-address', '127.0.0.1:0', '--identity', 'demo-operator'],
        path.join(dir, 'operator.log'),
      );
      await writeDemoState(dir, state);
      for (const node of NODES) {
        const root = path.join(dir, node.name);
        const agent = await startSeer(
          path.join('agent', 'main.js'),
          [
            '--kubeconfig',
            cluster.kubeconfig,
            '--node-name',
            node.name,
            '--root',
            root,
            '--address',
            node.address,
            // Both agents run on this machine: each endpoint on its own node's address.
            '--endpoint-address',
            node.address,
            '--insecure-registry',
            registry.host,
          ],
          path.join(dir, `${node.name}.log`),
        );
        state.agents.push({ ...agent, node: node.name, root });
        await writeDemoState(dir, state);
      }
      await until(
        'both nodes Ready',
        async () =>
          (await client.list('SeerNode')).items.filter((n) => n.status?.phase === 'Ready').length ===
          NODES.length,
      );

      step('applying examples/hello/hello-deployment.yaml with the pushed package');
      const deployment = yaml.load(
        await readFile(repoPath('examples', 'hello', 'hello-deployment.yaml'), 'utf8'),
      ) as SeerDeployment;
      const container = deployment.spec.template.spec.containers[0];
      if (container) {
        Object.assign(container, { package: reference, package_digest: pushed.digest });
        // The agents' PATH may not lead to this Node.js (nvm, a tarball): name it by its path.
        const node = (command: string) => command.replace(/^node /, `${shellQuote(process.execPath)} `);
        container.commands = { ...container.commands, start: node(container.commands?.start ?? '') };
        const check = container.readiness_probe?.exec;
        if (check) check.command = node(check.command);
      }
      deployment.metadata.namespace = 'default';
      await client.create('SeerDeployment', deployment);
      await until('the deployment to be available', async () => {
        const status = (await client.get('SeerDeployment', 'hello', 'default')).status;
        return status?.available_replicas === deployment.spec.replicas;
      });

      // Named kinds rather than the category: kubectl's discovery cache predates the CRDs.
      const table = await kubectl('get', 'seerdeployments,seernodes,seerpods', '-o', 'wide');
      console.log(`\n${table.stdout || table.stderr}`);
      const pods = (await client.list('SeerPod', { namespace: 'default' })).items.sort((a, b) =>
        (a.spec.node_name ?? '').localeCompare(b.spec.node_name ?? ''),
      );
      const port = container?.ports?.find((p) => p.name === 'http')?.container_port;
      console.log('Seer is running. In another terminal:\n');
      for (const pod of pods) {
        console.log(`  curl http://${pod.status?.host_ip}:${port}/`);
      }
      console.log(`  export KUBECONFIG=${cluster.kubeconfig} PATH=${binaries.dir}:$PATH`);
      console.log('  kubectl get seer -o wide');
      console.log(
        `  kubectl scale seerdeployment/hello --replicas=3   # one stays Pending: port ${port} is taken`,
      );
      for (const pod of pods) {
        const layout = new HostLayout(path.join(dir, pod.spec.node_name ?? ''));
        console.log(`  tail -f ${path.join(layout.logDir(pod.metadata.name ?? ''), 'hello.stdout.log')}`);
      }
      console.log('\nPress Ctrl-C to stop everything.');
    } finally {
      rest.close();
    }
  } catch (error) {
    if (stopping) console.log();
    await stopEverything();
    // Asked to stop, it stopped: whatever was interrupted on the way (a build, a kubectl) is no news.
    if (stopping) return;
    throw error;
  }
  await stopSignal;
  console.log();
  await stopEverything();
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run a local control plane, the operator, two agents and an example deployment until Ctrl-C',
  async run(args) {
    const { values } = parseArgs({ args, options: { dir: { type: 'string', default: '.seer/demo' } } });
    await demo(path.resolve(values.dir ?? '.seer/demo'));
  },
};
