import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { COMPONENT_LABEL } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { makePackage, seerPod, SLEEPER } from '../support/pods.js';
import { objectRef } from '../../kube/keys.js';

let cluster: TestCluster;
let client: SeerClient;
let agent: AgentProcess;
let work: string;
let sharedDir: string;
let reloadLog: string;

/** A component that keeps a conf.d directory and logs each reload with the files it then sees. */
const COMPONENT = `#!/bin/sh
trap 'exit 0' TERM
while true; do sleep 0.1; done
`;
const RELOAD = `#!/bin/sh
echo "reload: $(ls conf.d | tr '\\n' ' ')" >> reloads.log
`;

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-components-'));
  agent = await startAgentProcess({
    nodeName: 'node-c',
    root: path.join(work, 'root'),
    kubeconfig: cluster.kubeconfig,
  });
  const containerDir = path.join(agent.root, 'pod', 'web-instance', 'container', 'web');
  sharedDir = path.join(containerDir, 'conf.d');
  reloadLog = path.join(containerDir, 'reloads.log');
});

after(async () => {
  await agent?.cleanUp();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const pod = (name: string): Promise<SeerPod | undefined> => client.find('SeerPod', name, 'default');

async function condition(
  name: string,
  type: string,
): Promise<{ status?: string; reason?: string; message?: string } | undefined> {
  return (await pod(name))?.status?.conditions?.find((c) => c.type === type);
}

async function dependent(name: string, config: Record<string, string>): Promise<void> {
  const app = await makePackage({ 'bin/app': SLEEPER });
  await client.create(
    'SeerPod',
    seerPod(name, {
      node_name: 'node-c',
      required_components: [{ name: 'web', config }],
      containers: [{ name: 'main', package: app.reference, commands: { start: 'bin/app' } }],
    }),
  );
}

const reloads = async () => (await readFile(reloadLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);

test('a dependent waits for its component, then its config is written to the sharing_dir and the component reloads', async () => {
  await dependent('site-a', { 'site-a.conf': 'server { listen 8081; }\n' });
  const waiting = await eventually('WaitingForComponent', async () => {
    const c = await condition('site-a', 'Ready');
    return c?.reason === 'WaitingForComponent' ? c : undefined;
  });
  assert.match(waiting.message ?? '', /component web/);
  assert.equal(existsSync(path.join(agent.root, 'pod', 'site-a', 'container', 'main', 'bin', 'app')), true);

  // The operator creates instances; here the instance is created by hand.
  const component = await makePackage({
    'bin/web': COMPONENT,
    'bin/reload': RELOAD,
    'conf.d/default.conf': '# default\n',
  });
  const instance = seerPod('web-instance', {
    node_name: 'node-c',
    containers: [
      {
        name: 'web',
        package: component.reference,
        sharing_dir: 'conf.d',
        commands: { start: 'bin/web', reload: 'bin/reload' },
        readiness_probe: { exec: { command: 'test -d conf.d' }, period_seconds: 1 },
      },
    ],
  });
  instance.metadata.labels = { [COMPONENT_LABEL]: 'web' };
  await client.create('SeerPod', instance);

  await eventually('site-a Ready', async () => (await condition('site-a', 'Ready'))?.status === 'True');
  assert.equal(await readFile(path.join(sharedDir, 'site-a.conf'), 'utf8'), 'server { listen 8081; }\n');
  assert.deepEqual(await reloads(), ['reload: default.conf site-a.conf ']);
});

test('a second dependent writing the same file name gets a clear error and the first is untouched', async () => {
  await dependent('site-b', { 'site-a.conf': 'server { listen 9999; }\n' });
  const refused = await eventually('ConfigConflict', async () => {
    const c = await condition('site-b', 'Ready');
    return c?.reason === 'ConfigConflict' ? c : undefined;
  });
  assert.match(refused.message ?? '', /site-a\.conf.*already written by pod site-a/);
  assert.equal(await readFile(path.join(sharedDir, 'site-a.conf'), 'utf8'), 'server { listen 8081; }\n');
  assert.equal((await pod('site-b'))?.status?.phase, 'Pending');
  await client.delete('SeerPod', objectRef('site-b', 'default'));
  await eventually('site-b gone', async () => (await pod('site-b')) === undefined);
  assert.equal(await readFile(path.join(sharedDir, 'site-a.conf'), 'utf8'), 'server { listen 8081; }\n');
});

test('removing a dependent deletes its files and reloads the component', async () => {
  const before = (await reloads()).length;
  await client.delete('SeerPod', objectRef('site-a', 'default'));
  await eventually('site-a gone', async () => (await pod('site-a')) === undefined);
  assert.equal(existsSync(path.join(sharedDir, 'site-a.conf')), false);
  assert.equal(existsSync(path.join(sharedDir, 'default.conf')), true, 'the package’s own files stay');
  const after = await reloads();
  assert.equal(after.length, before + 1);
  assert.equal(after.at(-1), 'reload: default.conf ');
});
