import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestartBackoff } from '../../../agent/process/backoff.js';

test('the first restart is immediate, then the delay doubles from initialMs up to maxMs', () => {
  const backoff = new RestartBackoff({ initialMs: 100, maxMs: 1000, resetAfterMs: 60_000 });
  const delays = Array.from({ length: 7 }, () => backoff.next(10));
  assert.deepEqual(delays, [0, 100, 200, 400, 800, 1000, 1000]);
});

test('a run of at least resetAfterMs starts the sequence again; an unknown run length does not', () => {
  const backoff = new RestartBackoff({ initialMs: 100, maxMs: 1000, resetAfterMs: 5000 });
  backoff.next(10);
  backoff.next(10);
  assert.equal(backoff.next(undefined), 200);
  assert.equal(backoff.next(4999), 400);
  assert.equal(backoff.next(5000), 0);
  assert.equal(backoff.next(10), 100);
});

test('a persisted failure count continues the sequence; a huge count stays at the cap', () => {
  assert.equal(new RestartBackoff({ initialMs: 100, maxMs: 30_000, resetAfterMs: 60_000 }, 3).next(1), 400);
  assert.equal(
    new RestartBackoff({ initialMs: 100, maxMs: 30_000, resetAfterMs: 60_000 }, 5000).next(1),
    30_000,
  );
});
