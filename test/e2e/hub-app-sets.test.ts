import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  APP_SET_FINALIZER,
  APP_SET_LABEL,
  POD_SET_LABEL,
  ROLLOUT_GROUP_LABEL,
  SEER_API_VERSION,
  VERSION_LABEL,
} from '../../api/names.js';
import type { AppSetCluster, SeerAppSet, SeerDeployment } from '../../api/types.js';
import { createAppSetCommand } from '../../cli/commands/appset.js';
import { repoPath } from '../../common/paths.js';
import { statusCode } from '../../kube/errors.js';
import { objectRef } from '../../kube/keys.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import {
  eventually,
  killManagedProcesses,
  managedProcesses,
  startAgentProcess,
  type AgentProcess,
  type SeerProcess,
} from '../support/agent.js';
import { runCommand, startTestCluster, type TestCluster } from '../support/control-plane.js';
import { addMember, HUB_ONLY_ARGS } from '../support/hub.js';
import { startOperatorProcess } from '../support/operator.js';
import { makePackage } from '../support/pods.js';

/** How long a member's API server stays down; the 60 s with SEER_E2E_LONG_OUTAGE=1. */
const OUTAGE_MS = process.env.SEER_E2E_LONG_OUTAGE ? 60_000 : 8_000;
const MEMBERS = ['east', 'west'] as const;
type Member = (typeof MEMBERS)[number];

let hub: TestCluster;
let hubClient: SeerClient;
let work: string;
const members = new Map<
  Member,
  { cluster: TestCluster; client: SeerClient; agent: AgentProcess; operator: SeerProcess }
>();
let hubOperator: SeerProcess;
const packages = new Map<string, string>();

/** Prints its version, then runs until stopped. */
const program = (version: string) => `#!/bin/sh
echo "web ${version}"
trap 'exit 0' TERM
while true; do sleep 0.2; done
`;

function member(name: Member) {
  const found = members.get(name);
  assert.ok(found, name);
  return found;
}

function startMemberOperator(name: Member, cluster: TestCluster): Promise<SeerProcess> {
  return startOperatorProcess({
    kubeconfig: cluster.kubeconfig,
    identity: `${name}-operator`,
    logDir: work,
    args: ['--lease-duration', '3'],
  });
}

/**
 * Brings the member's API server back. Its operator exited when it could not renew its Lease (so a
 * stale leader never acts); start it again, as its supervisor (systemd, a Deployment) would.
 */
async function endOutage(name: Member): Promise<void> {
  const found = member(name);
  await found.cluster.startApiServer();
  await found.operator.stop();
  found.operator = await startMemberOperator(name, found.cluster);
}

before(async () => {
  const [hubCluster, east, west] = await Promise.all([0, 1, 2].map(() => startTestCluster({ crds: true })));
  assert.ok(hubCluster && east && west);
  hub = hubCluster;
  hubClient = new SeerClient(RestClient.fromKubeconfig(hub.kubeconfig));
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-app-sets-e2e-'));
  // In the members the hub makes the namespace itself.
  await hub.kubectlOk(['create', 'namespace', 'shop']);
  for (const version of ['v3', 'v4'])
    packages.set(version, (await makePackage({ 'bin/web': program(version) })).reference);
  for (const [name, cluster] of [
    ['east', east],
    ['west', west],
  ] as const) {
    const [agent, operator] = await Promise.all([
      startAgentProcess({
        nodeName: `${name}-node`,
        root: path.join(work, name),
        kubeconfig: cluster.kubeconfig,
        logFile: path.join(work, `${name}-agent.log`),
      }),
      startMemberOperator(name, cluster),
    ]);
    members.set(name, {
      cluster,
      client: new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig)),
      agent,
      operator,
    });
    await addMember(hub, hubClient, name, cluster, { zone: name });
  }
  hubOperator = await startOperatorProcess({
    kubeconfig: hub.kubeconfig,
    identity: 'hub',
    logDir: work,
    args: HUB_ONLY_ARGS,
  });
  await eventually('both members Reachable with a Ready node', async () => {
    const clusters = (await hubClient.list('SeerCluster')).items;
    return clusters.filter((c) => c.status?.phase === 'Reachable' && c.status.nodes === '1/1').length === 2;
  });
});

