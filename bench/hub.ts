/**
 * The hub's overhead: an app set over 2 member clusters × 50 simulated nodes each (real API servers
 * and operators), against the same SeerDeployments created directly in the members in the same run:
 *  - time from apply until every replica is available;
 *  - time from a version bump until every replica runs it. The app set rolls the canary cluster
 *    first, then the other; the direct baseline does the same, cluster after cluster.
 * Goal: hub overhead ≤ 20%.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SEER_API_VERSION } from '../api/names.js';
import type { AppSetCluster, SeerAppSet, SeerDeployment } from '../api/types.js';
import { objectRef } from '../kube/keys.js';
import { RestClient } from '../kube/rest.js';
import { SeerClient } from '../kube/seer-client.js';
import { podSetReplicas, wantedDeployment } from '../operator/hub/app-set-plan.js';
import { eventually, type SeerProcess } from '../test/support/agent.js';
import { startTestCluster, type TestCluster } from '../test/support/control-plane.js';
import { addMember } from '../test/support/hub.js';
import { startOperatorProcess } from '../test/support/operator.js';
import { rolloutProgress } from '../workloads/rollout-progress.js';
import { SimulatedNodes } from './simulated-nodes.js';

const NODES = Number(process.env.BENCH_NODES ?? 50);
const REPLICAS_PER_POD_SET = Number(process.env.BENCH_POD_SET_REPLICAS ?? 100);
const MEMBERS = ['m1', 'm2'];
const TIMEOUT_MS = 600_000;

const container = { name: 'app', package: 'file:///opt/app-v1.tar.gz', commands: { start: 'bin/app' } };

function topology(version: string): AppSetCluster[] {
  return MEMBERS.map((member) => ({
    name: member,
    pod_sets: ['a', 'b'].map((set) => ({
      name: `web-${member}-${set}`,
      replicas: REPLICAS_PER_POD_SET,
      version,
      package: `file:///opt/app-${version}.tar.gz`,
    })),
  }));
}

function appSet(namespace: string, version: string): SeerAppSet {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerAppSet',
    metadata: { name: 'web', namespace },
    spec: {
      replicas: MEMBERS.length * 2 * REPLICAS_PER_POD_SET,
      template: { spec: { containers: [container] } },
      update_strategy: { upgrade_type: 'canary', canary_clusters: [MEMBERS[0] ?? ''] },
      cluster_topology: { clusters: topology(version) },
    },
  };
}

/** The deployments the app set would make, for creating them without the hub. */
function directDeployments(version: string): Map<string, SeerDeployment[]> {
  const set = appSet('direct', version);
  const replicas = podSetReplicas(set);
  return new Map(
    set.spec.cluster_topology.clusters.map((cluster) => [
      cluster.name,
      cluster.pod_sets.map((podSet) => {
        const { deployment } = wantedDeployment(
          set,
          cluster,
          podSet,
          replicas.get(`${cluster.name}/${podSet.name}`) ?? 0,
        );
        return { ...deployment, metadata: { ...deployment.metadata, finalizers: undefined } };
      }),
    ]),
  );
}

