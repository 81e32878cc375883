import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { ApiError, type RequestOptions, type RestClient } from '../../../kube/rest.js';
import {
  LeaderElector,
  type LeaderCallbacks,
  type LeaderElectorOptions,
} from '../../../operator/runtime/leader-election.js';
import { OperatorMetrics } from '../../../operator/runtime/metrics.js';
import { eventually } from '../../support/agent.js';

interface StoredLease {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases';
const LEASE_PATH = `${LEASES}/seer-operator`;
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** The Lease semantics of an API server that matter here: 404, 409 on create and on a stale update. */
class FakeLeaseApi implements Pick<RestClient, 'request'> {
  lease: StoredLease | undefined;
  namespaceExists = true;
  /** While set, every request fails with this status. */
  failWith: number | undefined;
  /** While set, every request hangs until its timeout. */
  hang = false;
  writes = 0;
  /** When (performance.now()) each create of the Lease was attempted. */
  creates: number[] = [];
  private version = 0;

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    await sleep(1);
    if (this.hang) {
      await sleep(options.timeoutMs ?? 30_000);
      throw new Error(`${method} ${path}: timed out`);
    }
    if (this.failWith) throw new ApiError(this.failWith, { message: 'injected failure' });
    const copy = <V>(value: V): V => JSON.parse(JSON.stringify(value)) as V;
    if (method === 'GET' && path === LEASE_PATH) {
      if (!this.lease) throw new ApiError(404, { message: 'leases "seer-operator" not found' });
      return copy(this.lease) as T;
    }
    if (method === 'POST' && path === LEASES) {
      this.creates.push(performance.now());
      if (!this.namespaceExists) throw new ApiError(404, { message: 'namespaces "seer-system" not found' });
      if (this.lease) throw new ApiError(409, { message: 'already exists' });
      return this.store(options.body as StoredLease) as T;
    }
    if (method === 'PUT' && path === LEASE_PATH) {
      const body = options.body as StoredLease;
      if (!this.lease) throw new ApiError(404, { message: 'not found' });
      if (body.metadata.resourceVersion !== this.lease.metadata.resourceVersion)
        throw new ApiError(409, { message: 'the object has been modified' });
      return this.store(body) as T;
    }
    throw new Error(`unexpected ${method} ${path}`);
  }

  /** Writes as someone else would (a test playing another replica). */
  set(spec: NonNullable<StoredLease['spec']>): void {
    this.store({ metadata: { name: 'seer-operator', namespace: 'seer-system' }, spec });
  }

  private store(lease: StoredLease): StoredLease {
    this.writes++;
    this.lease = JSON.parse(JSON.stringify(lease)) as StoredLease;
    this.lease.metadata.resourceVersion = String(++this.version);
    return JSON.parse(JSON.stringify(this.lease)) as StoredLease;
  }
}

const logger = pino({ level: 'silent' });
const electors: LeaderElector[] = [];

afterEach(async () => {
  await Promise.all(electors.splice(0).map((elector) => elector.stop()));
});

/** Short durations so a test sees several renewals and an expiry in about a second. */
function elector(
  api: FakeLeaseApi,
  identity: string,
  metrics?: OperatorMetrics,
  options: Partial<LeaderElectorOptions> = {},
): LeaderElector {
  const created = new LeaderElector({
    rest: api,
    namespace: 'seer-system',
    name: 'seer-operator',
    identity,
    leaseDurationSeconds: 1,
    renewDeadlineSeconds: 0.6,
    retryPeriodSeconds: 0.1,
    logger,
    leaderGauge: metrics?.leader,
    ...options,
  });
  electors.push(created);
  return created;
}

/** Callbacks that record what happened, for assertions. */
function recorder() {
  const seen = {
    started: 0,
    stopped: 0,
    leaders: [] as string[],
    signal: undefined as AbortSignal | undefined,
  };
  const callbacks: LeaderCallbacks = {
    onStartedLeading: (signal) => {
      seen.started++;
      seen.signal = signal;
    },
    onStoppedLeading: () => seen.stopped++,
    onNewLeader: (identity) => seen.leaders.push(identity),
  };
  return { seen, callbacks };
}