after(async () => {
  await hubOperator?.stop();
  for (const [name, { operator, agent, client }] of members) {
    await operator.stop();
    await agent.cleanUp();
    await killManagedProcesses(path.join(work, name));
    client.rest.close();
  }
  hubClient?.rest.close();
  await Promise.all([hub?.stop(), ...[...members.values()].map((m) => m.cluster.stop())]);
  if (work && !process.env.SEER_KEEP_TEST_DIRS) await rm(work, { recursive: true, force: true });
});

function topology(version: string, west = true, app = 'web'): AppSetCluster[] {
  const podSet = (name: string, replicas: number, group: string) => ({
    name,
    replicas,
    version,
    package: packages.get(version),
    meta: { [ROLLOUT_GROUP_LABEL]: group },
  });
  return [
    {
      name: 'east',
      meta: { zone: 'east' },
      pod_sets: [podSet(`${app}-east-canary`, 1, 'canary'), podSet(`${app}-east-blue`, 1, 'blue')],
    },
    ...(west
      ? [
          {
            name: 'west',
            meta: { zone: 'west' },
            pod_sets: [podSet(`${app}-west-blue`, 1, 'blue'), podSet(`${app}-west-green`, 1, 'green')],
          },
        ]
      : []),
  ];
}

function appSet(name: string, clusters: AppSetCluster[], replicas = 4): SeerAppSet {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerAppSet',
    metadata: { name, namespace: 'shop' },
    spec: {
      replicas,
      service_name: 'web.shop.internal',
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'web',
              package: packages.get('v3') ?? '',
              commands: { start: 'bin/web' },
              stop_timeout_seconds: 2,
            },
          ],
        },
      },
      update_strategy: {
        upgrade_type: 'canary',
        canary_clusters: ['east'],
        need_waiting_for_confirm: true,
        min_ready_seconds: 0,
      },
      cluster_topology: { clusters },
    },
  };
}

const getAppSet = (name: string) => hubClient.find('SeerAppSet', name, 'shop');

