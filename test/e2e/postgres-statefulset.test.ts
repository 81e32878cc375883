import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AGENT_FINALIZER, SEER_API_VERSION, STATEFUL_SET_LABEL } from '../../api/names.js';
import type { SeerPod, SeerStatefulSet } from '../../api/types.js';
import { objectRef } from '../../kube/keys.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import {
  eventually,
  killManagedProcesses,
  startAgentProcess,
  type AgentProcess,
  type SeerProcess,
} from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { hostTool, skipWithout } from '../support/host-tools.js';
import { startOperatorProcess } from '../support/operator.js';
import { makePackage } from '../support/pods.js';
import { freePort } from '../support/processes.js';

const run = promisify(execFile);
const skip = skipWithout('postgres');
const PG_BIN = path.dirname(hostTool('postgres') ?? '/usr/lib/postgresql/bin/postgres');
const NODES = ['node-1', 'node-2'];
// PostgreSQL refuses to run as root; the Debian package's user owns the data when the agent is root.
const DB_USER = process.getuid?.() === 0 ? 'postgres' : undefined;

/**
 * A Seer package of the host's PostgreSQL: each ordinal's server on its own loopback port, its
 * cluster initialised in the data dir on first start only.
 */
const SERVER = `#!/bin/sh
set -e
eval "PORT=\\$PG_PORT_$SEER_ORDINAL"
if [ ! -s data/PG_VERSION ]; then
  "$PG_BIN/initdb" -D data -U postgres --auth=trust --no-sync
fi
exec "$PG_BIN/postgres" -D data -p "$PORT" -c listen_addresses=127.0.0.1 -c "unix_socket_directories=" -c fsync=off
`;
const READY = `#!/bin/sh
eval "PORT=\\$PG_PORT_$SEER_ORDINAL"
exec "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"
`;

let cluster: TestCluster;
let client: SeerClient;
let work: string;
const agents = new Map<string, AgentProcess>();
let operator: SeerProcess;
const ports: number[] = [];

function startAgent(node: string): Promise<AgentProcess> {
  return startAgentProcess({
    nodeName: node,
    root: path.join(work, node),
    kubeconfig: cluster.kubeconfig,
    args: ['--lease-duration', '3'],
    logFile: path.join(work, `${node}-agent.log`),
  });
}

before(async () => {
  if (skip) return;
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-postgres-e2e-'));
  // mkdtemp makes the directory 0700; the server, run as another user, must get through it.
  await chmod(work, 0o755);
  for (const node of NODES) agents.set(node, await startAgent(node));
  operator = await startOperatorProcess({
    kubeconfig: cluster.kubeconfig,
    identity: 'operator-a',
    logDir: work,
    args: ['--lease-duration', '3', '--node-grace-period', '4', '--pod-eviction-timeout', '600'],
  });
  ports.push(await freePort(), await freePort());
  const pkg = await makePackage({ 'bin/server': SERVER, 'bin/ready': READY });
  const set: SeerStatefulSet = {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerStatefulSet',
    metadata: { name: 'pg', namespace: 'default' },
    spec: {
      replicas: 2,
      // Two independent servers: neither waits for the other, so each can be replaced on its own.
      pod_management_policy: 'parallel',
      template: {
        metadata: { labels: { app: 'pg' } },
        spec: {
          containers: [
            {
              name: 'postgres',
              package: pkg.reference,
              package_digest: pkg.digest,
              ...(DB_USER ? { user: DB_USER } : {}),
              env: [
                { name: 'PG_BIN', value: PG_BIN },
                ...ports.map((port, ordinal) => ({ name: `PG_PORT_${ordinal}`, value: String(port) })),
              ],
              commands: { start: 'bin/server' },
              readiness_probe: { exec: { command: 'bin/ready' }, period_seconds: 1 },
              data_dirs: [{ name: 'pgdata', path: 'data', size: '64Mi' }],
              stop_timeout_seconds: 20,
            },
          ],
        },
      },
    },
  };
  await eventually('two Ready nodes', async () => {
    const nodes = (await client.list('SeerNode')).items;
    return nodes.filter((n) => n.status?.phase === 'Ready').length === NODES.length;
  });
  await client.create('SeerStatefulSet', set);
});