async function allAvailable(client: SeerClient, namespace: string, version: string): Promise<boolean> {
  const list = await client.list('SeerDeployment', { namespace });
  return (
    list.items.length === 2 &&
    list.items.every(
      (d) =>
        rolloutProgress(d).state === 'done' && d.spec.template.spec.containers[0]?.package.includes(version),
    )
  );
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

const clusters: TestCluster[] = await Promise.all([0, 1, 2].map(() => startTestCluster({ crds: true })));
const [hub, ...memberClusters] = clusters;
if (!hub) throw new Error('no hub');
const work = await mkdtemp(path.join(os.tmpdir(), 'seer-bench-hub-'));
const processes: SeerProcess[] = [];
const simulated: SimulatedNodes[] = [];
const memberClients = new Map<string, SeerClient>();
try {
  const hubClient = new SeerClient(RestClient.fromKubeconfig(hub.kubeconfig));
  await hub.kubectlOk(['create', 'namespace', 'shop']);
  for (const [index, name] of MEMBERS.entries()) {
    const cluster = memberClusters[index];
    if (!cluster) throw new Error(name);
    await cluster.kubectlOk(['create', 'namespace', 'direct']);
    const client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
    memberClients.set(name, client);
    const nodes = new SimulatedNodes(
      client,
      Array.from({ length: NODES }, (_, i) => `${name}-sim-${i}`),
    );
    await nodes.start();
    simulated.push(nodes);
    processes.push(
      await startOperatorProcess({
        kubeconfig: cluster.kubeconfig,
        identity: `${name}-operator`,
        logDir: work,
        args: ['--log-level', 'warn'],
      }),
    );
    await addMember(hub, hubClient, name, cluster);
  }
  processes.push(
    await startOperatorProcess({
      kubeconfig: hub.kubeconfig,
      identity: 'hub',
      logDir: work,
      args: [
        '--enable-hub=true',
        '--enable-member=false',
        '--log-level',
        'warn',
        '--cluster-check-interval',
        '2',
      ],
    }),
  );
  await eventually(
    'members Reachable',
    async () => (await hubClient.list('SeerCluster')).items.every((c) => c.status?.phase === 'Reachable'),
    60_000,
  );
  const member = (name: string) => {
    const client = memberClients.get(name);
    if (!client) throw new Error(name);
    return client;
  };

  // Direct: create every deployment in its member at once.
  let started = performance.now();
  const v1 = directDeployments('v1');
  await Promise.all(
    MEMBERS.flatMap((name) => (v1.get(name) ?? []).map((d) => member(name).create('SeerDeployment', d))),
  );
  for (const name of MEMBERS) {
    await eventually(
      `direct ${name} available`,
      () => allAvailable(member(name), 'direct', 'v1'),
      TIMEOUT_MS,
      200,
    );
  }
  const directApply = performance.now() - started;

  // Direct bump: each cluster's deployments, then wait for them, cluster after cluster.
  started = performance.now();
  const v2 = directDeployments('v2');
  for (const name of MEMBERS) {
    for (const deployment of v2.get(name) ?? []) {
      await member(name).patch('SeerDeployment', objectRef(deployment.metadata.name ?? '', 'direct'), {
        metadata: { labels: deployment.metadata.labels },
        spec: deployment.spec,
      });
    }
    await eventually(
      `direct ${name} at v2`,
      () => allAvailable(member(name), 'direct', 'v2'),
      TIMEOUT_MS,
      200,
    );
  }
  const directBump = performance.now() - started;

  // Through the hub.
  const running = (version: string) => async () => {
    const set = await hubClient.get('SeerAppSet', 'web', 'shop');
    return (
      set.status?.phase === 'Running' &&
      set.status.observed_generation === set.metadata.generation &&
      set.status.version === version
    );
  };
  started = performance.now();
  await hubClient.create('SeerAppSet', appSet('shop', 'v1'));
  await eventually('app set Running at v1', running('v1'), TIMEOUT_MS, 200);
  const hubApply = performance.now() - started;

  started = performance.now();
  await hubClient.patch('SeerAppSet', objectRef('web', 'shop'), {
    spec: { cluster_topology: { clusters: topology('v2') } },
  });
  await eventually('app set Running at v2', running('v2'), TIMEOUT_MS, 200);
  const hubBump = performance.now() - started;

  const pods = MEMBERS.length * 2 * REPLICAS_PER_POD_SET;
  const overhead = (hubMs: number, directMs: number) =>
    `${(((hubMs - directMs) / directMs) * 100).toFixed(0)}%`;
  console.log(`hub: ${MEMBERS.length} members × ${NODES} simulated nodes, ${pods} pods in 4 pod sets`);
  console.log(
    `  apply → all available:    direct ${seconds(directApply)} s, app set ${seconds(hubApply)} s (overhead ${overhead(hubApply, directApply)}; goal ≤ 20%)`,
  );
  console.log(
    `  version bump → all updated: direct ${seconds(directBump)} s, app set ${seconds(hubBump)} s (overhead ${overhead(hubBump, directBump)}; goal ≤ 20%)`,
  );
  hubClient.rest.close();
} finally {
  for (const process of processes) await process.stop();
  for (const nodes of simulated) await nodes.stop();
  for (const client of memberClients.values()) client.rest.close();
  await Promise.all(clusters.map((c) => c.stop()));
  await rm(work, { recursive: true, force: true });
}