test('creates the missing Lease and leads, renewing it every retry period', async () => {
  const api = new FakeLeaseApi();
  const metrics = new OperatorMetrics();
  const a = elector(api, 'a', metrics);
  const { seen, callbacks } = recorder();
  void a.run(callbacks);
  await eventually('a leads', () => a.isLeader, 5000, 10);
  assert.equal(seen.started, 1);
  assert.deepEqual(seen.leaders, ['a']);
  assert.equal((await metrics.leader.get()).values[0]?.value, 1);

  const first = structuredClone(api.lease);
  assert.equal(first?.spec?.holderIdentity, 'a');
  assert.equal(first?.spec?.leaseTransitions, 0);
  assert.equal(first?.spec?.leaseDurationSeconds, 1);
  assert.match(first?.spec?.acquireTime ?? '', MICRO_TIME);
  assert.match(first?.spec?.renewTime ?? '', MICRO_TIME);

  await eventually('a renews', () => api.writes >= 4, 5000, 10);
  assert.equal(api.lease?.spec?.holderIdentity, 'a');
  assert.equal(api.lease?.spec?.acquireTime, first?.spec?.acquireTime);
  assert.notEqual(api.lease?.spec?.renewTime, first?.spec?.renewTime);
  assert.equal(api.lease?.spec?.leaseTransitions, 0);
  assert.equal(seen.started, 1, 'renewing is not a new term');
});

test('a standby waits the lease duration by its own clock, whatever renewTime says', async () => {
  const api = new FakeLeaseApi();
  // A renewTime long past (a skewed or dead holder's clock) must not let a standby in early.
  api.set({
    holderIdentity: 'other',
    leaseDurationSeconds: 1,
    renewTime: '2000-01-01T00:00:00.000000Z',
    leaseTransitions: 4,
  });
  const b = elector(api, 'b');
  const { seen, callbacks } = recorder();
  const started = performance.now();
  void b.run(callbacks);
  await eventually('b takes over', () => b.isLeader, 5000, 10);
  const waited = performance.now() - started;
  assert.ok(waited >= 1000, `took over after ${Math.round(waited)} ms, before the lease duration`);
  assert.deepEqual(seen.leaders, ['other', 'b']);
  assert.equal(api.lease?.spec?.holderIdentity, 'b');
  assert.equal(api.lease?.spec?.leaseTransitions, 5);
});

test('a standby never takes a Lease its holder keeps renewing', async () => {
  const api = new FakeLeaseApi();
  const renewing = setInterval(
    () =>
      api.set({ holderIdentity: 'other', leaseDurationSeconds: 1, renewTime: '2000-01-01T00:00:00.000000Z' }),
    200,
  );
  try {
    api.set({ holderIdentity: 'other', leaseDurationSeconds: 1 });
    const b = elector(api, 'b');
    void b.run(recorder().callbacks);
    const until = performance.now() + 2500;
    while (performance.now() < until) {
      assert.equal(b.isLeader, false);
      await sleep(20);
    }
  } finally {
    clearInterval(renewing);
  }
});

test('a leader that sees another holder stops at once and aborts its signal', async () => {
  const api = new FakeLeaseApi();
  const a = elector(api, 'a');
  const { seen, callbacks } = recorder();
  void a.run(callbacks);
  await eventually('a leads', () => a.isLeader, 5000, 10);
  const signal = seen.signal;
  assert.equal(signal?.aborted, false);

  api.set({ holderIdentity: 'intruder', leaseDurationSeconds: 1, leaseTransitions: 1 });
  const takenAt = performance.now();
  await eventually('a stops leading', () => !a.isLeader, 5000, 5);
  // Well before the renew deadline: the leader reacted to the new holder, not to failing renewals.
  assert.ok(performance.now() - takenAt < 400, 'stopped within a few retry periods');
  assert.equal(signal?.aborted, true);
  assert.equal(seen.stopped, 1);
  assert.equal(api.lease?.spec?.holderIdentity, 'intruder', 'the intruder’s lease was not overwritten');
});

