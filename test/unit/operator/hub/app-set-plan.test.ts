import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  APP_SET_LABEL,
  CONFIRMED_ANNOTATION,
  MEMBER_CLUSTER_LABEL,
  POD_SET_LABEL,
  ROLLOUT_GROUP_LABEL,
  SEER_API_VERSION,
  VERSION_LABEL,
} from '../../../../api/names.js';
import type { AppSetCluster, SeerAppSet, SeerDeployment } from '../../../../api/types.js';
import {
  type MemberView,
  planAppSet,
  podSetReplicas,
  wantedDeployment,
} from '../../../../operator/hub/app-set-plan.js';

function cluster(
  name: string,
  version: string,
  sets: [string, number | undefined, string?][],
): AppSetCluster {
  return {
    name,
    meta: { zone: name },
    pod_sets: sets.map(([podSet, replicas, group]) => ({
      name: podSet,
      replicas,
      version,
      package: `file:///pkgs/web-${version}.tar.gz`,
      ...(group ? { meta: { [ROLLOUT_GROUP_LABEL]: group } } : {}),
    })),
  };
}

function appSet(
  clusters: AppSetCluster[],
  strategy: SeerAppSet['spec']['update_strategy'] = {},
  replicas = 4,
): SeerAppSet {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerAppSet',
    metadata: { name: 'web', namespace: 'shop', generation: 2, annotations: {} },
    spec: {
      replicas,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{ name: 'web', package: 'file:///pkgs/web.tar.gz', commands: { start: './run' } }],
        },
      },
      update_strategy: strategy,
      cluster_topology: { clusters },
    },
  };
}

/** The member deployments exactly as the app set wants them, all available (or as `available` says). */
function running(set: SeerAppSet, available = true): MemberView[] {
  const replicas = podSetReplicas(set);
  return set.spec.cluster_topology.clusters.map((c) => ({
    name: c.name,
    phase: 'Reachable',
    deployments: c.pod_sets.map((p) => {
      const { deployment } = wantedDeployment(set, c, p, replicas.get(`${c.name}/${p.name}`) ?? 0);
      const n = deployment.spec.replicas ?? 0;
      return {
        ...deployment,
        metadata: { ...deployment.metadata, generation: 1 },
        status: {
          observed_generation: 1,
          replicas: n,
          updated_replicas: n,
          available_replicas: available ? n : 0,
        },
      } satisfies SeerDeployment;
    }),
  }));
}

const v3 = () => [
  cluster('eu', 'v3', [['web-eu', 2]]),
  cluster('us', 'v3', [['web-us', 1]]),
  cluster('ap', 'v3', [['web-ap', 1]]),
];
const v4 = () => [
  cluster('eu', 'v4', [['web-eu', 2]]),
  cluster('us', 'v4', [['web-us', 1]]),
  cluster('ap', 'v4', [['web-ap', 1]]),
];
const names = (list: { cluster: string }[]) => list.map((w) => w.cluster);

