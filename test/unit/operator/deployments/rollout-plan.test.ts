import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IntOrString, SeerDeployment, SeerPod } from '../../../../api/types.js';
import {
  isAvailable,
  isTerminating,
  templateHashOf,
  timeOf,
} from '../../../../operator/deployments/pod-state.js';
import { plan } from '../../../../operator/deployments/rollout-plan.js';
import { templateHash } from '../../../../workloads/template-hash.js';
import { at, deployment, pod, readyPods, template } from './fixtures.js';

const V1 = templateHash(template('v1'));
const V2 = templateHash(template('v2'));
const names = (pods: SeerPod[]) => pods.map((p) => p.metadata.name).sort();
/** Seconds after T0 the pod's deletion was asked for. */
const deletedAt = (p: SeerPod) => ((timeOf(p.metadata.deletionTimestamp) ?? 0) - at(0).getTime()) / 1000;

describe('scaling with an unchanged template', () => {
  test('missing replicas are created, all at once', () => {
    const planned = plan(deployment({ replicas: 5 }), readyPods(2), at(0));
    assert.equal(planned.create, 3);
    assert.deepEqual(planned.delete, []);
  });

  test('a new deployment creates every replica', () => {
    const planned = plan(deployment({ replicas: 4 }), [], at(0));
    assert.equal(planned.create, 4);
  });

  test('extra replicas go: unscheduled first, then not ready, then the newest', () => {
    const unscheduled = pod({ hash: V1, createdAt: -10, node: null });
    const unready = pod({ hash: V1, createdAt: -20 });
    const oldest = pod({ hash: V1, createdAt: -900, readyAt: -800 });
    const newer = pod({ hash: V1, createdAt: -500, readyAt: -800 });
    const newest = pod({ hash: V1, createdAt: -100, readyAt: -800 });
    const all = [oldest, newest, unready, newer, unscheduled];
    assert.deepEqual(plan(deployment({ replicas: 4 }), all, at(0)).delete, [unscheduled]);
    assert.deepEqual(plan(deployment({ replicas: 3 }), all, at(0)).delete, [unscheduled, unready]);
    assert.deepEqual(plan(deployment({ replicas: 1 }), all, at(0)).delete, [
      unscheduled,
      unready,
      newest,
      newer,
    ]);
  });

  test('among ready pods, the one ready most recently goes before the one ready longest', () => {
    const longReady = pod({ hash: V1, createdAt: -100, readyAt: -90 });
    const justReady = pod({ hash: V1, createdAt: -900, readyAt: -5 });
    assert.deepEqual(plan(deployment({ replicas: 1 }), [longReady, justReady], at(0)).delete, [justReady]);
  });

  test('scaling to zero deletes every pod', () => {
    const pods = readyPods(3);
    assert.deepEqual(names(plan(deployment({ replicas: 0 }), pods, at(0)).delete), names(pods));
  });

  test('a pod being deleted is replaced at once and not deleted again', () => {
    const pods = [...readyPods(2), pod({ hash: V1, readyAt: -600, deletedAt: -1 })];
    const planned = plan(deployment({ replicas: 3 }), pods, at(0));
    assert.equal(planned.create, 1);
    assert.deepEqual(planned.delete, []);
  });

  test('the right number of pods means nothing to do', () => {
    const planned = plan(deployment(), readyPods(3), at(0));
    assert.equal(planned.create, 0);
    assert.deepEqual(planned.delete, []);
  });
});

describe('finished pods', () => {
  test('a failed pod is deleted and replaced', () => {
    const failed = pod({ hash: V1, readyAt: -600, phase: 'Failed' });
    const planned = plan(deployment(), [...readyPods(2), failed], at(0));
    assert.deepEqual(planned.delete, [failed]);
    assert.equal(planned.create, 1);
    assert.equal(planned.status.replicas, 2);
  });

  test('a succeeded pod is deleted and replaced too: a deployment keeps its replicas running', () => {
    const done = pod({ hash: V1, readyAt: -600, phase: 'Succeeded' });
    const planned = plan(deployment(), [...readyPods(2), done], at(0));
    assert.deepEqual(planned.delete, [done]);
    assert.equal(planned.create, 1);
  });
});

