import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SeerDeploymentSpec } from '../../../../api/types.js';
import { canaryCount } from '../../../../operator/deployments/canary-plan.js';
import { plan } from '../../../../operator/deployments/rollout-plan.js';
import { rolloutProgress } from '../../../../workloads/rollout-progress.js';
import { templateHash } from '../../../../workloads/template-hash.js';
import { at, deployment, pod, readyPods, template } from './fixtures.js';

const V1 = templateHash(template('v1'));
const V2 = templateHash(template('v2'));

function canary(canarySpec: NonNullable<SeerDeploymentSpec['strategy']>['canary'], replicas = 3) {
  return deployment({
    replicas,
    template: template('v2'),
    strategy: { type: 'canary', canary: canarySpec },
  });
}

describe('canary counts', () => {
  test('replicas is taken as it is, at most the deployment replicas', () => {
    assert.equal(canaryCount(canary({ replicas: 1 }).spec), 1);
    assert.equal(canaryCount(canary({ replicas: 5 }).spec), 3);
    assert.equal(canaryCount(canary({}).spec), 1);
  });

  test('percent of replicas is rounded up', () => {
    assert.equal(canaryCount(canary({ percent: 10 }, 3).spec), 1);
    assert.equal(canaryCount(canary({ percent: 50 }, 3).spec), 2);
    assert.equal(canaryCount(canary({ percent: 25 }, 8).spec), 2);
    assert.equal(canaryCount(canary({ percent: 100 }, 4).spec), 4);
  });
});

describe('canary rollout', () => {
  test('a new template gets the canary pods first, stable ones stay', () => {
    const planned = plan(canary({ replicas: 1 }), readyPods(3), at(0), { stableHash: V1 });
    assert.equal(planned.create, 1);
    assert.deepEqual(planned.delete, []);
    assert.equal(planned.status.stable_template_hash, V1);
  });

  test('once the canary pod is available one stable pod goes, and the rollout waits for promotion', () => {
    const pods = [...readyPods(3), pod({ hash: V2, createdAt: -60, readyAt: -30 })];
    const planned = plan(canary({ replicas: 1 }), pods, at(0), { stableHash: V1 });
    assert.equal(planned.create, 0);
    assert.equal(planned.delete.length, 1);
    assert.equal(planned.progressive?.waitingForPromotion, true);
    const after = plan(
      canary({ replicas: 1 }),
      pods.filter((p) => p !== planned.delete[0]),
      at(0),
      {
        stableHash: V1,
      },
    );
    assert.equal(after.create, 0);
    assert.deepEqual(after.delete, []);
    const progressing = after.status.conditions?.find((c) => c.type === 'Progressing');
    assert.equal(progressing?.reason, 'WaitingForPromotion');
    assert.equal(progressing?.message, 'waiting for promotion: 1 canary pod ready of 1');
    const d = { ...canary({ replicas: 1 }), status: after.status };
    assert.deepEqual(rolloutProgress(d), {
      state: 'waiting',
      message: 'waiting for promotion: 1 canary pod ready of 1',
    });
  });

  test('an unready canary pod holds the stable ones', () => {
    const pods = [...readyPods(3), pod({ hash: V2, createdAt: -60 })];
    const planned = plan(canary({ replicas: 1 }), pods, at(0), { stableHash: V1 });
    assert.deepEqual(planned.delete, []);
    assert.equal(planned.progressive?.waitingForPromotion, false);
  });

  test('a lost stable pod is replaced from the stable template while waiting', () => {
    const pods = [...readyPods(1), pod({ hash: V2, createdAt: -60, readyAt: -30 })];
    const planned = plan(canary({ replicas: 1 }), pods, at(0), { stableHash: V1 });
    assert.equal(planned.createStable, 1);
    assert.equal(planned.create, 0);
  });

  test('promoted, it goes on as a rolling update to the whole new template', () => {
    const pods = [...readyPods(2), pod({ hash: V2, createdAt: -60, readyAt: -30 })];
    const planned = plan(canary({ replicas: 1 }), pods, at(0), { stableHash: V1, promoted: true });
    assert.equal(planned.create, 1);
    assert.equal(planned.progressive, undefined);
    const done = plan(canary({ replicas: 1 }), readyPods(3, 'v2'), at(0), { stableHash: V1, promoted: true });
    assert.equal(done.status.stable_template_hash, V2);
  });

  test('auto_promote asks for promotion once every canary pod is available', () => {
    const pods = [...readyPods(2), pod({ hash: V2, createdAt: -60, readyAt: -30 })];
    const planned = plan(canary({ replicas: 1, auto_promote: true }), pods, at(0), { stableHash: V1 });
    assert.equal(planned.progressive?.promote, true);
    const manual = plan(canary({ replicas: 1 }), pods, at(0), { stableHash: V1 });
    assert.equal(manual.progressive?.promote, false);
  });

  test('auto_revert after the progress deadline with canary pods not ready', () => {
    const spec = { ...canary({ replicas: 1, auto_revert: true }) };
    spec.spec.progress_deadline_seconds = 60;
    const pods = [...readyPods(3), pod({ hash: V2, createdAt: -30 })];
    const early = plan(spec, pods, at(0), { stableHash: V1 });
    assert.equal(early.progressive?.revert, false);
    assert.equal(early.recheckAfterMs !== undefined && early.recheckAfterMs <= 30_000, true);
    const late = plan(spec, pods, at(31), { stableHash: V1 });
    assert.equal(late.progressive?.revert, true);
    const ready = [...readyPods(3), pod({ hash: V2, createdAt: -30, readyAt: -20 })];
    assert.equal(plan(spec, ready, at(31), { stableHash: V1 }).progressive?.revert, false);
  });

  test('aborted (target back at the stable template), the canary pods are removed', () => {
    const d = deployment({ replicas: 3, strategy: { type: 'canary', canary: { replicas: 1 } } });
    const canaryPod = pod({ hash: V2, createdAt: -60, readyAt: -30 });
    const planned = plan(d, [...readyPods(2), canaryPod], at(0), { stableHash: V1 });
    assert.equal(planned.create, 1);
    const next = plan(d, [...readyPods(3), canaryPod], at(0), { stableHash: V1 });
    assert.deepEqual(next.delete, [canaryPod]);
  });

  test('pods of a third template are removed at once', () => {
    const V3 = templateHash(template('v3'));
    const third = pod({ hash: V3, createdAt: -60, readyAt: -30 });
    const planned = plan(canary({ replicas: 1 }), [...readyPods(3), third], at(0), { stableHash: V1 });
    assert.deepEqual(planned.delete, [third]);
    assert.equal(planned.create, 1);
  });
});