function appSetWhere(
  name: string,
  what: string,
  check: (set: SeerAppSet) => boolean,
  timeoutMs = 60_000,
): Promise<SeerAppSet> {
  let last = '';
  return eventually(
    `${name}: ${what}`,
    async () => {
      const set = await getAppSet(name);
      last = JSON.stringify(set?.status);
      return set && check(set) ? set : undefined;
    },
    timeoutMs,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; last status: ${last}`);
  });
}

/** A member's API server just started answers 429 until its storage is ready: ask again. */
async function fromMember<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (statusCode(error) !== 429 || attempt >= 50) throw error;
      await sleep(200);
    }
  }
}

const deploymentsIn = async (name: Member, appSetName: string): Promise<SeerDeployment[]> =>
  (
    await fromMember(() =>
      member(name).client.list('SeerDeployment', {
        namespace: 'shop',
        labelSelector: `${APP_SET_LABEL}=${appSetName}`,
      }),
    )
  ).items;

async function runningPods(name: Member, appSetName: string): Promise<number> {
  const pods = await fromMember(() =>
    member(name).client.list('SeerPod', {
      namespace: 'shop',
      labelSelector: `${APP_SET_LABEL}=${appSetName}`,
    }),
  );
  return pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp).length;
}

async function confirm(name: string): Promise<string> {
  let stdout = '';
  const output = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: () => true } };
  await createAppSetCommand(output).run(['confirm', name, '-n', 'shop', '--kubeconfig', hub.kubeconfig]);
  return stdout;
}

const running = (set: SeerAppSet) =>
  set.status?.phase === 'Running' && set.status.observed_generation === set.metadata.generation;

test('an app set lands one deployment per pod set in each member, with its replicas, labels and running pods', async () => {
  await hubClient.create('SeerAppSet', appSet('web', topology('v3')));
  const set = await appSetWhere('web', 'Running', running);
  assert.equal(set.status?.replicas, 4);
  assert.equal(set.status?.available_replicas, 4);
  assert.equal(set.status?.unavailable_replicas, 0);
  assert.equal(set.status?.version, 'v3');
  assert.ok(set.metadata.finalizers?.includes(APP_SET_FINALIZER));
  const east = await deploymentsIn('east', 'web');
  assert.deepEqual(
    east.map((d) => [d.metadata.name, d.spec.replicas, d.metadata.labels?.[ROLLOUT_GROUP_LABEL]]).sort(),
    [
      ['web-east-blue', 1, 'blue'],
      ['web-east-canary', 1, 'canary'],
    ],
  );
  const west = await deploymentsIn('west', 'web');
  assert.deepEqual(
    west.map((d) => [d.metadata.name, d.spec.replicas, d.metadata.labels?.[VERSION_LABEL]]),
    [
      ['web-west-blue', 1, 'v3'],
      ['web-west-green', 1, 'v3'],
    ],
  );
  assert.ok(
    west[0]?.metadata.finalizers?.includes(APP_SET_FINALIZER),
    'the hub holds each member deployment',
  );
  assert.equal(await runningPods('east', 'web'), 2);
  assert.equal(await runningPods('west', 'web'), 2);
  // Anything that routes traffic selects a group by its label.
  const green = await member('west').client.list('SeerPod', {
    namespace: 'shop',
    labelSelector: `${ROLLOUT_GROUP_LABEL}=green`,
  });
  assert.deepEqual(
    green.items.map((p) => p.metadata.labels?.[POD_SET_LABEL]),
    ['web-west-green'],
  );

  const table = await hub.kubectlOk(['get', 'sas', '-n', 'shop']);
  assert.match(table, /^NAME\s+DESIRED\s+AVAILABLE\s+UNAVAILABLE\s+VERSION\s+STATUS\s+AGE\n/);
  assert.match(table, /\nweb\s+4\s+4\s+0\s+v3\s+Running\s+/);
});

test('a version bump goes to the canary cluster, waits for confirm, then rolls the others', async () => {
  const current = await getAppSet('web');
  assert.ok(current);
  await hubClient.patch('SeerAppSet', current, { spec: { cluster_topology: { clusters: topology('v4') } } });
  const waiting = await appSetWhere(
    'web',
    'WaitingForConfirm',
    (s) => s.status?.phase === 'WaitingForConfirm',
  );
  assert.equal(waiting.status?.version, 'v3/v4');
  const eastVersions = (await deploymentsIn('east', 'web')).map((d) => d.metadata.labels?.[VERSION_LABEL]);
  assert.deepEqual(eastVersions, ['v4', 'v4']);
  // Held: the other cluster keeps its version while the gate is closed.
  await sleep(2000);
  assert.deepEqual(
    (await deploymentsIn('west', 'web')).map((d) => d.metadata.labels?.[VERSION_LABEL]),
    ['v3', 'v3'],
  );
  assert.equal((await getAppSet('web'))?.status?.phase, 'WaitingForConfirm');
  const table = await hub.kubectlOk(['get', 'sas', '-n', 'shop']);
  assert.match(table, /\nweb\s+4\s+\d\s+\d\s+v3\/v4\s+WaitingForConfirm\s+/);

  assert.match(await confirm('web'), /confirmed revision/);
  const done = await appSetWhere('web', 'Running at v4', (s) => running(s) && s.status?.version === 'v4');
  assert.equal(done.status?.available_replicas, 4);
  assert.deepEqual(
    (await deploymentsIn('west', 'web')).map((d) => d.metadata.labels?.[VERSION_LABEL]),
    ['v4', 'v4'],
  );
  assert.equal(await runningPods('west', 'web'), 2);
});

test('a topology naming an unknown cluster says so, and the others proceed', async () => {
  const clusters = [
    ...topology('v4', true, 'lost'),
    { name: 'nowhere', pod_sets: [{ name: 'lost-nowhere', replicas: 1, version: 'v4' }] },
  ];
  await hubClient.create('SeerAppSet', appSet('lost', clusters, 5));
  const set = await appSetWhere(
    'lost',
    'UnknownCluster',
    (s) =>
      s.status?.conditions?.some((c) => c.type === 'ClustersReady' && c.reason === 'UnknownCluster') ===
        true && (s.status.available_replicas ?? 0) === 4,
  );
  const condition = set.status?.conditions?.find((c) => c.type === 'ClustersReady');
  assert.match(condition?.message ?? '', /names nowhere, which is not a SeerCluster/);
  assert.equal(set.status?.clusters?.find((c) => c.name === 'nowhere')?.phase, 'Unknown');
  assert.equal((await deploymentsIn('west', 'lost')).length, 2);
  await hubClient.delete('SeerAppSet', objectRef('lost', 'shop'));
  await eventually('lost gone', async () => !(await getAppSet('lost')));
  assert.deepEqual(await deploymentsIn('east', 'lost'), []);
});

test('pod sets that do not add up to replicas are explained and deployed as written', async () => {
  await hubClient.create('SeerAppSet', appSet('odd', topology('v3', false, 'odd'), 5));
  const set = await appSetWhere(
    'odd',
    'ReplicasMatch False',
    (s) =>
      s.status?.conditions?.some((c) => c.type === 'ReplicasMatch' && c.status === 'False') === true &&
      running(s),
  );
  assert.match(
    set.status?.conditions?.find((c) => c.type === 'ReplicasMatch')?.message ?? '',
    /add up to 2, spec\.replicas is 5/,
  );
  assert.equal(set.status?.replicas, 2);
  await hubClient.delete('SeerAppSet', objectRef('odd', 'shop'));
  await eventually('odd gone', async () => !(await getAppSet('odd')));
});

test('a member whose API server is away is Unreachable; nothing is deleted anywhere; it converges when back', async () => {
  const west = member('west');
  await west.cluster.stopApiServer();
  try {
    const set = await appSetWhere(
      'web',
      'west unreachable',
      (s) =>
        s.status?.conditions?.some(
          (c) => c.type === 'ClustersReady' && /not reachable: west/.test(c.message ?? ''),
        ) === true,
    );
    assert.equal(set.status?.clusters?.find((c) => c.name === 'west')?.phase, 'Unreachable');
    // Meanwhile east scales up: the reachable member proceeds.
    const clusters = topology('v4');
    const eastBlue = clusters[0]?.pod_sets[1];
    assert.ok(eastBlue);
    eastBlue.replicas = 2;
    await hubClient.patch('SeerAppSet', set, { spec: { replicas: 5, cluster_topology: { clusters } } });
    await eventually(
      'east blue scaled to 2',
      async () =>
        (await member('east').client.find('SeerDeployment', 'web-east-blue', 'shop'))?.spec.replicas === 2,
    );
    await sleep(Math.max(0, OUTAGE_MS - 4000));
  } finally {
    await endOutage('west');
  }
  const back = await appSetWhere(
    'web',
    'Running with 5 after west is back',
    (s) => running(s) && s.status?.available_replicas === 5,
  );
  assert.equal(back.status?.clusters?.find((c) => c.name === 'west')?.phase, 'Reachable');
  assert.equal((await deploymentsIn('west', 'web')).length, 2, "west's deployments were never removed");
  assert.equal(await runningPods('west', 'web'), 2);
});

test('a member removed from the topology has its deployments and pods removed', async () => {
  const current = await getAppSet('web');
  assert.ok(current);
  await hubClient.patch('SeerAppSet', current, {
    spec: { replicas: 3, cluster_topology: { clusters: topology('v4', false) } },
  });
  await eventually(
    'west has no deployment or pod of web',
    async () =>
      (await deploymentsIn('west', 'web')).length === 0 &&
      (await member('west').client.list('SeerPod', { namespace: 'shop' })).items.length === 0,
  );
  const set = await appSetWhere(
    'web',
    'Running with east only',
    (s) => running(s) && s.status?.replicas === 2,
  );
  assert.deepEqual(
    set.status?.clusters?.map((c) => c.name),
    ['east'],
  );
});

test('deleting the app set waits for an unreachable member, names it, then leaves no object or process anywhere', async () => {
  const current = await getAppSet('web');
  assert.ok(current);
  await hubClient.patch('SeerAppSet', current, {
    spec: { replicas: 4, cluster_topology: { clusters: topology('v4') } },
  });
  await appSetWhere('web', 'Running in both again', (s) => running(s) && s.status?.available_replicas === 4);
  const west = member('west');
  await west.cluster.stopApiServer();
  try {
    await appSetWhere(
      'web',
      'west unreachable',
      (s) => s.status?.clusters?.find((c) => c.name === 'west')?.phase === 'Unreachable',
    );
    await hubClient.delete('SeerAppSet', current);
    const terminating = await appSetWhere(
      'web',
      'Terminating, waiting for west',
      (s) =>
        s.status?.conditions?.some(
          (c) => c.type === 'Terminating' && /waiting for west \(Unreachable\)/.test(c.message ?? ''),
        ) === true,
    );
    assert.equal(terminating.status?.phase, 'Terminating');
    assert.deepEqual(await deploymentsIn('east', 'web'), [], "east's deployments are gone meanwhile");
    await sleep(1000);
    assert.ok(await getAppSet('web'), 'the app set stays while west may still hold its objects');
  } finally {
    await endOutage('west');
  }
  await eventually('web gone from the hub', async () => !(await getAppSet('web')), 90_000);
  for (const name of MEMBERS) {
    const { client } = member(name);
    assert.deepEqual(
      (await client.list('SeerDeployment', { namespace: 'shop' })).items,
      [],
      `${name} deployments`,
    );
    assert.deepEqual((await client.list('SeerPod', { namespace: 'shop' })).items, [], `${name} pods`);
  }
  assert.deepEqual(await managedProcesses(work), [], 'no process of the app set runs on any host');
});

test('seer cluster forget lets a deleted app set go without an unreachable member', async () => {
  await hubClient.create('SeerAppSet', appSet('gone', topology('v3', true, 'gone')));
  await appSetWhere('gone', 'Running', running);
  const west = member('west');
  await west.cluster.stopApiServer();
  try {
    await appSetWhere(
      'gone',
      'west unreachable',
      (s) => s.status?.clusters?.find((c) => c.name === 'west')?.phase === 'Unreachable',
    );
    await hubClient.delete('SeerAppSet', objectRef('gone', 'shop'));
    await appSetWhere('gone', 'Terminating', (s) => s.status?.phase === 'Terminating');
    const forgot = await runCommand(process.execPath, [
      repoPath('dist', 'cli', 'main.js'),
      'cluster',
      'forget',
      'west',
      '--kubeconfig',
      hub.kubeconfig,
    ]);
    assert.equal(forgot.code, 0, forgot.stderr);
    assert.match(forgot.stdout, /seercluster\.seer\.io\/west forgotten/);
    await eventually('gone deleted from the hub', async () => !(await getAppSet('gone')));
  } finally {
    await endOutage('west');
  }
  // What the hub gave up on is left in place in the member, for its admin to see.
  const left = await deploymentsIn('west', 'gone');
  assert.equal(left.length, 2);
  for (const deployment of left) {
    await west.client.patch('SeerDeployment', deployment, { metadata: { finalizers: null } });
    await west.client.delete('SeerDeployment', deployment);
  }
});