describe('app set deployments', () => {
  test('each pod set becomes a deployment labelled with app set, pod set, version, group and cluster', () => {
    const set = appSet([
      cluster('eu', 'v3', [
        ['web-eu-canary', 1, 'canary'],
        ['web-eu-blue', 3, 'blue'],
      ]),
    ]);
    const plan = planAppSet(set, [{ name: 'eu', phase: 'Reachable', deployments: [] }]);
    assert.deepEqual(
      plan.creates.map((w) => w.deployment.metadata.name),
      ['web-eu-canary', 'web-eu-blue'],
    );
    const canary = plan.creates[0]?.deployment;
    assert.ok(canary);
    assert.deepEqual(canary.metadata.labels, {
      zone: 'eu',
      [ROLLOUT_GROUP_LABEL]: 'canary',
      [APP_SET_LABEL]: 'web',
      [POD_SET_LABEL]: 'web-eu-canary',
      [VERSION_LABEL]: 'v3',
      [MEMBER_CLUSTER_LABEL]: 'eu',
    });
    assert.equal(canary.metadata.namespace, 'shop');
    assert.equal(canary.spec.replicas, 1);
    assert.equal(canary.spec.template.metadata?.labels?.app, 'web');
    assert.equal(canary.spec.template.metadata?.labels?.[ROLLOUT_GROUP_LABEL], 'canary');
    assert.equal(canary.spec.template.spec.containers[0]?.package, 'file:///pkgs/web-v3.tar.gz');
    assert.deepEqual(canary.spec.selector?.match_labels, {
      [APP_SET_LABEL]: 'web',
      [POD_SET_LABEL]: 'web-eu-canary',
    });
  });

  test('pod sets without replicas share the rest of spec.replicas; a mismatch is explained, not refused', () => {
    const shared = appSet(
      [
        cluster('eu', 'v3', [
          ['a', 1],
          ['b', undefined],
          ['c', undefined],
        ]),
      ],
      {},
      6,
    );
    assert.deepEqual([...podSetReplicas(shared).values()], [1, 3, 2]);
    const plan = planAppSet(shared, [{ name: 'eu', phase: 'Reachable', deployments: [] }]);
    assert.equal(plan.conditions.find((c) => c.type === 'ReplicasMatch')?.status, 'True');

    const over = appSet(
      [
        cluster('eu', 'v3', [
          ['a', 4],
          ['b', 3],
        ]),
      ],
      {},
      6,
    );
    const mismatch = planAppSet(over, []).conditions.find((c) => c.type === 'ReplicasMatch');
    assert.equal(mismatch?.status, 'False');
    assert.equal(mismatch?.reason, 'PodSetReplicasMismatch');
    assert.match(mismatch?.message ?? '', /add up to 7, spec\.replicas is 6/);
  });

  test('a topology cluster that is no SeerCluster is reported and the others proceed', () => {
    const set = appSet(v3());
    const plan = planAppSet(set, [{ name: 'eu', phase: 'Reachable', deployments: [] }]);
    assert.deepEqual(names(plan.creates), ['eu']);
    const ready = plan.conditions.find((c) => c.type === 'ClustersReady');
    assert.equal(ready?.reason, 'UnknownCluster');
    assert.match(ready?.message ?? '', /names us, ap, which are not a SeerCluster/);
  });

  test('an unreachable member is neither written nor cleaned, and is named', () => {
    const set = appSet(v3());
    const members = running(set);
    const us = members[1];
    assert.ok(us);
    us.phase = 'Unreachable';
    // Even a deployment nothing wants is left alone while its member is away.
    us.deployments?.push({ ...(us.deployments[0] as SeerDeployment), metadata: { name: 'old', labels: {} } });
    const plan = planAppSet(appSet(v4()), members);
    assert.ok(!plan.updates.some((u) => u.cluster === 'us'));
    assert.deepEqual(plan.deletes, []);
    assert.equal(planAppSet(set, members).status.phase, 'Progressing', 'not Running while a member is away');
    assert.match(
      plan.conditions.find((c) => c.type === 'ClustersReady')?.message ?? '',
      /not reachable: us \(Unreachable\)/,
    );
  });

  test('deployments the topology no longer names are deleted, also in clusters it dropped', () => {
    const set = appSet(v3());
    const members = running(set);
    const smaller = appSet(v3().slice(0, 2));
    const plan = planAppSet(smaller, members);
    assert.deepEqual(
      plan.deletes.map((d) => `${d.cluster}/${d.deployment.metadata.name ?? ''}`),
      ['ap/web-ap'],
    );
  });

  test('replicas alone change without a rollout wave', () => {
    const set = appSet(v3(), { canary_clusters: ['eu'], need_waiting_for_confirm: true });
    const bigger = appSet(
      [
        cluster('eu', 'v3', [['web-eu', 2]]),
        cluster('us', 'v3', [['web-us', 3]]),
        cluster('ap', 'v3', [['web-ap', 1]]),
      ],
      { canary_clusters: ['eu'], need_waiting_for_confirm: true },
      6,
    );
    const plan = planAppSet(bigger, running(set));
    assert.deepEqual(
      plan.updates.map((u) => [u.cluster, u.template]),
      [['us', false]],
    );
    assert.equal(plan.status.phase, 'Progressing');
  });
});

