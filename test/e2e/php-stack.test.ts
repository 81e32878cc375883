import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import yaml from 'js-yaml';
import { COMPONENT_LABEL, DEPLOYMENT_LABEL } from '../../api/names.js';
import type { SeerComponent, SeerDeployment, SeerPod } from '../../api/types.js';
import { HostLayout } from '../../agent/pods/layout.js';
import { repoPath } from '../../common/paths.js';
import type { Informer } from '../../kube/informer.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess, type SeerProcess } from '../support/agent.js';
import { runCommand, startTestCluster, type TestCluster } from '../support/control-plane.js';
import { startOperatorProcess } from '../support/operator.js';
import { skipWithout } from '../support/host-tools.js';
import { startRegistry, type LocalRegistry } from '../support/registry.js';
import {
  HOST_ROOT,
  simulatedHostsUnsupported,
  startSimulatedHost,
  type SimulatedHost,
} from '../support/simulated-host.js';
import { objectRef } from '../../kube/keys.js';

// Seed 000's flagship scenario for real: Debian's nginx and php-fpm packaged as Seer packages
// (examples/php-stack/), run as components on two simulated hosts, serving the passport deployment
// of examples/php-stack.yaml.
const skip =
  skipWithout('nginx', 'php-fpm', 'ip', 'unshare', 'nsenter') || simulatedHostsUnsupported() || false;

const NODES = ['php-1', 'php-2'];
const SITE = 'passport.x.com';
const DEPLOYMENT = 'passport-deployment';

let cluster: TestCluster;
let client: SeerClient;
let registry: LocalRegistry;
let operator: SeerProcess;
let work: string;
const hosts = new Map<string, SimulatedHost>();
const agents: AgentProcess[] = [];
let components: SeerComponent[];
let deployment: SeerDeployment;
let pods: Informer<SeerPod>;

before(async () => {
  if (skip) return;
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-php-stack-'));
  registry = await startRegistry();
  const pushed = await runCommand(repoPath('examples', 'php-stack', 'push-packages.sh'), [
    registry.host,
    '--insecure',
  ]);
  assert.equal(pushed.code, 0, pushed.stderr);

  const apiPort = Number(new URL(cluster.state.server).port);
  const registryPort = Number(registry.host.split(':')[1]);
  for (const name of NODES) {
    const host = await startSimulatedHost({ name, work, outbound: [apiPort, registryPort], inbound: [80] });
    hosts.set(name, host);
    agents.push(
      await startAgentProcess({
        nodeName: name,
        root: HOST_ROOT,
        kubeconfig: cluster.kubeconfig,
        enter: host.enter,
        logFile: path.join(work, `${name}-agent.log`),
        args: ['--insecure-registry', registry.host],
      }),
    );
  }
  operator = await startOperatorProcess({
    kubeconfig: cluster.kubeconfig,
    identity: 'operator',
    logDir: work,
  });

  // The example as written, with the local registry in place of hub.x.com.
  const text = await readFile(repoPath('examples', 'php-stack.yaml'), 'utf8');
  const documents = yaml.loadAll(text.replaceAll('hub.x.com', registry.host)) as (
    SeerComponent | SeerDeployment
  )[];
  components = documents.filter((d): d is SeerComponent => d.kind === 'SeerComponent');
  deployment = documents.find((d): d is SeerDeployment => d.kind === 'SeerDeployment')!;

  pods = client.informer('SeerPod', { namespace: 'default' });
  await pods.start();
});