after(async () => {
  if (skip) return;
  await operator?.stop();
  for (const agent of agents.values()) await agent.cleanUp();
  for (const node of NODES) await killManagedProcesses(path.join(work, node));
  await cluster?.stop();
  if (work && !process.env.SEER_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

/** Runs SQL on the server of `ordinal`; the rows as `a|b` lines. */
async function sql(ordinal: number, statement: string): Promise<string> {
  const { stdout } = await run(`${PG_BIN}/psql`, [
    ...['-h', '127.0.0.1', '-p', String(ports[ordinal]), '-U', 'postgres', '-d', 'postgres'],
    ...['-v', 'ON_ERROR_STOP=1', '-At', '-c', statement],
  ]);
  return stdout.trim();
}

const readyCondition = (pod: SeerPod) => pod.status?.conditions?.find((c) => c.type === 'Ready');
const ready = (pod: SeerPod | undefined) =>
  pod?.status?.phase === 'Running' &&
  !pod.metadata.deletionTimestamp &&
  readyCondition(pod)?.status === 'True';

/** The pod `name` once it is Running and ready (and not the pod `notUid`). */
function readyPod(name: string, notUid?: string): Promise<SeerPod> {
  return eventually(
    `${name} ready`,
    async () => {
      const pod = await client.find('SeerPod', name, 'default');
      return ready(pod) && pod?.metadata.uid !== notUid ? pod : undefined;
    },
    120_000,
    250,
  );
}

async function podNames(): Promise<string[]> {
  const pods = await client.list('SeerPod', {
    namespace: 'default',
    labelSelector: `${STATEFUL_SET_LABEL}=pg`,
  });
  return pods.items.map((p) => p.metadata.name ?? '').sort();
}

const dataDir = (ordinal: number) => client.find('SeerDataDir', `pgdata-pg-${ordinal}`, 'default');
const homes = new Map<number, string>();

test('two PostgreSQL servers, each on its data dir: rows written to each', { skip }, async () => {
  for (const ordinal of [0, 1]) {
    const pod = await readyPod(`pg-${ordinal}`);
    const node = pod.spec.node_name ?? '';
    homes.set(ordinal, node);
    const placed = await eventually(`pgdata-pg-${ordinal} Ready`, async () => {
      const found = await dataDir(ordinal);
      return found?.status?.phase === 'Ready' ? found : undefined;
    });
    assert.equal(placed.spec?.node_name, node);
    assert.equal(placed.status?.path, path.join(work, node, 'data', 'default', `pgdata-pg-${ordinal}`));
    const info = await stat(placed.status?.path ?? '');
    assert.equal(info.mode & 0o777, 0o700);
    if (DB_USER) assert.equal(info.uid, Number((await run('id', ['-u', DB_USER])).stdout.trim()));
    assert.ok(
      existsSync(path.join(placed.status?.path ?? '', 'PG_VERSION')),
      'the cluster is in the data dir',
    );
    await sql(ordinal, 'CREATE TABLE notes (line text)');
    await sql(ordinal, `INSERT INTO notes VALUES ('written to pg-${ordinal}')`);
  }
  assert.equal(await sql(0, 'SELECT line FROM notes'), 'written to pg-0');
  assert.equal(await sql(1, 'SELECT line FROM notes'), 'written to pg-1');
});

test(
  'a deleted pod is replaced on the node holding its data, and the replacement sees the rows',
  { skip },
  async () => {
    const old = await readyPod('pg-0');
    await client.delete('SeerPod', old);
    const replacement = await readyPod('pg-0', old.metadata.uid);
    assert.equal(replacement.spec.node_name, homes.get(0));
    assert.equal(await sql(0, 'SELECT line FROM notes'), 'written to pg-0');
    await sql(0, "INSERT INTO notes VALUES ('after the replacement')");
  },
);

test(
  "while the data's node is down, the replacement waits for it, and runs there with the rows once it is back",
  { skip },
  async () => {
    const home = homes.get(1) ?? '';
    const old = await readyPod('pg-1');
    // The host is lost: its agent stops, its processes die, and an admin gives up on the pod.
    await agents.get(home)?.stop();
    agents.delete(home);
    await killManagedProcesses(path.join(work, home));
    await eventually(
      `${home} not ready`,
      async () => (await client.find('SeerNode', home))?.status?.phase !== 'Ready',
    );
    await client.delete('SeerPod', old);
    await client.patch('SeerPod', old, {
      metadata: { finalizers: old.metadata.finalizers?.filter((f) => f !== AGENT_FINALIZER) ?? [] },
    });
    const waiting = await eventually('the new pg-1 unschedulable', async () => {
      const pod = await client.find('SeerPod', 'pg-1', 'default');
      return pod && pod.metadata.uid !== old.metadata.uid && pod.status?.reason === 'Unschedulable'
        ? pod
        : undefined;
    });
    assert.equal(
      waiting.status?.message,
      `data dir pgdata-pg-1 is on node ${home}, which cannot take the pod (node not ready); the pod waits for it`,
    );
    await sleep(3000);
    assert.equal(
      (await client.find('SeerPod', 'pg-1', 'default'))?.spec.node_name,
      undefined,
      'placed elsewhere',
    );

    agents.set(home, await startAgent(home));
    const back = await readyPod('pg-1', old.metadata.uid);
    assert.equal(back.spec.node_name, home);
    assert.equal(await sql(1, 'SELECT line FROM notes'), 'written to pg-1');
    await readyPod('pg-0');
  },
);

test(
  'scaling down keeps the data; scaling up again brings it back; deleting the claim removes it',
  { skip },
  async () => {
    await cluster.kubectlOk(['scale', 'ssts/pg', '--replicas=1']);
    await eventually('pg-1 gone', async () => JSON.stringify(await podNames()) === '["pg-0"]', 60_000);
    const kept = await dataDir(1);
    assert.equal(kept?.status?.phase, 'Ready', 'scaling down keeps the data dir');
    assert.ok(existsSync(path.join(kept?.status?.path ?? '', 'PG_VERSION')));

    await cluster.kubectlOk(['scale', 'ssts/pg', '--replicas=2']);
    const back = await readyPod('pg-1');
    assert.equal(back.spec.node_name, homes.get(1));
    assert.equal(await sql(1, 'SELECT line FROM notes'), 'written to pg-1');

    await cluster.kubectlOk(['scale', 'ssts/pg', '--replicas=1']);
    await eventually('pg-1 gone', async () => JSON.stringify(await podNames()) === '["pg-0"]', 60_000);
    await cluster.kubectlOk(['delete', 'sdd', 'pgdata-pg-1']);
    assert.equal(await dataDir(1), undefined);
    assert.equal(existsSync(kept?.status?.path ?? ''), false, 'the directory was removed');
    assert.equal(await sql(0, 'SELECT count(*) FROM notes'), '2', 'pg-0 kept serving');
    await client.delete('SeerStatefulSet', objectRef('pg', 'default'));
  },
);