test('a leader whose renewals fail stops at the renew deadline, not before', async () => {
  const api = new FakeLeaseApi();
  const metrics = new OperatorMetrics();
  const a = elector(api, 'a', metrics);
  const { seen, callbacks } = recorder();
  void a.run(callbacks);
  await eventually('a leads', () => a.isLeader, 5000, 10);

  api.failWith = 500;
  const failingFrom = performance.now();
  await eventually('a stops leading', () => !a.isLeader, 5000, 5);
  const led = performance.now() - failingFrom;
  // The last renewal succeeded at most one retry period before the failures began.
  assert.ok(led >= 600 - 100 - 20, `stopped after ${Math.round(led)} ms of failures`);
  assert.ok(led < 1000, `still leading ${Math.round(led)} ms after renewals began failing`);
  assert.equal(seen.signal?.aborted, true);
  assert.equal(seen.stopped, 1);
  assert.equal((await metrics.leader.get()).values[0]?.value, 0);

  // Once the API server answers again the Lease is still its own, so it leads a new term.
  api.failWith = undefined;
  await eventually('a leads again', () => a.isLeader, 5000, 10);
  assert.equal(seen.started, 2);
});

test('a renewal that hangs does not extend the term past the renew deadline', async () => {
  const api = new FakeLeaseApi();
  const a = elector(api, 'a');
  const { seen, callbacks } = recorder();
  void a.run(callbacks);
  await eventually('a leads', () => a.isLeader, 5000, 10);

  api.hang = true;
  const hangingFrom = performance.now();
  await eventually('a stops leading', () => !a.isLeader, 5000, 5);
  assert.ok(performance.now() - hangingFrom < 1000, 'stopped before the lease could expire');
  assert.equal(seen.signal?.aborted, true);
  api.hang = false;
});

test('stop() ends the work, then releases the Lease so a standby takes it at once', async () => {
  const api = new FakeLeaseApi();
  const a = elector(api, 'a');
  const b = elector(api, 'b');
  const events: string[] = [];
  void a.run({
    onStartedLeading: async (signal) => {
      events.push('a started');
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      await sleep(100);
      events.push(`a work ended, holder ${api.lease?.spec?.holderIdentity}`);
    },
    onStoppedLeading: () => events.push('a lost the lease'),
  });
  await eventually('a leads', () => a.isLeader, 5000, 10);
  void b.run(recorder().callbacks);
  await sleep(300);
  assert.equal(b.isLeader, false);

  await a.stop();
  assert.equal(a.isLeader, false);
  assert.deepEqual(events, ['a started', 'a work ended, holder a']);
  assert.equal(api.lease?.spec?.holderIdentity, '');
  const releasedAt = performance.now();
  await eventually('b takes over', () => b.isLeader, 5000, 5);
  assert.ok(performance.now() - releasedAt < 800, 'took over before the lease duration');
  assert.equal(api.lease?.spec?.leaseTransitions, 1);
});

test('two electors racing for a missing Lease: one creates it, the other stays a standby', async () => {
  const api = new FakeLeaseApi();
  const a = elector(api, 'a');
  const b = elector(api, 'b');
  void a.run(recorder().callbacks);
  void b.run(recorder().callbacks);
  await eventually('someone leads', () => a.isLeader || b.isLeader, 5000, 10);
  const until = performance.now() + 1500;
  while (performance.now() < until) {
    assert.ok(!(a.isLeader && b.isLeader), 'two leaders at once');
    assert.ok(a.isLeader || b.isLeader, 'nobody leads');
    await sleep(10);
  }
});

