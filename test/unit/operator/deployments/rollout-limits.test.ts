import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  minimumAvailable,
  resolveLimit,
  rollingLimits,
} from '../../../../operator/deployments/rollout-limits.js';
import { template } from './fixtures.js';

test('a limit is a count or a percentage of replicas, surge rounded up and unavailable down', () => {
  assert.equal(resolveLimit(2, 10, true), 2);
  assert.equal(resolveLimit('25%', 10, true), 3);
  assert.equal(resolveLimit('25%', 10, false), 2);
  assert.equal(resolveLimit('100%', 7, false), 7);
  assert.equal(resolveLimit('0%', 7, true), 0);
  assert.equal(resolveLimit(undefined, 4, true), 1, '25% by default');
  assert.throws(() => resolveLimit('lots', 4, true), /neither a number nor a percentage/);
});

test('rolling limits: defaults 25%/25%, never both zero, unavailable at most replicas', () => {
  const spec = (replicas: number, max_surge?: number | string, max_unavailable?: number | string) => ({
    replicas,
    template: template(),
    strategy: {
      type: 'rolling_update' as const,
      rolling_update:
        max_surge === undefined && max_unavailable === undefined ? undefined : { max_surge, max_unavailable },
    },
  });
  assert.deepEqual(rollingLimits(spec(4)), { maxSurge: 1, maxUnavailable: 1 });
  assert.deepEqual(rollingLimits(spec(3)), { maxSurge: 1, maxUnavailable: 0 });
  assert.deepEqual(rollingLimits(spec(1, 0, 0)), { maxSurge: 0, maxUnavailable: 1 });
  assert.deepEqual(rollingLimits(spec(2, '0%', '10%')), { maxSurge: 0, maxUnavailable: 1 });
  assert.deepEqual(rollingLimits(spec(2, 0, 5)), { maxSurge: 0, maxUnavailable: 2 });
  assert.deepEqual(
    rollingLimits({ template: template() }),
    { maxSurge: 1, maxUnavailable: 0 },
    'replicas default to 1',
  );
});

test('the minimum available: replicas − max_unavailable, or every replica for recreate', () => {
  assert.equal(minimumAvailable({ replicas: 8, template: template() }), 6);
  assert.equal(minimumAvailable({ replicas: 8, template: template(), strategy: { type: 'recreate' } }), 8);
  assert.equal(minimumAvailable({ replicas: 0, template: template() }), 0);
});