describe('app set rollout waves', () => {
  const strategy = {
    upgrade_type: 'canary' as const,
    canary_clusters: ['us'],
    need_waiting_for_confirm: true,
  };

  test('a new version goes to the canary clusters first', () => {
    const plan = planAppSet(appSet(v4(), strategy), running(appSet(v3(), strategy)));
    assert.deepEqual(
      plan.updates.map((u) => [u.cluster, u.template]),
      [['us', true]],
    );
    assert.equal(plan.status.phase, 'Progressing');
    assert.equal(plan.status.version, 'v3');
  });

  test('once the canaries are available it waits for confirm, then rolls one cluster at a time', () => {
    const next = appSet(v4(), strategy);
    const members = running(appSet(v3(), strategy));
    const [eu, us, ap] = members;
    assert.ok(eu && us && ap);
    us.deployments = running(next)[1]?.deployments;
    const waiting = planAppSet(next, members);
    assert.deepEqual(waiting.updates, []);
    assert.equal(waiting.status.phase, 'WaitingForConfirm');
    assert.equal(waiting.status.version, 'v3/v4');
    assert.match(
      waiting.conditions.find((c) => c.type === 'Available')?.message ?? '',
      /seer appset confirm web/,
    );

    next.metadata.annotations = { [CONFIRMED_ANNOTATION]: waiting.status.revision ?? '' };
    const confirmed = planAppSet(next, members);
    assert.deepEqual(
      confirmed.updates.map((u) => u.cluster),
      ['eu'],
      'the first other cluster in topology order',
    );

    eu.deployments = running(next)[0]?.deployments;
    const second = planAppSet(next, members);
    assert.deepEqual(
      second.updates.map((u) => u.cluster),
      ['ap'],
    );

    ap.deployments = running(next)[2]?.deployments;
    const done = planAppSet(next, members);
    assert.deepEqual(done.updates, []);
    assert.equal(done.status.phase, 'Running');
    assert.equal(done.status.version, 'v4');
    assert.equal(done.status.available_replicas, 4);
  });

  test('a confirmation of an older revision does not let a newer one through', () => {
    const next = appSet(v4(), strategy);
    const members = running(appSet(v3(), strategy));
    const us = members[1];
    assert.ok(us);
    us.deployments = running(next)[1]?.deployments;
    next.metadata.annotations = { [CONFIRMED_ANNOTATION]: 'an-older-one' };
    assert.equal(planAppSet(next, members).status.phase, 'WaitingForConfirm');
  });

  test('canaries not yet available hold the others back', () => {
    const next = appSet(v4(), strategy);
    const members = running(appSet(v3(), strategy));
    const us = members[1];
    assert.ok(us);
    us.deployments = running(next, false)[1]?.deployments;
    const plan = planAppSet(next, members);
    assert.deepEqual(plan.updates, []);
    assert.equal(plan.status.phase, 'Progressing');
    assert.equal(plan.status.unavailable_replicas, 1);
  });

  test('blue upgrades the blue pod sets of every cluster first', () => {
    const colours = (version: string) => [
      cluster('eu', version, [
        ['web-eu-blue', 1, 'blue'],
        ['web-eu-green', 1, 'green'],
      ]),
      cluster('us', version, [
        ['web-us-blue', 1, 'blue'],
        ['web-us-green', 1, 'green'],
      ]),
    ];
    const blue = { upgrade_type: 'blue' as const, need_waiting_for_confirm: false };
    const plan = planAppSet(appSet(colours('v4'), blue), running(appSet(colours('v3'), blue)));
    assert.deepEqual(
      plan.updates.map((u) => u.wanted.podSet),
      ['web-eu-blue', 'web-us-blue'],
    );
  });

  test('paused holds every template back', () => {
    const paused = { ...strategy, paused: true };
    const plan = planAppSet(appSet(v4(), paused), running(appSet(v3(), paused)));
    assert.deepEqual(plan.updates, []);
    assert.equal(plan.status.phase, 'Paused');
  });

  test('without confirm the rest follow as soon as the canaries are available', () => {
    const auto = { ...strategy, need_waiting_for_confirm: false };
    const next = appSet(v4(), auto);
    const members = running(appSet(v3(), auto));
    const us = members[1];
    assert.ok(us);
    us.deployments = running(next)[1]?.deployments;
    assert.deepEqual(
      planAppSet(next, members).updates.map((u) => u.cluster),
      ['eu'],
    );
  });
});