after(async () => {
  await pods?.stop();
  for (const agent of agents) await agent.stop();
  for (const host of hosts.values()) await host.stop();
  await operator?.stop();
  await registry?.stop();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function host(name: string): SimulatedHost {
  const found = hosts.get(name);
  assert.ok(found, name);
  return found;
}

/** What a browser asking `host` for the site gets: the PHP page, nginx's 404, or undefined (nothing on port 80). */
async function visit(node: string, site = SITE): Promise<{ status: number; body: string } | undefined> {
  return host(node)
    .get(80, { host: site })
    .catch(() => undefined);
}

const passportPods = () =>
  pods
    .list()
    .filter((p) => p.metadata.labels?.[DEPLOYMENT_LABEL] === DEPLOYMENT && !p.metadata.deletionTimestamp);
const instancesOf = (component: string) =>
  pods
    .list()
    .filter((p) => p.metadata.labels?.[COMPONENT_LABEL] === component && !p.metadata.deletionTimestamp);

async function readyReplicas(count: number): Promise<SeerDeployment> {
  return eventually(
    `${count} ready passport replicas`,
    async () => {
      const current = await client.get('SeerDeployment', DEPLOYMENT, 'default');
      const status = current.status;
      return status?.ready_replicas === count &&
        status.updated_replicas === count &&
        status.replicas === count &&
        status.observed_generation === current.metadata.generation
        ? current
        : undefined;
    },
    90_000,
  );
}

/** The nginx instance's sharing_dir on a host, as the host sees it under /seer. */
function sharingDir(node: string): string {
  const instance = instancesOf('nginx-component').find((p) => p.spec.node_name === node);
  assert.ok(instance, `no nginx instance on ${node}`);
  const layout = new HostLayout(host(node).dir);
  return path.join(layout.containerDir(instance.metadata.name ?? '', { name: 'nginx' }), 'conf.d');
}

/**
 * Visits the site on every host until stopped, and counts the rounds in which no host served it:
 * a load balancer in front of the hosts would have had nowhere to send a request.
 */
function watchServed(): { stop(): Promise<{ rounds: number; unserved: number; versions: Set<string> }> } {
  let running = true;
  let rounds = 0;
  let unserved = 0;
  const versions = new Set<string>();
  const loop = (async () => {
    while (running) {
      const answers = await Promise.all(NODES.map((node) => visit(node)));
      const served = answers.filter((a) => a?.status === 200 && a.body.startsWith('passport '));
      for (const answer of served) versions.add(answer?.body.split(' ')[1] ?? '');
      rounds += 1;
      if (served.length === 0) unserved += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { rounds, unserved, versions };
    },
  };
}

test(
  'the passport deployment is served on its host by Debian nginx and php-fpm running as components',
  { skip },
  async () => {
    for (const component of components) await client.create('SeerComponent', component);
    await client.create('SeerDeployment', {
      ...deployment,
      spec: {
        ...deployment.spec,
        replicas: 1,
        // One replica per host (its deployment_dir and its nginx server name are the host's):
        // replace a replica before starting its successor.
        strategy: { type: 'rolling_update', rolling_update: { max_surge: 0, max_unavailable: 1 } },
      },
    });
    await readyReplicas(1);
    const [pod] = passportPods();
    const node = pod?.spec.node_name ?? '';
    assert.ok(NODES.includes(node), `bound to ${node}`);

    const page = await visit(node);
    assert.equal(page?.status, 200);
    assert.match(page?.body ?? '', new RegExp(`^passport v1\\.0 on ${node}, PHP 8\\.`));
    // nginx's own default server answers for any other site.
    assert.deepEqual(await visit(node, 'other.x.com'), { status: 404, body: 'no site here\n' });
    // The server block sits in nginx's sharing_dir; the application in its deployment_dir.
    const block = await readFile(path.join(sharingDir(node), `${SITE}.conf`), 'utf8');
    assert.match(block, /fastcgi_pass 127\.0\.0\.1:9000;/);
    assert.ok(existsSync(path.join(host(node).dir, 'web', 'passport', 'public', 'index.php')));
    // One instance of each component, on that host only; the other host runs nothing on port 80.
    for (const name of ['nginx-component', 'fpm-component']) {
      assert.deepEqual(
        instancesOf(name).map((p) => p.spec.node_name),
        [node],
      );
    }
    const other = NODES.find((n) => n !== node) ?? '';
    assert.equal(await visit(other), undefined);
  },
);

test('scaling to two replicas serves it on both hosts, and it is served throughout', { skip }, async (t) => {
  const watch = watchServed();
  await client.patch('SeerDeployment', objectRef(DEPLOYMENT, 'default'), { spec: { replicas: 2 } });
  await readyReplicas(2);
  await eventually('both hosts serve passport v1.0', async () => {
    const answers = await Promise.all(NODES.map((node) => visit(node)));
    return answers.every((a) => a?.status === 200 && a.body.startsWith('passport v1.0 on '));
  });
  const { rounds, unserved } = await watch.stop();
  t.diagnostic(`visited both hosts ${rounds} times while scaling; unserved ${unserved} times`);
  assert.ok(rounds > 10, `${rounds} rounds`);
  assert.equal(unserved, 0, `unserved in ${unserved} of ${rounds} rounds`);
  assert.deepEqual(
    passportPods()
      .map((p) => p.spec.node_name)
      .sort(),
    NODES,
  );
});

test('rolling to passport v2.0 replaces one host at a time and keeps it served', { skip }, async (t) => {
  const watch = watchServed();
  const current = await client.get('SeerDeployment', DEPLOYMENT, 'default');
  const template = current.spec.template;
  const containers = template.spec.containers.map((c) =>
    c.name === 'passport' ? { ...c, package: `${registry.host}/passport:v2.0` } : c,
  );
  await client.patch('SeerDeployment', objectRef(DEPLOYMENT, 'default'), {
    spec: { template: { ...template, spec: { ...template.spec, containers } } },
  });
  await eventually(
    'both hosts serve passport v2.0',
    async () => {
      const answers = await Promise.all(NODES.map((node) => visit(node)));
      return answers.every((a) => a?.status === 200 && a.body.startsWith('passport v2.0 on '));
    },
    90_000,
  );
  await readyReplicas(2);
  const { rounds, unserved, versions } = await watch.stop();
  t.diagnostic(`visited both hosts ${rounds} times while rolling; unserved ${unserved} times`);
  assert.equal(unserved, 0, `unserved in ${unserved} of ${rounds} rounds`);
  assert.deepEqual([...versions].sort(), ['v1.0', 'v2.0']);
  // The components were not touched by the application's rollout.
  for (const name of ['nginx-component', 'fpm-component']) assert.equal(instancesOf(name).length, 2);
});

test(
  'deleting the deployment removes its server block from nginx (reloaded), then the idle components',
  { skip },
  async () => {
    // Another site on the first host keeps its components in use there.
    const [keep, idle] = NODES as [string, string];
    await client.create('SeerPod', {
      apiVersion: deployment.apiVersion,
      kind: 'SeerPod',
      metadata: { name: 'status-page', namespace: 'default' },
      spec: {
        node_name: keep,
        required_components: [
          {
            name: 'nginx-component',
            config: {
              'status.x.com.conf':
                'server {\n  listen 80;\n  server_name status.x.com;\n  return 200 "up\\n";\n}\n',
            },
          },
        ],
        containers: [
          {
            name: 'status',
            package: `${registry.host}/passport:v2.0`,
          },
        ],
      },
    });
    await eventually('status.x.com served', async () => (await visit(keep, 'status.x.com'))?.body === 'up\n');

    // Every change to the pods, in the order the API server made them.
    const changes: string[] = [];
    pods.on('update', (_old, pod) => {
      if (pod.metadata.deletionTimestamp) changes.push(`deleting ${pod.metadata.name}@${pod.spec.node_name}`);
    });
    pods.on('delete', (pod) => changes.push(`gone ${pod.metadata.name}@${pod.spec.node_name}`));
    const passports = passportPods().map((p) => p.metadata.name ?? '');
    const idleInstances = pods
      .list()
      .filter((p) => p.metadata.labels?.[COMPONENT_LABEL] && p.spec.node_name === idle)
      .map((p) => p.metadata.name ?? '');
    assert.equal(idleInstances.length, 2);
    const keptSharingDir = sharingDir(keep);

    await client.delete('SeerDeployment', objectRef(DEPLOYMENT, 'default'));
    await eventually(
      'the passport pods gone',
      () => passportPods().length === 0 && passports.every((p) => !pods.get(`default/${p}`)),
    );

    // On the host with another site, nginx runs on without the passport block.
    assert.equal(existsSync(path.join(keptSharingDir, `${SITE}.conf`)), false);
    // nginx -s reload returns once the master has the signal; its new workers take over just after.
    await eventually(
      'nginx reloaded without the passport block',
      async () => (await visit(keep))?.body === 'no site here\n',
      5_000,
    );
    assert.equal((await visit(keep, 'status.x.com'))?.body, 'up\n');
    // nginx stays where the status page needs it; php-fpm was needed by passport alone. The
    // operator removes the others once it sees the passport pods gone.
    await eventually(
      'only the status page’s nginx instance left',
      () =>
        instancesOf('fpm-component').length === 0 &&
        JSON.stringify(instancesOf('nginx-component').map((p) => p.spec.node_name)) ===
          JSON.stringify([keep]),
    );
    assert.equal((await visit(keep, 'status.x.com'))?.body, 'up\n');

    // On the other host, the idle instances go, each after the last passport pod there was gone.
    await eventually('nothing on port 80 of the idle host', async () => (await visit(idle)) === undefined);
    await eventually('the idle instances gone', () =>
      idleInstances.every((name) => !pods.get(`default/${name}`)),
    );
    const passportOnIdle = changes.findIndex(
      (c) =>
        c.startsWith('gone ') && c.endsWith(`@${idle}`) && passports.some((p) => c.startsWith(`gone ${p}@`)),
    );
    assert.ok(passportOnIdle >= 0, changes.join('\n'));
    for (const instance of idleInstances) {
      const deleting = changes.findIndex(
        (c) => c.startsWith(`deleting ${instance}@`) || c.startsWith(`gone ${instance}@`),
      );
      assert.ok(deleting > passportOnIdle, changes.join('\n'));
    }
    assert.deepEqual(
      await readdir(path.join(host(idle).dir, 'pod')),
      [],
      'the idle host has no pod directories left',
    );

    // The last dependent goes: so do the remaining instances, and the components can be deleted.
    await client.delete('SeerPod', objectRef('status-page', 'default'));
    await eventually('no instances left', () => pods.list().length === 0);
    assert.equal(await visit(keep), undefined);
    for (const component of components)
      await client.delete('SeerComponent', objectRef(component.metadata.name ?? '', 'default'));
    await eventually(
      'the components gone',
      async () => (await client.list('SeerComponent', { namespace: 'default' })).items.length === 0,
    );
  },
);