interface Scenario {
  replicas: number;
  maxSurge?: IntOrString;
  maxUnavailable?: IntOrString;
  /** What the limits resolve to. */
  surge: number;
  unavailable: number;
  /** How many unready pods become ready per step (default: all). */
  readyPerStep?: number;
  /** Steps a deleted pod takes to disappear (default 1). */
  terminationSteps?: number;
  minReadySeconds?: number;
}

/**
 * Plays a rolling update from v1 to v2 the way the cluster would: apply the plan (deleted pods start
 * terminating, created ones start unready), then let time pass a second (terminating pods vanish
 * after a while, unready ones become ready), and plan again — checking the limits after every plan.
 */
function simulateRollingUpdate(scenario: Scenario): { steps: number; peak: number; lowest: number } {
  const R = scenario.replicas;
  const strategy =
    scenario.maxSurge === undefined && scenario.maxUnavailable === undefined
      ? { type: 'rolling_update' as const }
      : {
          type: 'rolling_update' as const,
          rolling_update: {
            max_surge: scenario.maxSurge ?? 0,
            max_unavailable: scenario.maxUnavailable ?? 0,
          },
        };
  let d: SeerDeployment = deployment({
    replicas: R,
    template: template('v2'),
    strategy,
    min_ready_seconds: scenario.minReadySeconds,
  });
  let pods = readyPods(R, 'v1');
  let now = 0;
  let peak = 0;
  let lowest = Infinity;
  const minReady = scenario.minReadySeconds ?? 0;
  for (let step = 1; step <= 500; step++) {
    now += 1;
    // The world moves on: terminating pods finish, unready pods become ready.
    pods = pods.filter((p) => !isTerminating(p) || now - deletedAt(p) < (scenario.terminationSteps ?? 1));
    let becoming = scenario.readyPerStep ?? Infinity;
    pods = pods.map((p) => {
      if (isTerminating(p) || p.status?.conditions?.[0]?.status === 'True' || becoming <= 0) return p;
      becoming--;
      return {
        ...p,
        status: {
          phase: 'Running',
          conditions: [{ type: 'Ready', status: 'True', last_transition_time: at(now).toISOString() }],
        },
      };
    });

    const planned = plan(d, pods, at(now));
    d = { ...d, status: planned.status };
    const deleting = new Set(planned.delete.map((p) => p.metadata.name));
    pods = pods.map((p) =>
      deleting.has(p.metadata.name) ? { ...p, metadata: { ...p.metadata, deletionTimestamp: at(now) } } : p,
    );
    for (let i = 0; i < planned.create; i++) pods.push(pod({ hash: V2, createdAt: now }));

    const available = pods.filter(
      (p) => !isTerminating(p) && isAvailable(p, minReady, at(now).getTime()),
    ).length;
    peak = Math.max(peak, pods.length);
    lowest = Math.min(lowest, available);
    assert.ok(
      pods.length <= R + scenario.surge,
      `step ${step}: ${pods.length} pods exist (terminating included), more than ${R} + ${scenario.surge}`,
    );
    assert.ok(
      available >= R - scenario.unavailable,
      `step ${step}: ${available} available, fewer than ${R} - ${scenario.unavailable}`,
    );

    const done =
      pods.length === R &&
      pods.every(
        (p) => templateHashOf(p) === V2 && !isTerminating(p) && isAvailable(p, minReady, at(now).getTime()),
      );
    if (done && planned.create === 0 && planned.delete.length === 0) return { steps: step, peak, lowest };
  }
  assert.fail(`the rollout did not finish: ${JSON.stringify(scenario)}`);
}

