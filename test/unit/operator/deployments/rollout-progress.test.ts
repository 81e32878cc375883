import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SeerDeploymentStatus } from '../../../../api/types.js';
import { parseDuration } from '../../../../cli/duration.js';
import { parseResource, parseTarget } from '../../../../cli/commands/rollout.js';
import { UsageError } from '../../../../cli/command.js';
import { rolloutProgress } from '../../../../workloads/rollout-progress.js';
import { deployment } from './fixtures.js';

function progress(status: SeerDeploymentStatus, generation = 2) {
  const d = deployment({ replicas: 3 });
  return rolloutProgress({ ...d, metadata: { ...d.metadata, generation }, status });
}

const counts = { observed_generation: 2, replicas: 3, updated_replicas: 3, available_replicas: 3 };

test('rollout progress reads like kubectl rollout status', () => {
  assert.deepEqual(progress({ ...counts, observed_generation: 1 }), {
    state: 'waiting',
    message: 'Waiting for deployment spec update to be observed...',
  });
  assert.deepEqual(progress({ ...counts, updated_replicas: 1, replicas: 4 }), {
    state: 'waiting',
    message: 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
  });
  assert.deepEqual(progress({ ...counts, replicas: 5 }), {
    state: 'waiting',
    message: 'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...',
  });
  assert.deepEqual(progress({ ...counts, available_replicas: 2 }), {
    state: 'waiting',
    message: 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
  });
  assert.deepEqual(progress(counts), { state: 'done', message: 'deployment "web" successfully rolled out' });
});

test('a rollout past its progress deadline has failed', () => {
  const status = {
    ...counts,
    available_replicas: 1,
    conditions: [
      { type: 'Progressing' as const, status: 'False' as const, reason: 'ProgressDeadlineExceeded' },
    ],
  };
  assert.deepEqual(progress(status), {
    state: 'failed',
    message: 'deployment "web" exceeded its progress deadline',
  });
});

test('seer rollout names a seerdeployment by any of its names', () => {
  for (const form of [
    'seerdeployment/web',
    'sdeploy/web',
    'seerdeployments/web',
    'seerdeployment.seer.io/web',
  ]) {
    assert.equal(parseResource([form]), 'web', form);
  }
  assert.equal(parseResource(['sdeploy', 'web']), 'web');
  for (const form of ['seerdaemonset/logs', 'sds/logs', 'seerdaemonsets.seer.io/logs']) {
    assert.deepEqual(parseTarget([form]), { kind: 'SeerDaemonSet', name: 'logs' }, form);
  }
  for (const form of ['seerstatefulset/db', 'ssts/db', 'seerstatefulsets.seer.io/db']) {
    assert.deepEqual(parseTarget([form]), { kind: 'SeerStatefulSet', name: 'db' }, form);
  }
  assert.deepEqual(parseTarget(['sdeploy/web']), { kind: 'SeerDeployment', name: 'web' });
  for (const bad of [
    ['deployment/web'],
    ['web'],
    [],
    ['sdeploy/web', 'extra'],
    ['sdeploy/a/b'],
    ['sdeploy/'],
  ]) {
    assert.throws(() => parseResource(bad), UsageError, JSON.stringify(bad));
  }
});

test('timeouts are Go durations or seconds', () => {
  assert.equal(parseDuration('5m', '--timeout'), 300_000);
  assert.equal(parseDuration('1h30m', '--timeout'), 5_400_000);
  assert.equal(parseDuration('90s', '--timeout'), 90_000);
  assert.equal(parseDuration('250ms', '--timeout'), 250);
  assert.equal(parseDuration('120', '--timeout'), 120_000);
  assert.equal(parseDuration('0', '--timeout'), 0);
  for (const bad of ['5 m', 'soon', '5m!', ''])
    assert.throws(() => parseDuration(bad, '--timeout'), UsageError, bad);
});
