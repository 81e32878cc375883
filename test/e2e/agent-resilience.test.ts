import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_FINALIZER } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { isAlive } from '../../cli/control-plane/processes.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { makePackage, seerPod, SLEEPER } from '../support/pods.js';
import { objectRef } from '../../kube/keys.js';

let cluster: TestCluster;
let client: SeerClient;
let work: string;
let root: string;
let agent: AgentProcess | undefined;
let sleeper: { reference: string; digest: string; file: string };
let slowServer: http.Server;
let slowRequests = 0;
let slowHost: string;

const startAgent = async () => {
  agent = await startAgentProcess({
    nodeName: 'node-r',
    root,
    kubeconfig: cluster.kubeconfig,
    // Plain http is allowed only to hosts listed as insecure.
    args: ['--insecure-registry', slowHost],
  });
  return agent;
};

/** Serves the sleeper package's first half, then stalls: a pull that stays in progress. */
async function startSlowServer(): Promise<void> {
  const body = await readFile(sleeper.file);
  slowServer = http.createServer((_request, response) => {
    slowRequests++;
    response.writeHead(200, { 'content-length': body.length });
    response.write(body.subarray(0, body.length >> 1));
  });
  await new Promise<void>((resolve) => slowServer.listen(0, '127.0.0.1', resolve));
  slowHost = `127.0.0.1:${(slowServer.address() as AddressInfo).port}`;
}

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-resilience-'));
  root = path.join(work, 'root');
  sleeper = await makePackage({ 'bin/app': SLEEPER });
  await startSlowServer();
  await startAgent();
});

after(async () => {
  slowServer?.closeAllConnections();
  slowServer?.close();
  await agent?.cleanUp();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const pod = (name: string): Promise<SeerPod | undefined> => client.find('SeerPod', name, 'default');

async function runningPid(name: string): Promise<number> {
  return eventually(`${name} running`, async () => {
    const p = await pod(name);
    const pid = p?.status?.container_statuses?.[0]?.state?.running?.pid;
    return p?.status?.phase === 'Running' && pid ? pid : undefined;
  });
}

async function createSleeper(name: string): Promise<void> {
  await client.create(
    'SeerPod',
    seerPod(name, {
      node_name: 'node-r',
      containers: [{ name: 'main', package: sleeper.reference, commands: { start: 'bin/app' } }],
    }),
  );
}

test('kill -9 of the agent stops nothing; the next agent adopts running processes and notices exits that happened meanwhile', async () => {
  await createSleeper('survivor');
  await createSleeper('dies-while-down');
  const survivorPid = await runningPid('survivor');
  const doomedPid = await runningPid('dies-while-down');

  await agent?.kill();
  await sleep(300);
  assert.ok(isAlive(survivorPid), 'a managed process outlives kill -9 of its agent');
  assert.ok(isAlive(doomedPid));
  process.kill(doomedPid, 'SIGKILL');

  await startAgent();
  const restartedPid = await eventually('the exit noticed and the container restarted', async () => {
    const p = await pod('dies-while-down');
    const c = p?.status?.container_statuses?.[0];
    const pid = c?.state?.running?.pid;
    return pid && pid !== doomedPid && c?.restart_count === 1 ? pid : undefined;
  });
  assert.ok(isAlive(restartedPid));

  const survivor = await pod('survivor');
  const status = survivor?.status?.container_statuses?.[0];
  assert.equal(status?.state?.running?.pid, survivorPid, 'adopted, not restarted');
  assert.equal(status?.restart_count, 0);
  assert.ok(isAlive(survivorPid));
  const log = await agent?.log();
  assert.match(log ?? '', /adopted running process/);
});

test('an agent coming back removes what the API server no longer asks for', async () => {
  await createSleeper('orphan');
  await createSleeper('deleted-while-down');
  const orphanPid = await runningPid('orphan');
  const deletedPid = await runningPid('deleted-while-down');

  await agent?.kill();
  // One pod deleted normally (held by the finalizer), one released by force (gone from the API).
  await client.delete('SeerPod', objectRef('deleted-while-down', 'default'));
  await client.patch('SeerPod', objectRef('orphan', 'default'), { metadata: { finalizers: null } });
  await client.delete('SeerPod', objectRef('orphan', 'default'));
  await eventually('orphan gone from the API', async () => (await pod('orphan')) === undefined);
  assert.ok((await pod('deleted-while-down'))?.metadata.deletionTimestamp, 'held by the agent finalizer');
  assert.ok(isAlive(orphanPid) && isAlive(deletedPid));

  await startAgent();
  await eventually('orphan stopped', () => !isAlive(orphanPid));
  await eventually('deleted pod released', async () => (await pod('deleted-while-down')) === undefined);
  assert.equal(isAlive(deletedPid), false);
  assert.equal(existsSync(path.join(root, 'pod', 'orphan')), false);
  assert.equal(existsSync(path.join(root, 'pod', 'deleted-while-down')), false);
});

test('processes run on while the API server is away, and status catches up when it returns', async () => {
  await createSleeper('outage');
  const pid = await runningPid('outage');

  await cluster.stopApiServer();
  process.kill(pid, 'SIGKILL');
  const newPid = await eventually('a restart while the API server is down', async () => {
    const text = await readFile(path.join(root, 'pod', 'outage', '.seer', 'main.state.json'), 'utf8').catch(
      () => '',
    );
    const saved = text ? (JSON.parse(text) as { pid?: number }) : {};
    return saved.pid && saved.pid !== pid && isAlive(saved.pid) ? saved.pid : undefined;
  });
  await sleep(2000);
  assert.ok(isAlive(newPid), 'still running without an API server');
  await cluster.startApiServer();

  await eventually(
    'status caught up',
    async () => {
      const p = await pod('outage');
      const c = p?.status?.container_statuses?.[0];
      return c?.state?.running?.pid === newPid && c.restart_count === 1;
    },
    60_000,
  );
  const log = (await agent?.log()) ?? '';
  assert.match(log, /relisting with backoff|pod sync failed/);
});

test('a pod deleted while its package is still downloading is cleaned up and released', async () => {
  const url = `http://${slowHost}/slow.tar.gz`;
  await client.create(
    'SeerPod',
    seerPod('slow', {
      node_name: 'node-r',
      containers: [{ name: 'main', package: url, commands: { start: 'bin/app' } }],
    }),
  );
  await eventually('the download under way', async () => {
    const p = await pod('slow');
    return (
      slowRequests > 0 && p?.metadata.finalizers?.includes(AGENT_FINALIZER) && p.status?.reason === 'Pulling'
    );
  });
  await client.delete('SeerPod', objectRef('slow', 'default'));
  await eventually('the pod released', async () => (await pod('slow')) === undefined, 20_000);
  assert.equal(existsSync(path.join(root, 'pod', 'slow')), false);
});
