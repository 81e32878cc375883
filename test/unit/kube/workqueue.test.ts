import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from '../../../kube/workqueue.js';

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('a key added many times while waiting is reconciled once', async () => {
  const seen: string[] = [];
  const queue = new WorkQueue(async (key) => void seen.push(key), { workers: 1 });
  for (let i = 0; i < 10; i++) queue.add('a');
  queue.add('b');
  queue.start();
  await until(() => seen.length === 2);
  await sleep(20);
  assert.deepEqual(seen, ['a', 'b']);
  await queue.shutDown();
});

test('one key is never reconciled by two workers at once, and an add during its reconcile runs it again', async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  let release!: () => void;
  const firstRun = new Promise<void>((resolve) => (release = resolve));
  const queue = new WorkQueue(
    async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      if (runs === 1) await firstRun;
      active--;
    },
    { workers: 4 },
  );
  queue.start();
  queue.add('k');
  await until(() => runs === 1);
  queue.add('k');
  queue.add('k');
  await sleep(20);
  assert.equal(runs, 1, 'the second add waits for the first reconcile');
  release();
  await until(() => runs === 2);
  await sleep(20);
  assert.equal(runs, 2);
  assert.equal(maxActive, 1);
  await queue.shutDown();
});

test('different keys are reconciled in parallel up to the number of workers', async () => {
  let active = 0;
  let maxActive = 0;
  const queue = new WorkQueue(
    async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(30);
      active--;
    },
    { workers: 3 },
  );
  queue.start();
  for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) queue.add(key);
  await until(() => queue.length === 0 && queue.inFlight === 0);
  assert.equal(maxActive, 3);
  await queue.shutDown();
});

test('a failing key is retried with growing delays and reported to onError', async () => {
  const attempts: number[] = [];
  const errors: string[] = [];
  const queue = new WorkQueue(
    async () => {
      attempts.push(Date.now());
      if (attempts.length < 4) throw new Error(`failure ${attempts.length}`);
    },
    { workers: 1, baseRetryMs: 20, maxRetryMs: 1000, onError: (_key, error) => errors.push(String(error)) },
  );
  queue.start();
  queue.add('k');
  await until(() => attempts.length === 4);
  const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? t));
  assert.equal(errors.length, 3);
  assert.ok((gaps[0] ?? 0) >= 15, `first retry after ~20 ms, got ${gaps[0]}`);
  assert.ok((gaps[2] ?? 0) >= 70, `third retry after ~80 ms, got ${gaps[2]}`);
  await queue.shutDown();
});

test('shutDown waits for the reconcile in flight and drops what is queued', async () => {
  const finished: string[] = [];
  const queue = new WorkQueue(
    async (key) => {
      await sleep(50);
      finished.push(key);
    },
    { workers: 1 },
  );
  queue.start();
  queue.add('a');
  queue.add('b');
  await sleep(10);
  await queue.shutDown();
  assert.deepEqual(finished, ['a']);
  queue.add('c');
  await sleep(60);
  assert.deepEqual(finished, ['a']);
});
