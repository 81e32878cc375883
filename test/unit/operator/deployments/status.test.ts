import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Condition, SeerDeployment, SeerDeploymentStatus } from '../../../../api/types.js';
import { transition } from '../../../../api/conditions.js';
import { madeProgress, observeStatus } from '../../../../operator/deployments/status.js';
import { templateHash } from '../../../../workloads/template-hash.js';
import { at, deployment, pod, readyPods, template } from './fixtures.js';

const V1 = templateHash(template('v1'));
const V2 = templateHash(template('v2'));

const condition = (status: SeerDeploymentStatus, type: string) =>
  status.conditions?.find((c) => c.type === type);
const withStatus = (d: SeerDeployment, status: SeerDeploymentStatus): SeerDeployment => ({ ...d, status });

describe('status counts', () => {
  test('replicas, ready, updated, available and unavailable, from the pods', () => {
    const d = deployment({ replicas: 4, template: template('v2'), min_ready_seconds: 60 });
    const pods = [
      ...readyPods(2, 'v1'), // ready for 600 s: available
      pod({ hash: V2, createdAt: -30, readyAt: -20 }), // ready, not yet available
      pod({ hash: V2, createdAt: -10 }), // not ready
      pod({ hash: V2, readyAt: -600, deletedAt: -1 }), // terminating: not counted
      pod({ hash: V2, readyAt: -600, phase: 'Failed' }), // finished: not counted
    ];
    const { status } = observeStatus({ ...d, metadata: { ...d.metadata, generation: 7 } }, pods, V2, at(0));
    assert.equal(status.observed_generation, 7);
    assert.equal(status.replicas, 4);
    assert.equal(status.ready_replicas, 3);
    assert.equal(status.updated_replicas, 2);
    assert.equal(status.available_replicas, 2);
    assert.equal(status.unavailable_replicas, 2);
  });

  test('unavailable never goes below zero when there are more pods than wanted', () => {
    const { status } = observeStatus(deployment({ replicas: 1 }), readyPods(3), V1, at(0));
    assert.equal(status.unavailable_replicas, 0);
  });

  test('the selector is the deployment label, plus spec.selector when set', () => {
    assert.equal(observeStatus(deployment(), [], V1, at(0)).status.selector, 'seer.io/deployment=web');
    const selected = deployment({ selector: { match_labels: { tier: 'front', app: 'web' } } });
    assert.equal(
      observeStatus(selected, [], V1, at(0)).status.selector,
      'seer.io/deployment=web,app=web,tier=front',
    );
  });

  test('the collision count is kept', () => {
    const d = withStatus(deployment(), { collision_count: 2 });
    assert.equal(observeStatus(d, [], V1, at(0)).status.collision_count, 2);
  });
});

describe('the Available condition', () => {
  test('True with MinimumReplicasAvailable when available ≥ replicas − max_unavailable', () => {
    const d = deployment({
      replicas: 4,
      strategy: { type: 'rolling_update', rolling_update: { max_surge: 1, max_unavailable: 1 } },
    });
    const available = condition(observeStatus(d, readyPods(3), V1, at(0)).status, 'Available');
    assert.equal(available?.status, 'True');
    assert.equal(available?.reason, 'MinimumReplicasAvailable');
    const missing = condition(observeStatus(d, readyPods(2), V1, at(0)).status, 'Available');
    assert.equal(missing?.status, 'False');
    assert.equal(missing?.reason, 'MinimumReplicasUnavailable');
  });

  test('recreate needs every replica available', () => {
    const d = deployment({ replicas: 4, strategy: { type: 'recreate' } });
    assert.equal(condition(observeStatus(d, readyPods(3), V1, at(0)).status, 'Available')?.status, 'False');
    assert.equal(condition(observeStatus(d, readyPods(4), V1, at(0)).status, 'Available')?.status, 'True');
  });

  test('keeps its last_transition_time while its status holds, and changes it when the status does', () => {
    const d = deployment({ replicas: 2, strategy: { type: 'recreate' } });
    const first = observeStatus(d, readyPods(2), V1, at(0)).status;
    const second = observeStatus(withStatus(d, first), readyPods(2), V1, at(50)).status;
    assert.equal(condition(second, 'Available')?.last_transition_time, at(0).toISOString());
    const third = observeStatus(withStatus(d, second), readyPods(1), V1, at(90)).status;
    assert.equal(condition(third, 'Available')?.last_transition_time, at(90).toISOString());
  });
});

