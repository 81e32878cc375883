import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import yaml from 'js-yaml';
import { SEER_NAMESPACE } from '../../api/names.js';
import type { SeerCluster } from '../../api/types.js';
import { SEER_VERSION_STRING } from '../../common/version.js';
import { connectionFromKubeconfig, RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess, type SeerProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { HUB_ONLY_ARGS, putSecret, seerCluster } from '../support/hub.js';
import { startOperatorProcess } from '../support/operator.js';
import { freePort } from '../support/processes.js';

// Two real control planes: the hub, whose operator runs only the hub controllers, and a member with
// one agent.
let hub: TestCluster;
let member: TestCluster;
let hubClient: SeerClient;
let memberClient: SeerClient;
let work: string;
let agent: AgentProcess;
let operator: SeerProcess;
let metricsPort: number;

/** The cluster once its status shows `phase`, and `reason` and `message` on its Reachable condition. */
let lastSeen = '';

function clusterIn(name: string, phase: string, reason?: string, message?: RegExp): Promise<SeerCluster> {
  return eventually(
    `${name} ${phase}${reason ? ` (${reason})` : ''}`,
    async () => {
      const found = await hubClient.find('SeerCluster', name);
      const condition = found?.status?.conditions?.find((c) => c.type === 'Reachable');
      const matches =
        found?.status?.phase === phase &&
        (!reason || condition?.reason === reason) &&
        (!message || message.test(condition?.message ?? ''));
      if (!matches) lastSeen = JSON.stringify(found?.status);
      return matches ? found : undefined;
    },
    60_000,
    200,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; last seen: ${lastSeen}`);
  });
}

before(async () => {
  [hub, member] = await Promise.all([startTestCluster({ crds: true }), startTestCluster({ crds: true })]);
  hubClient = new SeerClient(RestClient.fromKubeconfig(hub.kubeconfig));
  memberClient = new SeerClient(RestClient.fromKubeconfig(member.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-hub-e2e-'));
  await hub.kubectl(['create', 'namespace', SEER_NAMESPACE]);
  agent = await startAgentProcess({
    nodeName: 'member-node-1',
    root: path.join(work, 'node'),
    kubeconfig: member.kubeconfig,
  });
  metricsPort = await freePort();
  operator = await startOperatorProcess({
    kubeconfig: hub.kubeconfig,
    identity: 'hub-a',
    logDir: work,
    args: ['--http-address', `127.0.0.1:${metricsPort}`, ...HUB_ONLY_ARGS],
  });
});

after(async () => {
  await operator?.stop();
  await agent?.cleanUp();
  hubClient?.rest.close();
  memberClient?.rest.close();
  await Promise.all([hub?.stop(), member?.stop()]);
  if (work && !process.env.SEER_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

test('a SeerCluster added at run time is checked: reachable, its nodes, its agents’ version', async () => {
  await putSecret(hub, 'eu-1-kubeconfig', { kubeconfig: await readFile(member.kubeconfig, 'utf8') });
  await hubClient.create('SeerCluster', seerCluster('eu-1', 'eu-1-kubeconfig', { zone: 'eu-1' }));
  const reachable = await eventually('eu-1 reachable with its node Ready', async () => {
    const found = await hubClient.find('SeerCluster', 'eu-1');
    return found?.status?.phase === 'Reachable' && found.status.nodes === '1/1' ? found : undefined;
  });
  assert.equal(reachable.status?.server, connectionFromKubeconfig(member.kubeconfig).server);
  assert.equal(reachable.status?.seer_version, SEER_VERSION_STRING);
  assert.equal(reachable.status?.node_count, 1);
  assert.ok(reachable.status?.last_heartbeat_time);
  const table = await hub.kubectlOk(['get', 'scl']);
  assert.match(table, /^NAME\s+STATUS\s+NODES\s+VERSION\s+HEARTBEAT\s+AGE\n/);
  assert.match(table, /\neu-1\s+Reachable\s+1\/1\s+/);
});

test('a member whose API server is gone is Unreachable, nothing is removed, and it comes back', async () => {
  await member.stopApiServer();
  try {
    const gone = await clusterIn('eu-1', 'Unreachable', 'Unreachable');
    assert.equal(gone.status?.nodes, '1/1', 'the last counts are kept');
  } finally {
    await member.startApiServer();
  }
  const back = await clusterIn('eu-1', 'Reachable', 'Reachable');
  assert.equal(back.status?.nodes, '1/1');
  assert.ok(await hubClient.find('SeerCluster', 'eu-1'), 'the SeerCluster is still there');
  assert.ok(await memberClient.find('SeerNode', 'member-node-1'), "the member's node is still there");
});

test('a missing, unusable or file-referencing kubeconfig is reported with its reason; fixing the Secret heals it', async () => {
  await hubClient.create('SeerCluster', seerCluster('us-1', 'us-1-kubeconfig'));
  await clusterIn(
    'us-1',
    'Invalid',
    'KubeconfigMissing',
    new RegExp(`^Secret ${SEER_NAMESPACE}/us-1-kubeconfig does not exist$`),
  );

  await putSecret(hub, 'us-1-kubeconfig', { other: 'x' });
  await clusterIn('us-1', 'Invalid', 'KubeconfigMissing', /has no key kubeconfig$/);

  await putSecret(hub, 'us-1-kubeconfig', { kubeconfig: 'just: [text' });
  await clusterIn('us-1', 'Invalid', 'KubeconfigInvalid');

  // The kubeconfig's CA as a file path, as kubeadm writes it: the hub has no such file.
  const withFile = yaml.load(await readFile(member.kubeconfig, 'utf8')) as {
    clusters: { cluster: Record<string, string> }[];
  };
  for (const { cluster } of withFile.clusters) {
    delete cluster['certificate-authority-data'];
    cluster['certificate-authority'] = '/etc/ca.crt';
  }
  await putSecret(hub, 'us-1-kubeconfig', { kubeconfig: yaml.dump(withFile) });
  await clusterIn('us-1', 'Invalid', 'KubeconfigInvalid', /refers to the file \/etc\/ca\.crt; embed it/);

  await putSecret(hub, 'us-1-kubeconfig', { kubeconfig: await readFile(member.kubeconfig, 'utf8') });
  await clusterIn('us-1', 'Reachable', 'Reachable');
  await hubClient.delete('SeerCluster', { metadata: { name: 'us-1' } });
});

test('the hub runs under its own Lease and says so in its metrics', async () => {
  const lease = JSON.parse(
    await hub.kubectlOk(['get', 'lease', 'seer-hub', '-n', SEER_NAMESPACE, '-o', 'json']),
  ) as { spec: { holderIdentity?: string } };
  assert.equal(lease.spec.holderIdentity, 'hub-a');
  const absent = await hub.kubectl(['get', 'lease', 'seer-operator', '-n', SEER_NAMESPACE]);
  assert.notEqual(absent.code, 0, 'no member controllers run on the hub-only operator');
  // The gauge counts the hub's cache, which shows the deletion of us-1 a moment after it happens.
  const metrics = await eventually('one Reachable member in the metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return /^seer_hub_member_clusters\{phase="Reachable"\} 1$/m.test(text) ? text : undefined;
  });
  assert.match(metrics, /^seer_hub_leader 1$/m);
  assert.match(metrics, /^seer_hub_member_clusters\{phase="Invalid"\} 0$/m);
});