/** The gaps (ms) between successive attempts to create the Lease, from the `from`th on. */
const createGaps = (api: FakeLeaseApi, from = 0) =>
  api.creates.slice(from + 1).map((at, i) => at - (api.creates[from + i] ?? at));

test('a missing namespace: retries with doubling, capped backoff, warns and says so, then leads once it exists', async () => {
  const api = new FakeLeaseApi();
  api.namespaceExists = false;
  const warnings: string[] = [];
  const warnLogger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
  const a = elector(api, 'a', undefined, { logger: warnLogger, initialBackoffMs: 100, maxBackoffMs: 400 });
  const { seen, callbacks } = recorder();
  let rejected: unknown;
  a.run(callbacks).catch((error: unknown) => (rejected = error));
  await eventually('five attempts to create the Lease', () => api.creates.length >= 5, 5000, 10);
  assert.equal(a.blockedBy, 'namespace "seer-system" does not exist');
  assert.equal(a.isLeader, false);
  assert.equal(rejected, undefined, 'run() goes on');
  // 100, 200, then 400 (the cap) rather than 800.
  const gaps = createGaps(api).slice(0, 4);
  for (const [i, expected] of [100, 200, 400, 400].entries()) {
    const gap = gaps[i] ?? 0;
    assert.ok(
      gap >= expected - 5 && gap < expected + 300,
      `gap ${i}: ${Math.round(gap)} ms, not ${expected}`,
    );
  }
  assert.ok(warnings.length >= 5, `${warnings.length} warnings`);
  assert.match(
    warnings[0] ?? '',
    /namespace \\"seer-system\\" does not exist; create it \(kubectl create namespace seer-system\) or install the Helm chart/,
  );

  api.namespaceExists = true;
  await eventually('a leads', () => a.isLeader, 5000, 10);
  assert.equal(a.blockedBy, undefined);
  assert.equal(seen.started, 1);

  // The namespace goes away (the Lease with it): the backoff starts over from its first step.
  api.namespaceExists = false;
  api.lease = undefined;
  const gone = api.creates.length;
  await eventually('a stops leading', () => !a.isLeader, 5000, 10);
  await eventually('two more attempts', () => api.creates.length >= gone + 2, 5000, 10);
  assert.equal(a.blockedBy, 'namespace "seer-system" does not exist');
  const [first = 0] = createGaps(api, gone);
  assert.ok(first < 400, `first retry after ${Math.round(first)} ms: the backoff was not reset`);
});

test('stop() ends a campaign that waits for the namespace at once', async () => {
  const api = new FakeLeaseApi();
  api.namespaceExists = false;
  const a = elector(api, 'a', undefined, { initialBackoffMs: 30_000 });
  const run = a.run(recorder().callbacks);
  await eventually('the first attempt', () => a.blockedBy !== undefined, 5000, 10);
  const stoppingAt = performance.now();
  await a.stop();
  await run;
  assert.ok(performance.now() - stoppingAt < 200, 'stop() waited for the backoff');
  assert.equal(api.creates.length, 1);
});

test('durations that cannot work are refused', () => {
  const options = { rest: new FakeLeaseApi(), namespace: 'n', name: 'l', identity: 'a', logger };
  assert.throws(
    () => new LeaderElector({ ...options, leaseDurationSeconds: 10, renewDeadlineSeconds: 10 }),
    /renewDeadlineSeconds \(10\) must be less than leaseDurationSeconds \(10\)/,
  );
  assert.throws(
    () => new LeaderElector({ ...options, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 }),
    /retryPeriodSeconds \(2\) must be positive and well below renewDeadlineSeconds \(2\)/,
  );
  assert.throws(() => new LeaderElector({ ...options, retryPeriodSeconds: 0 }), /retryPeriodSeconds/);
  assert.throws(() => new LeaderElector({ ...options, identity: '' }), /identity must not be empty/);
  assert.doesNotThrow(() => new LeaderElector(options));
});