describe('the Progressing condition', () => {
  test('NewTemplateAvailable once every replica runs the template and is available', () => {
    const { status } = observeStatus(deployment(), readyPods(3), V1, at(0));
    const progressing = condition(status, 'Progressing');
    assert.equal(progressing?.status, 'True');
    assert.equal(progressing?.reason, 'NewTemplateAvailable');
  });

  test('TemplateUpdated while a new deployment comes up, and a recheck at its deadline', () => {
    const d = deployment({ progress_deadline_seconds: 120 });
    const pods = [pod({ hash: V1, createdAt: -10 })];
    const first = observeStatus(d, pods, V1, at(-10)).status;
    assert.equal(condition(first, 'Progressing')?.reason, 'TemplateUpdated');
    const observed = observeStatus(withStatus(d, first), pods, V1, at(0));
    const progressing = condition(observed.status, 'Progressing');
    assert.equal(progressing?.status, 'True');
    assert.equal(progressing?.reason, 'TemplateUpdated');
    assert.equal(observed.recheckAfterMs, 110_000, 'the deadline counts from the last progress');
  });

  test('ProgressDeadlineExceeded once the rollout has not moved for progress_deadline_seconds', () => {
    const d = deployment({ template: template('v2'), progress_deadline_seconds: 60 });
    const pods = [...readyPods(3, 'v1'), pod({ hash: V2, createdAt: -61 })];
    const previous = observeStatus(d, pods, V2, at(-61)).status;
    const { status } = observeStatus(withStatus(d, previous), pods, V2, at(0));
    const progressing = condition(status, 'Progressing');
    assert.equal(progressing?.status, 'False');
    assert.equal(progressing?.reason, 'ProgressDeadlineExceeded');
    assert.equal(progressing?.last_transition_time, at(0).toISOString());
  });

  test('progress after the deadline makes it True again', () => {
    const d = deployment({ template: template('v2'), progress_deadline_seconds: 60 });
    const stalled = [...readyPods(3, 'v1'), pod({ hash: V2, createdAt: -200 })];
    const exceeded = observeStatus(
      withStatus(d, {
        updated_replicas: 1,
        replicas: 4,
        ready_replicas: 3,
        available_replicas: 3,
        conditions: [
          {
            type: 'Progressing',
            status: 'True',
            reason: 'TemplateUpdated',
            last_transition_time: at(-300).toISOString(),
          },
        ],
      }),
      stalled,
      V2,
      at(0),
    ).status;
    assert.equal(condition(exceeded, 'Progressing')?.reason, 'ProgressDeadlineExceeded');
    const moving = [...readyPods(3, 'v1'), pod({ hash: V2, createdAt: -200, readyAt: 5 })];
    const resumed = condition(
      observeStatus(withStatus(d, exceeded), moving, V2, at(10)).status,
      'Progressing',
    );
    assert.equal(resumed?.status, 'True');
    assert.equal(resumed?.reason, 'TemplateUpdated');
  });

  test('a completed deployment that loses a pod stays NewTemplateAvailable: that is not a stalled rollout', () => {
    const d = deployment({ progress_deadline_seconds: 60 });
    const complete = observeStatus(d, readyPods(3), V1, at(-3600)).status;
    const { status } = observeStatus(withStatus(d, complete), readyPods(2), V1, at(0));
    const progressing = condition(status, 'Progressing');
    assert.equal(progressing?.reason, 'NewTemplateAvailable');
    assert.equal(progressing?.last_transition_time, at(-3600).toISOString());
  });

  test('a new template after a completed rollout turns it TemplateUpdated as soon as new pods appear', () => {
    const d = deployment({ template: template('v2'), progress_deadline_seconds: 60 });
    const complete = observeStatus(deployment(), readyPods(3), V1, at(-3600)).status;
    // Seen before any new pod exists: nothing has moved yet.
    const noNewPod = observeStatus(withStatus(d, complete), readyPods(3), V2, at(0)).status;
    assert.equal(condition(noNewPod, 'Progressing')?.reason, 'NewTemplateAvailable');
    const withNewPod = [...readyPods(3), pod({ hash: V2, createdAt: 1 })];
    const moving = observeStatus(withStatus(d, noNewPod), withNewPod, V2, at(2)).status;
    const progressing = condition(moving, 'Progressing');
    assert.equal(progressing?.status, 'True');
    assert.equal(progressing?.reason, 'TemplateUpdated', 'not timed out by the hour since the last rollout');
  });

  test('Unknown with DeploymentPaused while paused', () => {
    const { status } = observeStatus(
      deployment({ paused: true, template: template('v2') }),
      readyPods(3),
      V2,
      at(0),
    );
    const progressing = condition(status, 'Progressing');
    assert.equal(progressing?.status, 'Unknown');
    assert.equal(progressing?.reason, 'DeploymentPaused');
  });

  test('resuming starts the deadline afresh', () => {
    const d = deployment({ template: template('v2'), progress_deadline_seconds: 60 });
    const paused = observeStatus(
      { ...d, spec: { ...d.spec, paused: true } },
      readyPods(3),
      V2,
      at(-3600),
    ).status;
    const observed = observeStatus(withStatus(d, paused), readyPods(3), V2, at(0));
    const progressing = condition(observed.status, 'Progressing');
    assert.equal(progressing?.status, 'True');
    assert.equal(progressing?.reason, 'TemplateUpdated');
    assert.equal(observed.recheckAfterMs, 60_000);
  });
});

test('transition keeps last_transition_time only while the status is unchanged', () => {
  const previous: Condition<'Available'>[] = [
    { type: 'Available', status: 'True', reason: 'A', last_transition_time: at(-5).toISOString() },
  ];
  const same = transition(previous, { type: 'Available', status: 'True', reason: 'B' }, at(0));
  assert.equal(same.last_transition_time, at(-5).toISOString());
  assert.equal(same.reason, 'B');
  const changed = transition(previous, { type: 'Available', status: 'False' }, at(0));
  assert.equal(changed.last_transition_time, at(0).toISOString());
});

test('progress is more updated, ready or available replicas, or fewer old ones', () => {
  const before = { replicas: 4, updated_replicas: 1, ready_replicas: 3, available_replicas: 3 };
  assert.equal(madeProgress(before, before), false);
  assert.equal(madeProgress(before, { ...before, updated_replicas: 2, replicas: 5 }), true);
  assert.equal(madeProgress(before, { ...before, ready_replicas: 4 }), true);
  assert.equal(madeProgress(before, { ...before, available_replicas: 4 }), true);
  assert.equal(madeProgress(before, { ...before, replicas: 3 }), true);
  assert.equal(madeProgress(before, { ...before, ready_replicas: 2, available_replicas: 2 }), false);
});
