import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AGENT_FINALIZER, RELOAD_ANNOTATION, RESTART_ANNOTATION } from '../../api/names.js';
import type { SeerNode, SeerPod } from '../../api/types.js';
import { freePort } from '../../cli/control-plane/ports.js';
import { isAlive } from '../../cli/control-plane/processes.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { skipWithout } from '../support/host-tools.js';
import { makePackage, seerPod, SLEEPER } from '../support/pods.js';
import { objectRef } from '../../kube/keys.js';

let cluster: TestCluster;
let client: SeerClient;
let agent: AgentProcess;
let work: string;

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-pods-'));
  agent = await startAgentProcess({
    nodeName: 'node-a',
    root: path.join(work, 'root'),
    kubeconfig: cluster.kubeconfig,
  });
});

after(async () => {
  await agent?.cleanUp();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const pod = (name: string): Promise<SeerPod | undefined> => client.find('SeerPod', name, 'default');

async function gone(name: string): Promise<true | undefined> {
  return (await pod(name)) === undefined ? true : undefined;
}

test('the agent registers its SeerNode with capacity, addresses and a Ready condition, and renews a Lease', async () => {
  const node = await eventually('the SeerNode', async () => {
    const n = await client.get('SeerNode', 'node-a');
    return n.status?.phase === 'Ready' ? n : undefined;
  });
  const status = (node as SeerNode).status ?? {};
  assert.equal(status.node_info?.os, 'linux');
  assert.equal(status.node_info?.arch, process.arch);
  assert.match(status.node_info?.agent_version ?? '', /^\d+\.\d+\.\d+/);
  assert.equal(Number(status.capacity?.cpu), os.availableParallelism());
  assert.match(String(status.capacity?.memory), /^\d+Ki$/);
  assert.equal(status.capacity?.pods, 110);
  assert.deepEqual(status.allocatable, status.capacity);
  assert.ok(status.addresses?.some((a) => a.type === 'InternalIP' && a.address === '127.0.0.1'));
  assert.equal(status.root_dir, agent.root);
  assert.equal(status.conditions?.find((c) => c.type === 'Ready')?.status, 'True');

  interface Lease {
    spec?: { holderIdentity?: string; renewTime?: string };
  }
  const read = () =>
    client.rest.request<Lease>(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/seer-node-node-a',
    );
  const first = await eventually('the node Lease', read);
  assert.equal(first.spec?.holderIdentity, 'node-a');
  const renewTime = (lease: typeof first) => new Date(lease.spec?.renewTime ?? 0).getTime();
  assert.ok(renewTime(first) > Date.now() - 60_000, `recent renewTime: ${String(first.spec?.renewTime)}`);
  await eventually('a renewal', async () => renewTime(await read()) > renewTime(first));

  // Heartbeats go to the Lease: the SeerNode itself is not rewritten while nothing changes.
  const version = (await client.get('SeerNode', 'node-a')).metadata.resourceVersion;
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal((await client.get('SeerNode', 'node-a')).metadata.resourceVersion, version);
});

test('a bound pod runs with its environment and working directory, reports status, and is cleaned up on deletion', async () => {
  const pkg = await makePackage({ 'bin/app': SLEEPER });
  await client.create(
    'SeerPod',
    seerPod('app', {
      node_name: 'node-a',
      containers: [
        {
          name: 'main',
          package: pkg.reference,
          package_digest: pkg.digest,
          commands: { start: 'bin/app' },
          ports: [{ name: 'http-alt', container_port: 18080 }],
          env: [{ name: 'GREETING', value: 'hi' }],
          readiness_probe: { exec: { command: 'test -f bin/app' }, period_seconds: 1 },
        },
      ],
    }),
  );
  const running = await eventually('app Ready', async () => {
    const p = await pod('app');
    return p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined;
  });
  const status = running.status ?? {};
  assert.equal(status.phase, 'Running');
  assert.equal(status.ready, '1/1');
  assert.equal(status.node_name, 'node-a');
  assert.equal(status.observed_generation, running.metadata.generation);
  assert.ok(running.metadata.finalizers?.includes(AGENT_FINALIZER));
  for (const type of ['PodScheduled', 'PackagesReady', 'ContainersReady', 'Ready']) {
    assert.equal(status.conditions?.find((c) => c.type === type)?.status, 'True', type);
  }
  const container = status.container_statuses?.[0];
  assert.equal(container?.package_digest, pkg.digest);
  const pid = container?.state?.running?.pid ?? 0;
  assert.ok(pid > 0 && isAlive(pid));

  const containerDir = path.join(agent.root, 'pod', 'app', 'container', 'main');
  const stdout = path.join(agent.root, 'pod', 'app', 'log', 'main.stdout.log');
  const output = await eventually('output in the log file', async () => {
    const text = await readFile(stdout, 'utf8').catch(() => '');
    return text.includes('SEER_POD_NAME') ? text : undefined;
  });
  for (const line of [
    `cwd=${containerDir}`,
    'SEER_POD_NAME=app',
    'SEER_NAMESPACE=default',
    'SEER_NODE_NAME=node-a',
    `SEER_CONTAINER_DIR=${containerDir}`,
    'SEER_PORT_HTTP_ALT=18080',
    'GREETING=hi',
  ]) {
    assert.ok(output.split('\n').includes(line), `${line} missing from:\n${output}`);
  }

  await client.delete('SeerPod', objectRef('app', 'default'));
  await eventually('the pod to disappear once the host is clean', () => gone('app'));
  assert.equal(isAlive(pid), false, 'process stopped');
  assert.equal(existsSync(path.join(agent.root, 'pod', 'app')), false, 'pod directory removed');
  assert.match(await readFile(stdout, 'utf8').catch(() => 'removed'), /removed|bye/);
});

test('pods bound to another node are left alone', async () => {
  const pkg = await makePackage({ 'bin/app': SLEEPER });
  await client.create(
    'SeerPod',
    seerPod('elsewhere', {
      node_name: 'node-b',
      containers: [{ name: 'main', package: pkg.reference, commands: { start: 'bin/app' } }],
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const p = await pod('elsewhere');
  assert.equal(p?.status, undefined);
  assert.equal(p?.metadata.finalizers, undefined);
  assert.equal(existsSync(path.join(agent.root, 'pod', 'elsewhere')), false);
  await client.delete('SeerPod', objectRef('elsewhere', 'default'));
});

test('a start command that fails is reported, and a crash loop backs off with CrashLoopBackOff', async () => {
  const pkg = await makePackage({ 'bin/crash': '#!/bin/sh\necho failing >&2\nexit 3\n' });
  await client.create(
    'SeerPod',
    seerPod('crasher', {
      node_name: 'node-a',
      containers: [
        {
          name: 'missing',
          package: pkg.reference,
          commands: { start: 'bin/does-not-exist' },
          restart_policy: 'never',
        },
        { name: 'looping', package: pkg.reference, commands: { start: 'bin/crash' } },
      ],
    }),
  );
  const looping = await eventually('CrashLoopBackOff', async () => {
    const p = await pod('crasher');
    const c = p?.status?.container_statuses?.find((s) => s.name === 'looping');
    return c?.state?.waiting?.reason === 'CrashLoopBackOff' && (c.restart_count ?? 0) >= 2 ? p : undefined;
  });
  const loopingStatus = looping.status?.container_statuses?.find((s) => s.name === 'looping');
  assert.equal(loopingStatus?.last_state?.terminated?.exit_code, 3);
  const missing = looping.status?.container_statuses?.find((s) => s.name === 'missing');
  assert.ok(missing?.state?.terminated ?? missing?.state?.waiting, 'the missing program is reported');
  assert.equal(missing?.state?.terminated?.exit_code ?? 127, 127, JSON.stringify(missing));
  assert.equal(looping.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
  assert.ok((looping.status?.restarts ?? 0) >= 2);
  await client.delete('SeerPod', objectRef('crasher', 'default'));
  await eventually('crasher gone', () => gone('crasher'));
});

test('restart and reload annotations are each acted on once per value', async () => {
  const pkg = await makePackage({
    'bin/app': `#!/bin/sh
trap 'echo reloaded >> "$SEER_CONTAINER_DIR/../../reloads"' HUP
trap 'exit 0' TERM
echo started >> "$SEER_CONTAINER_DIR/../../starts"
while true; do sleep 0.1; done
`,
  });
  await client.create(
    'SeerPod',
    seerPod('requests', {
      node_name: 'node-a',
      containers: [{ name: 'main', package: pkg.reference, commands: { start: 'bin/app' } }],
    }),
  );
  const podDir = path.join(agent.root, 'pod', 'requests');
  const lines = async (file: string) =>
    (await readFile(path.join(podDir, file), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  await eventually('first start', async () => (await lines('starts')) === 1);

  await client.patch('SeerPod', objectRef('requests', 'default'), {
    metadata: { annotations: { [RESTART_ANNOTATION]: 'one' } },
  });
  await eventually('a restart', async () => (await lines('starts')) === 2);
  await client.patch('SeerPod', objectRef('requests', 'default'), {
    metadata: { annotations: { [RELOAD_ANNOTATION]: 'one' } },
  });
  await eventually('a reload', async () => (await lines('reloads')) === 1);
  // Other changes to the pod do not repeat what was already done for these values.
  await client.patch('SeerPod', objectRef('requests', 'default'), {
    metadata: { labels: { touched: 'yes' } },
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(await lines('starts'), 2);
  assert.equal(await lines('reloads'), 1);
  const status = await pod('requests');
  assert.equal(status?.status?.restarts, 0, 'requested restarts are not crash restarts');

  await client.delete('SeerPod', objectRef('requests', 'default'));
  await eventually('requests gone', () => gone('requests'));
});

test(
  'a forking daemon (a real nginx) runs through its pid file, reloads, and stops with its stop command',
  { skip: skipWithout('nginx') },
  async () => {
    const port = await freePort();
    const nginx = '/usr/sbin/nginx -p "$SEER_CONTAINER_DIR" -c conf/nginx.conf';
    const pkg = await makePackage({
      'conf/nginx.conf': `error_log logs/error.log notice;
pid logs/nginx.pid;
events {}
http {
  access_log logs/access.log;
  client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;
  server { listen 127.0.0.1:${port}; location / { return 200 "served by seer\\n"; } }
}
`,
      'logs/.keep': '',
      'tmp/.keep': '',
    });
    await client.create(
      'SeerPod',
      seerPod('nginx', {
        node_name: 'node-a',
        containers: [
          {
            name: 'nginx',
            package: pkg.reference,
            mode: 'forking',
            pid_file: 'logs/nginx.pid',
            commands: { start: nginx, stop: `${nginx} -s quit`, reload: `${nginx} -s reload` },
            ports: [{ name: 'http', container_port: port }],
            readiness_probe: { http_get: { port: 'http', path: '/' }, period_seconds: 1 },
          },
        ],
      }),
    );
    const ready = await eventually('nginx Ready', async () => {
      const p = await pod('nginx');
      return p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined;
    });
    const pid = ready.status?.container_statuses?.[0]?.state?.running?.pid ?? 0;
    const pidFile = path.join(agent.root, 'pod', 'nginx', 'container', 'nginx', 'logs', 'nginx.pid');
    assert.equal(Number((await readFile(pidFile, 'utf8')).trim()), pid, 'the supervised pid is the daemon’s');
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await response.text(), 'served by seer\n');

    await client.patch('SeerPod', objectRef('nginx', 'default'), {
      metadata: { annotations: { [RELOAD_ANNOTATION]: '1' } },
    });
    const errorLog = path.join(agent.root, 'pod', 'nginx', 'container', 'nginx', 'logs', 'error.log');
    await eventually('nginx reloaded', async () =>
      /reconfiguring|signal 1 \(SIGHUP\)/.test(await readFile(errorLog, 'utf8')),
    );
    assert.ok(isAlive(pid), 'a reload keeps the master process');

    await client.delete('SeerPod', objectRef('nginx', 'default'));
    await eventually('nginx gone', () => gone('nginx'));
    assert.equal(isAlive(pid), false);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
  },
);

test('init containers run once each, in order, before the containers; a failing one is retried, or stops the pod with never', async () => {
  const shared = path.join(work, 'init-shared');
  const gate = path.join(work, 'init-gate');
  const first = await makePackage({
    'run.sh': `#!/bin/sh\nmkdir -p ${shared}\nsleep 1.5\necho first >> ${shared}/order\n`,
  });
  // Fails (with a reason on stderr) until the gate file exists.
  const second = await makePackage({
    'run.sh': `#!/bin/sh\n[ -e ${gate} ] || { echo "waiting for the gate" >&2; exit 3; }\necho second >> ${shared}/order\n`,
  });
  const main = await makePackage({
    'run.sh': `#!/bin/sh\necho main >> ${shared}/order\nexec sleep 600\n`,
  });
  const spec = {
    node_name: 'node-a',
    init_containers: [
      { name: 'prepare', package: first.reference, commands: { start: './run.sh' } },
      { name: 'check', package: second.reference, commands: { start: './run.sh' } },
    ],
    containers: [{ name: 'app', package: main.reference, commands: { start: './run.sh' } }],
  };
  await client.create('SeerPod', seerPod('initialized', spec));
  const initializing = await eventually('PodInitializing', async () => {
    const p = await pod('initialized');
    return p?.status?.reason === 'PodInitializing' ? p : undefined;
  });
  assert.equal(initializing.status?.phase, 'Pending');
  assert.match(initializing.status?.message ?? '', /init container 1\/2 \(prepare\) running/);
  const failed = await eventually('InitContainerFailed', async () => {
    const p = await pod('initialized');
    return p?.status?.reason === 'InitContainerFailed' ? p : undefined;
  });
  assert.match(failed.status?.message ?? '', /init container check exited with code 3: waiting for the gate/);
  await readFile(path.join(shared, 'order'), 'utf8').then((text) => assert.equal(text, 'first\n'));
  await writeFile(gate, '');
  await eventually(
    'Running after the retry',
    async () => (await pod('initialized'))?.status?.phase === 'Running',
  );
  await eventually('the main container has written', async () =>
    (await readFile(path.join(shared, 'order'), 'utf8')).includes('main'),
  );
  assert.equal(
    await readFile(path.join(shared, 'order'), 'utf8'),
    'first\nsecond\nmain\n',
    'each init container once, in order, then the container',
  );

  // restart_policy never: the first failure stops the pod from starting.
  const failing = await makePackage({ 'run.sh': '#!/bin/sh\necho "no schema" >&2\nexit 1\n' });
  await client.create(
    'SeerPod',
    seerPod('never-initialized', {
      node_name: 'node-a',
      init_containers: [
        {
          name: 'migrate',
          package: failing.reference,
          commands: { start: './run.sh' },
          restart_policy: 'never',
        },
      ],
      containers: [{ name: 'app', package: main.reference, commands: { start: './run.sh' } }],
    }),
  );
  const refused = await eventually('InitContainerFailed', async () => {
    const p = await pod('never-initialized');
    return p?.status?.reason === 'InitContainerFailed' ? p : undefined;
  });
  assert.match(refused.status?.message ?? '', /init container migrate exited with code 1: no schema/);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal((await pod('never-initialized'))?.status?.phase, 'Pending', 'its containers never started');

  for (const name of ['initialized', 'never-initialized']) {
    await client.delete('SeerPod', { metadata: { name, namespace: 'default' } });
    await eventually(`${name} gone`, () => gone(name));
  }
});
