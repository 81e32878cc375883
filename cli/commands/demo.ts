import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { pushPackage } from '../../agent/packages/build.js';
import type { SeerDeployment } from '../../api/types.js';
import { repoPath } from '../../common/paths.js';
import { untilStopSignal } from '../../common/signals.js';
import { HostLayout } from '../../agent/pods/layout.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import type { Command } from '../command.js';
import { controlPlaneBinaries } from '../control-plane/binaries.js';
import { startCluster, stopCluster } from '../control-plane/cluster.js';
import { startRegistry } from '../local-registry.js';
import { runCommand } from '../run-command.js';

const NODES = ['demo-1', 'demo-2'];

function say(line: string): void {
  console.log(`\x1b[1m==>\x1b[0m ${line}`);
}

/** Starts `node dist/<script> args`, its output appended to `logFile`. */
async function startSeer(script: string, args: string[], logFile: string): Promise<ChildProcess> {
  const log = await open(logFile, 'a');
  const child = spawn(process.execPath, [repoPath('dist', script), ...args], {
    stdio: ['ignore', log.fd, log.fd],
  });
  await log.close();
  return child;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The whole system on one machine: a local control plane, the CRDs, the operator, two agents (two node
 * names, two roots), the example package pushed to a local OCI registry, and the hello deployment
 * running on both nodes. Ctrl-C removes the deployment (the agents stop its processes) and stops
 * everything.
 */
async function demo(dir: string): Promise<void> {
  const binaries = await controlPlaneBinaries();
  await mkdir(dir, { recursive: true });
  const children: ChildProcess[] = [];
  say(`starting etcd and kube-apiserver in ${path.join(dir, 'cluster')}`);
  const cluster = await startCluster({ dir: path.join(dir, 'cluster'), binaries, ownerPid: process.pid });
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
  let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
  const rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  const client = new SeerClient(rest);
  const stopAll = async () => {
    say('removing the deployment: the agents stop its processes');
    await client.delete('SeerDeployment', 'hello', 'default').catch(() => undefined);
    await until(
      'the pods to go',
      async () => (await client.list('SeerPod', { namespace: 'default' })).items.length === 0,
      30_000,
    ).catch(() => undefined);
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))));
    await registry?.stop();
    rest.close();
    await stopCluster(cluster.dir);
    say('stopped');
  };
  try {
    say('installing the CRDs');
    await kubectl('apply', '-f', repoPath('crds'));
    await kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all');

    say('building the hello package and pushing it to a local OCI registry');
    registry = await startRegistry();
    const reference = `${registry.host}/examples/hello:v1`;
    const registries = { insecure: [registry.host], credentials: {} };
    const pushed = await pushPackage(repoPath('examples', 'hello', 'package'), reference, { registries });
    say(`pushed ${reference} (${pushed.digest})`);

    say('starting seer-operator and two agents');
    children.push(
      await startSeer(
        path.join('operator', 'main.js'),
        ['--kubeconfig', cluster.kubeconfig, '--http-address', '127.0.0.1:0', '--identity', 'demo-operator'],
        path.join(dir, 'operator.log'),
      ),
    );
    for (const node of NODES) {
      children.push(
        await startSeer(
          path.join('agent', 'main.js'),
          [
            '--kubeconfig',
            cluster.kubeconfig,
            '--node-name',
            node,
            '--root',
            path.join(dir, node),
            '--address',
            '127.0.0.1',
            '--insecure-registry',
            registry.host,
          ],
          path.join(dir, `${node}.log`),
        ),
      );
    }
    await until(
      'both nodes Ready',
      async () =>
        (await client.list('SeerNode')).items.filter((n) => n.status?.phase === 'Ready').length ===
        NODES.length,
    );

    say('applying examples/hello/hello-deployment.yaml with the pushed package');
    const deployment = yaml.load(
      await readFile(repoPath('examples', 'hello', 'hello-deployment.yaml'), 'utf8'),
    ) as SeerDeployment;
    const container = deployment.spec.template.spec.containers[0];
    if (container) Object.assign(container, { package: reference, package_digest: pushed.digest });
    deployment.metadata.namespace = 'default';
    await client.create('SeerDeployment', deployment);
    await until('the deployment to be available', async () => {
      const status = (await client.get('SeerDeployment', 'hello', 'default')).status;
      return status?.available_replicas === deployment.spec.replicas;
    });

    // Named kinds rather than the category: kubectl's discovery cache predates the CRDs.
    const table = await kubectl('get', 'seerdeployments,seernodes,seerpods', '-o', 'wide');
    console.log(`\n${table.stdout || table.stderr}`);
    const pods = (await client.list('SeerPod', { namespace: 'default' })).items;
    console.log('Seer is running. In another terminal:\n');
    console.log(`  export KUBECONFIG=${cluster.kubeconfig} PATH=${binaries.dir}:$PATH`);
    console.log('  kubectl get seer -o wide');
    console.log('  kubectl scale seerdeployment/hello --replicas=4');
    for (const pod of pods) {
      const layout = new HostLayout(path.join(dir, pod.spec.node_name ?? ''));
      const log = path.join(layout.logDir(pod.metadata.name ?? ''), 'hello.stdout.log');
      console.log(`  tail -f ${log}`);
    }
    console.log('\nPress Ctrl-C to stop everything.');
  } catch (error) {
    await stopAll();
    throw error;
  }
  await untilStopSignal();
  console.log();
  await stopAll();
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run a local control plane, the operator, two agents and an example deployment until Ctrl-C',
  async run(args) {
    const { values } = parseArgs({ args, options: { dir: { type: 'string', default: '.seer/demo' } } });
    await demo(path.resolve(values.dir ?? '.seer/demo'));
  },
};