describe('rolling update', () => {
  const scenarios: Scenario[] = [
    { replicas: 3, surge: 1, unavailable: 0 }, // defaults: 25% of 3 → surge 1 (up), unavailable 0 (down)
    { replicas: 3, maxSurge: 1, maxUnavailable: 0, surge: 1, unavailable: 0 },
    { replicas: 3, maxSurge: 0, maxUnavailable: 1, surge: 0, unavailable: 1 },
    { replicas: 3, maxSurge: 1, maxUnavailable: 1, surge: 1, unavailable: 1 },
    { replicas: 10, surge: 3, unavailable: 2 },
    { replicas: 10, maxSurge: '50%', maxUnavailable: '10%', surge: 5, unavailable: 1 },
    { replicas: 4, maxSurge: '0%', maxUnavailable: '50%', surge: 0, unavailable: 2 },
    { replicas: 5, maxSurge: 5, maxUnavailable: 0, surge: 5, unavailable: 0 },
    { replicas: 5, maxSurge: 0, maxUnavailable: '100%', surge: 0, unavailable: 5 },
    { replicas: 1, surge: 1, unavailable: 0 },
    { replicas: 1, maxSurge: 0, maxUnavailable: '25%', surge: 0, unavailable: 1 }, // both 0: one may go
    { replicas: 2, maxSurge: '1%', maxUnavailable: '1%', surge: 1, unavailable: 0 },
    { replicas: 6, maxSurge: 2, maxUnavailable: 2, surge: 2, unavailable: 2, readyPerStep: 1 },
    { replicas: 6, maxSurge: 1, maxUnavailable: 0, surge: 1, unavailable: 0, terminationSteps: 3 },
    {
      replicas: 6,
      maxSurge: 0,
      maxUnavailable: 2,
      surge: 0,
      unavailable: 2,
      terminationSteps: 4,
      readyPerStep: 1,
    },
    { replicas: 4, maxSurge: 1, maxUnavailable: 1, surge: 1, unavailable: 1, minReadySeconds: 3 },
  ];
  for (const scenario of scenarios) {
    const { replicas, maxSurge, maxUnavailable, readyPerStep, terminationSteps, minReadySeconds } = scenario;
    const label = [
      `${replicas} replicas`,
      `max_surge ${maxSurge ?? 'default'}`,
      `max_unavailable ${maxUnavailable ?? 'default'}`,
      readyPerStep ? `${readyPerStep} ready per step` : '',
      terminationSteps ? `${terminationSteps}-step termination` : '',
      minReadySeconds ? `min_ready_seconds ${minReadySeconds}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    test(`${label}: stays within the limits at every step and finishes`, () => {
      const { peak, lowest } = simulateRollingUpdate(scenario);
      // The limits are used, not just respected: the rollout goes as fast as they allow.
      if (scenario.surge > 0) assert.equal(peak, replicas + scenario.surge);
      if (scenario.surge === 0) assert.equal(lowest, replicas - scenario.unavailable);
    });
  }

  test('the first step of a surge-only rollout creates new pods and deletes nothing', () => {
    const d = deployment({
      template: template('v2'),
      strategy: { type: 'rolling_update', rolling_update: { max_surge: 2, max_unavailable: 0 } },
    });
    const planned = plan(d, readyPods(3), at(0));
    assert.equal(planned.create, 2);
    assert.deepEqual(planned.delete, []);
  });

  test('old pods go unavailable ones first, then the oldest', () => {
    const d = deployment({
      template: template('v2'),
      strategy: { type: 'rolling_update', rolling_update: { max_surge: 1, max_unavailable: 0 } },
    });
    const oldest = pod({ hash: V1, createdAt: -900, readyAt: -800 });
    const middle = pod({ hash: V1, createdAt: -800, readyAt: -700 });
    const young = pod({ hash: V1, createdAt: -700, readyAt: -650 });
    const broken = pod({ hash: V1, createdAt: -100 });
    const fresh = pod({ hash: V2, createdAt: -5, readyAt: -1 });
    assert.deepEqual(plan(d, [oldest, middle, broken, fresh], at(0)).delete, [broken]);
    assert.deepEqual(plan(d, [middle, young, oldest, fresh], at(0)).delete, [oldest]);
  });

  test('a new pod not yet available holds back the deletion of old ones, even broken ones (as in Kubernetes)', () => {
    const d = deployment({
      template: template('v2'),
      strategy: { type: 'rolling_update', rolling_update: { max_surge: 1, max_unavailable: 0 } },
    });
    const planned = plan(d, [...readyPods(3), pod({ hash: V2, createdAt: -1 })], at(0));
    assert.equal(planned.create, 0);
    assert.deepEqual(planned.delete, []);
    const withBroken = [
      ...readyPods(2),
      pod({ hash: V1, createdAt: -100 }),
      pod({ hash: V2, createdAt: -1 }),
    ];
    assert.deepEqual(plan(d, withBroken, at(0)).delete, []);
  });

  test('pods still terminating count against max_surge: no new pod until they are gone', () => {
    const d = deployment({
      template: template('v2'),
      strategy: { type: 'rolling_update', rolling_update: { max_surge: 1, max_unavailable: 0 } },
    });
    const pods = [
      ...readyPods(2, 'v1'),
      ...readyPods(1, 'v2'),
      pod({ hash: V1, readyAt: -600, deletedAt: -1 }),
    ];
    assert.equal(plan(d, pods, at(0)).create, 0);
    assert.equal(plan(d, pods.slice(0, 3), at(0)).create, 1);
  });

  test('scaling down in the middle of a rollout deletes surplus new pods', () => {
    const d = deployment({ replicas: 2, template: template('v2') });
    const surplus = readyPods(3, 'v2');
    const planned = plan(d, [...readyPods(1, 'v1'), ...surplus], at(0));
    assert.equal(planned.create, 0);
    assert.equal(planned.delete.length, 1);
    assert.equal(templateHashOf(planned.delete[0] as SeerPod), V2);
  });

  test('a failed old pod is deleted without counting against availability', () => {
    const d = deployment({
      template: template('v2'),
      strategy: { type: 'rolling_update', rolling_update: { max_surge: 0, max_unavailable: 1 } },
    });
    const failed = pod({ hash: V1, readyAt: -600, phase: 'Failed' });
    const planned = plan(d, [...readyPods(3, 'v1'), failed], at(0));
    assert.ok(planned.delete.includes(failed));
    assert.equal(planned.delete.length, 2, 'the failed pod and one old pod (max_unavailable 1)');
  });
});

describe('min_ready_seconds', () => {
  const d = deployment({
    template: template('v2'),
    min_ready_seconds: 30,
    strategy: { type: 'rolling_update', rolling_update: { max_surge: 1, max_unavailable: 0 } },
  });

  test('a new pod ready for less than min_ready_seconds is not available yet: old pods stay', () => {
    const pods = [...readyPods(3, 'v1'), pod({ hash: V2, createdAt: -20, readyAt: -10 })];
    const planned = plan(d, pods, at(0));
    assert.deepEqual(planned.delete, []);
    assert.equal(planned.status.ready_replicas, 4);
    assert.equal(planned.status.available_replicas, 3);
    assert.equal(planned.recheckAfterMs, 20_000, 'planned again when it becomes available');
  });

  test('once ready for min_ready_seconds it is available and an old pod goes', () => {
    const pods = [...readyPods(3, 'v1'), pod({ hash: V2, createdAt: -40, readyAt: -30 })];
    const planned = plan(d, pods, at(0));
    assert.equal(planned.delete.length, 1);
    assert.equal(planned.status.available_replicas, 4);
  });

  test('a ready pod that does not say since when is never available', () => {
    const unknown = pod({ hash: V1, readyAt: -600 });
    delete unknown.status?.conditions?.[0]?.last_transition_time;
    const planned = plan(deployment({ min_ready_seconds: 5, replicas: 1 }), [unknown], at(0));
    assert.equal(planned.status.ready_replicas, 1);
    assert.equal(planned.status.available_replicas, 0);
  });
});

describe('recreate', () => {
  const d = deployment({ replicas: 3, template: template('v2'), strategy: { type: 'recreate' } });

  test('deletes every old pod first and creates nothing', () => {
    const old = readyPods(3, 'v1');
    const planned = plan(d, old, at(0));
    assert.equal(planned.create, 0);
    assert.deepEqual(names(planned.delete), names(old));
  });

  test('waits while any old pod is still terminating', () => {
    const planned = plan(d, [pod({ hash: V1, readyAt: -600, deletedAt: -1 })], at(0));
    assert.equal(planned.create, 0);
    assert.deepEqual(planned.delete, []);
  });

  test('creates the new pods once no old one is left', () => {
    assert.equal(plan(d, [], at(0)).create, 3);
  });

  test('keeps scaling like a ReplicaSet once rolled out', () => {
    assert.equal(plan({ ...d, spec: { ...d.spec, replicas: 5 } }, readyPods(3, 'v2'), at(0)).create, 2);
  });

  test('never has old and new pods at the same time', () => {
    let pods = readyPods(3, 'v1');
    for (let now = 1; now < 20; now++) {
      pods = pods.filter((p) => !isTerminating(p)); // termination completes in a step
      const planned = plan(d, pods, at(now));
      const deleting = new Set(planned.delete.map((p) => p.metadata.name));
      pods = pods.map((p) =>
        deleting.has(p.metadata.name) ? { ...p, metadata: { ...p.metadata, deletionTimestamp: at(now) } } : p,
      );
      for (let i = 0; i < planned.create; i++) pods.push(pod({ hash: V2, createdAt: now, readyAt: now }));
      const hashes = new Set(pods.map(templateHashOf));
      assert.ok(hashes.size <= 1, `step ${now}: old and new pods together`);
    }
    assert.deepEqual(new Set(pods.map(templateHashOf)), new Set([V2]));
    assert.equal(pods.length, 3);
  });
});

describe('paused', () => {
  const paused = deployment({ replicas: 3, template: template('v2'), paused: true });

  test('a changed template is not rolled out', () => {
    const planned = plan(paused, readyPods(3, 'v1'), at(0), { targetHash: V1 });
    assert.equal(planned.create, 0);
    assert.deepEqual(planned.delete, []);
    assert.equal(planned.status.updated_replicas, 0, 'no pod runs the spec template');
  });

  test('scaling up adds pods of the target template (the last rolled out), counting every pod', () => {
    const pods = [...readyPods(2, 'v1'), ...readyPods(1, 'v2')];
    const planned = plan({ ...paused, spec: { ...paused.spec, replicas: 5 } }, pods, at(0), {
      targetHash: V1,
    });
    assert.equal(planned.create, 2);
  });

  test('scaling down deletes unready pods first, then the newest, whatever their template', () => {
    const unready = pod({ hash: V1, createdAt: -5 });
    const newest = pod({ hash: V2, createdAt: -50, readyAt: -600 });
    const pods = [...readyPods(2, 'v1'), newest, unready];
    const planned = plan({ ...paused, spec: { ...paused.spec, replicas: 2 } }, pods, at(0), {
      targetHash: V1,
    });
    assert.deepEqual(planned.delete, [unready, newest]);
  });

  test('failed pods are still replaced', () => {
    const failed = pod({ hash: V1, readyAt: -600, phase: 'Failed' });
    const planned = plan(paused, [...readyPods(2, 'v1'), failed], at(0), { targetHash: V1 });
    assert.deepEqual(planned.delete, [failed]);
    assert.equal(planned.create, 1);
  });
});

describe('pod selection is the caller’s: the planner counts what it is given', () => {
  test('pods without a template hash label are old pods, replaced by a rollout', () => {
    const adopted = pod({ hash: V1, readyAt: -600 });
    delete adopted.metadata.labels?.['seer.io/template-hash'];
    const planned = plan(deployment({ replicas: 1, strategy: { type: 'recreate' } }), [adopted], at(0));
    assert.deepEqual(planned.delete, [adopted]);
  });
});
