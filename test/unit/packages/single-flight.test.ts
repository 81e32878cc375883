import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SingleFlight } from '../../../packages/single-flight.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  test('one run per key while it is in flight, a new one afterwards', async () => {
    const flights = new SingleFlight<number>();
    let runs = 0;
    const gate = deferred<void>();
    const work = async () => {
      runs += 1;
      await gate.promise;
      return runs;
    };
    const all = Promise.all([flights.run('a', work), flights.run('a', work), flights.run('b', work)]);
    gate.resolve();
    assert.deepEqual(await all, [2, 2, 2]);
    assert.equal(flights.size, 0);
    assert.equal(await flights.run('a', work), 3);
  });

  test('every waiter gets the failure', async () => {
    const flights = new SingleFlight<number>();
    const work = async () => {
      throw new Error('boom');
    };
    const results = await Promise.allSettled([flights.run('k', work), flights.run('k', work)]);
    assert.deepEqual(
      results.map((r) => r.status === 'rejected' && (r.reason as Error).message),
      ['boom', 'boom'],
    );
  });

  test('an aborting waiter leaves; the work is aborted only when the last one leaves', async () => {
    const flights = new SingleFlight<string>();
    let workSignal: AbortSignal | undefined;
    const gate = deferred<string>();
    const work = (signal: AbortSignal) => {
      workSignal = signal;
      return gate.promise;
    };
    const first = new AbortController();
    const second = new AbortController();
    const a = flights.run('k', work, first.signal);
    const b = flights.run('k', work, second.signal);
    await Promise.resolve();
    first.abort(new Error('first gave up'));
    await assert.rejects(a, /first gave up/);
    assert.equal(workSignal?.aborted, false);
    second.abort(new Error('second gave up'));
    await assert.rejects(b, /second gave up/);
    assert.equal(workSignal?.aborted, true);
    assert.equal(flights.size, 0, 'a new caller starts afresh');
    gate.reject(new Error('aborted work failing later is not an unhandled rejection'));
  });

  test('an already aborted signal never starts the work', async () => {
    const flights = new SingleFlight<number>();
    let started = false;
    await assert.rejects(
      flights.run(
        'k',
        async () => {
          started = true;
          return 1;
        },
        AbortSignal.abort(new Error('too late')),
      ),
      /too late/,
    );
    assert.equal(started, false);
  });
});