describe('blue/green rollout', () => {
  const blueGreen = () =>
    deployment({ replicas: 2, template: template('v2'), strategy: { type: 'blue_green' } });

  test('the new template is scaled up to replicas beside the old one', () => {
    const planned = plan(blueGreen(), readyPods(2), at(0), { stableHash: V1 });
    assert.equal(planned.create, 2);
    assert.deepEqual(planned.delete, []);
    const both = [...readyPods(2), ...readyPods(2, 'v2')];
    const waiting = plan(blueGreen(), both, at(0), { stableHash: V1 });
    assert.equal(waiting.create, 0);
    assert.deepEqual(waiting.delete, []);
    assert.equal(waiting.progressive?.waitingForPromotion, true);
    assert.equal(
      waiting.status.conditions?.find((c) => c.type === 'Progressing')?.message,
      'waiting for promotion: 2 new pods ready of 2',
    );
  });

  test('promoted, the old pods are scaled down', () => {
    const old = readyPods(2);
    const planned = plan(blueGreen(), [...old, ...readyPods(2, 'v2')], at(0), {
      stableHash: V1,
      promoted: true,
    });
    assert.equal(planned.create, 0);
    assert.deepEqual(new Set(planned.delete), new Set(old));
  });

  test('promoted early, the old pods stay until the new ones are available', () => {
    const planned = plan(blueGreen(), [...readyPods(2), pod({ hash: V2 }), pod({ hash: V2 })], at(0), {
      stableHash: V1,
      promoted: true,
    });
    assert.deepEqual(planned.delete, []);
  });
});

describe('rolling_update is unchanged', () => {
  test('no stable hash in its status', () => {
    const planned = plan(deployment({ template: template('v2') }), readyPods(3), at(0));
    assert.equal(planned.status.stable_template_hash, undefined);
    assert.equal(planned.progressive, undefined);
  });
});
