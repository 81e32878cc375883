import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { repoPath } from '../../common/paths.js';
import { RestClient } from '../../kube/rest.js';
import { microTime } from '../../kube/time.js';
import { LeaderElector } from '../../operator/runtime/leader-election.js';
import { eventually, type SeerProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { startOperatorProcess } from '../support/operator.js';

const NAMESPACE = 'seer-system';
// Short, so expiries happen within seconds; the margins between them keep the assertions robust.
const TIMING = { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.3 };
const LEASE_MS = TIMING.leaseDurationSeconds * 1000;
const RETRY_MS = TIMING.retryPeriodSeconds * 1000;

interface Lease {
  metadata: { resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

let cluster: TestCluster;
let rest: RestClient;
let work: string;
const operators: SeerProcess[] = [];
const logger = pino({ level: 'silent' });
const electors: LeaderElector[] = [];
const children = new Set<ChildProcess>();

before(async () => {
  // The CRDs for the operator processes' caches; seer-system comes with every cluster.
  cluster = await startTestCluster({ crds: true });
  rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-leader-election-'));
});

afterEach(async () => {
  await Promise.all(electors.splice(0).map((elector) => elector.stop()));
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

after(async () => {
  await Promise.all(operators.map((operator) => operator.kill()));
  rest?.close();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`;
const readLease = (name: string) => rest.request<Lease>('GET', leasePath(name));

/** One in-process replica, with the times its terms started and ended (performance.now()). */
interface Replica {
  identity: string;
  elector: LeaderElector;
  terms: { startedAt: number; endedAt?: number; signal: AbortSignal }[];
  lostLease: number;
  run: Promise<void>;
}

function startReplica(lease: string, identity: string): Replica {
  const elector = new LeaderElector({ rest, namespace: NAMESPACE, name: lease, identity, logger, ...TIMING });
  electors.push(elector);
  const replica: Replica = { identity, elector, terms: [], lostLease: 0, run: Promise.resolve() };
  replica.run = elector.run({
    onStartedLeading: (signal) => {
      const term: Replica['terms'][number] = { startedAt: performance.now(), signal };
      replica.terms.push(term);
      signal.addEventListener('abort', () => (term.endedAt = performance.now()));
    },
    onStoppedLeading: () => replica.lostLease++,
  });
  return replica;
}

/**
 * Watches the replicas for two leaders at once, both by polling isLeader every 50 ms and, exactly,
 * by comparing the terms they recorded.
 */
function watchForTwoLeaders(replicas: Replica[]) {
  const overlaps: string[] = [];
  const timer = setInterval(() => {
    const leading = replicas.filter((r) => r.elector.isLeader).map((r) => r.identity);
    if (leading.length > 1) overlaps.push(`${leading.join(' and ')} led at once`);
  }, 50);
  // A failed test must not leave the file's process running.
  timer.unref();
  return {
    assertNeverTwo(): void {
      clearInterval(timer);
      const terms = replicas.flatMap((r) => r.terms.map((t) => ({ ...t, identity: r.identity })));
      for (const a of terms)
        for (const b of terms) {
          if (a === b || a.startedAt > b.startedAt) continue;
          if ((a.endedAt ?? Infinity) > b.startedAt)
            overlaps.push(`${a.identity}'s term overlaps ${b.identity}'s`);
        }
      assert.deepEqual(overlaps, []);
    },
  };
}

const leaders = (replicas: Replica[]) => replicas.filter((r) => r.elector.isLeader);

async function oneLeader(replicas: Replica[]): Promise<Replica> {
  return eventually('a leader', () => leaders(replicas)[0], 15_000, 20);
}

test('two replicas: one leads and keeps the Lease; stop() hands it over well within the lease duration', async () => {
  const replicas = [startReplica('two', 'replica-a'), startReplica('two', 'replica-b')];
  const monitor = watchForTwoLeaders(replicas);
  const first = await oneLeader(replicas);
  const standby = replicas.find((r) => r !== first);
  assert.ok(standby);

  // Longer than the lease duration: the standby must respect a lease that keeps being renewed.
  await sleep(LEASE_MS + 1000);
  assert.deepEqual(
    leaders(replicas).map((r) => r.identity),
    [first.identity],
  );
  const held = await readLease('two');
  assert.equal(held.spec?.holderIdentity, first.identity);
  assert.equal(held.spec?.leaseTransitions, 0);
  assert.equal(held.spec?.leaseDurationSeconds, TIMING.leaseDurationSeconds);
  assert.equal(
    await cluster.kubectlOk([
      'get',
      'lease',
      'two',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ]),
    first.identity,
  );

  const stoppingAt = performance.now();
  await first.elector.stop();
  assert.equal(first.elector.isLeader, false);
  assert.equal(first.terms[0]?.signal.aborted, true);
  assert.equal(first.lostLease, 0, 'stop() is not a lost lease');
  const released = await readLease('two');
  assert.ok(
    ['', standby.identity].includes(released.spec?.holderIdentity ?? ''),
    `holder after release: ${released.spec?.holderIdentity}`,
  );

  await eventually('the standby leads', () => standby.elector.isLeader, 15_000, 20);
  const handover = performance.now() - stoppingAt;
  // Waiting for expiry would take at least the lease duration less one retry period.
  assert.ok(handover < LEASE_MS - RETRY_MS - 500, `handover took ${Math.round(handover)} ms`);
  const taken = await readLease('two');
  assert.equal(taken.spec?.holderIdentity, standby.identity);
  assert.equal(taken.spec?.leaseTransitions, 1);
  monitor.assertNeverTwo();
});

test('three replicas: exactly one leads at any time through successive stops', async () => {
  const replicas = ['replica-a', 'replica-b', 'replica-c'].map((identity) => startReplica('three', identity));
  const monitor = watchForTwoLeaders(replicas);
  let remaining = replicas;
  const order: string[] = [];
  for (let round = 0; round < 3; round++) {
    const leader = await oneLeader(remaining);
    order.push(leader.identity);
    const lease = await readLease('three');
    assert.equal(lease.spec?.holderIdentity, leader.identity);
    assert.equal(lease.spec?.leaseTransitions, round);
    await sleep(1000);
    assert.deepEqual(
      leaders(replicas).map((r) => r.identity),
      [leader.identity],
    );
    await leader.elector.stop();
    remaining = remaining.filter((r) => r !== leader);
  }
  assert.equal(new Set(order).size, 3);
  assert.equal((await readLease('three')).spec?.holderIdentity, '');
  monitor.assertNeverTwo();
});

/** An elector in its own process, printing "leading" when it leads, so it can be SIGKILLed. */
async function startChildReplica(lease: string, identity: string): Promise<ChildProcess> {
  const module = (...segments: string[]) => pathToFileURL(repoPath('dist', ...segments)).href;
  const script = `
    const { RestClient } = await import(${JSON.stringify(module('kube', 'rest.js'))});
    const { LeaderElector } = await import(${JSON.stringify(module('operator', 'runtime', 'leader-election.js'))});
    const { createLogger } = await import(${JSON.stringify(module('common', 'logger.js'))});
    const options = JSON.parse(process.env.SEER_TEST_ELECTOR);
    const elector = new LeaderElector({
      ...options,
      rest: RestClient.fromKubeconfig(options.kubeconfig),
      logger: createLogger('child-elector', 'warn'),
    });
    await elector.run({
      onStartedLeading: () => console.log('leading'),
      onStoppedLeading: () => console.log('stopped'),
    });
  `;
  const options = { kubeconfig: cluster.kubeconfig, namespace: NAMESPACE, name: lease, identity, ...TIMING };
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, SEER_TEST_ELECTOR: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  if (!child.stdout) throw new Error('the child elector has no stdout');
  const lines = readline.createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line === 'leading') resolve();
    });
    child.once('exit', (code) => reject(new Error(`the child elector exited (${code}) before leading`)));
  });
  return child;
}

test('a leader killed without releasing is replaced by a standby once the lease expires', async () => {
  const child = await startChildReplica('killed', 'replica-killed');
  const standbys = [startReplica('killed', 'replica-b'), startReplica('killed', 'replica-c')];
  const monitor = watchForTwoLeaders(standbys);
  await sleep(LEASE_MS + 1000);
  assert.deepEqual(leaders(standbys), [], 'a standby took a lease that was being renewed');
  assert.equal((await readLease('killed')).spec?.holderIdentity, 'replica-killed');

  const exited = new Promise((resolve) => child.once('exit', resolve));
  const killedAt = performance.now();
  child.kill('SIGKILL');
  await exited;
  const successor = await oneLeader(standbys);
  const replacedAfter = performance.now() - killedAt;
  // The dead leader renewed at most one retry period before dying; the lease runs from then.
  assert.ok(
    replacedAfter >= LEASE_MS - RETRY_MS - 200,
    `replaced after only ${Math.round(replacedAfter)} ms`,
  );
  assert.ok(replacedAfter < LEASE_MS + 4 * RETRY_MS + 1000, `replaced after ${Math.round(replacedAfter)} ms`);

  const lease = await readLease('killed');
  assert.equal(lease.spec?.holderIdentity, successor.identity);
  assert.equal(lease.spec?.leaseTransitions, 1);
  monitor.assertNeverTwo();
});

test('a leader whose Lease is taken by force stops at once; the Lease is taken back once it expires', async () => {
  const replicas = [startReplica('forced', 'replica-a'), startReplica('forced', 'replica-b')];
  const monitor = watchForTwoLeaders(replicas);
  const leader = await oneLeader(replicas);
  const signal = leader.terms[0]?.signal;
  assert.equal(signal?.aborted, false);
  const aborted = new Promise<number>((resolve) =>
    signal?.addEventListener('abort', () => resolve(performance.now())),
  );

  const current = await readLease('forced');
  const writingAt = performance.now();
  await rest.request('PUT', leasePath('forced'), {
    body: {
      ...current,
      spec: {
        ...current.spec,
        holderIdentity: 'intruder',
        renewTime: microTime(),
        leaseTransitions: (current.spec?.leaseTransitions ?? 0) + 1,
      },
    },
  });
  const abortedAfter = (await aborted) - writingAt;
  // Within a retry period (plus a request); failing renewals alone would take the renew deadline.
  assert.ok(abortedAfter < RETRY_MS + 700, `the signal aborted ${Math.round(abortedAfter)} ms after`);
  assert.equal(leader.elector.isLeader, false);
  assert.equal(leader.lostLease, 1);
  assert.equal((await readLease('forced')).spec?.holderIdentity, 'intruder');

  // Nobody renews the intruder's lease: a replica takes it over, but only after its full duration.
  const successor = await oneLeader(replicas);
  const takenAfter = performance.now() - writingAt;
  assert.ok(takenAfter >= LEASE_MS - 50, `taken back after only ${Math.round(takenAfter)} ms`);
  const lease = await readLease('forced');
  assert.equal(lease.spec?.holderIdentity, successor.identity);
  assert.equal(lease.spec?.leaseTransitions, 2);
  monitor.assertNeverTwo();
});

test('operators without the namespace of their Lease wait, unready, and lead once it is created', async () => {
  const namespace = 'seer-later';
  const start = async (identity: string) => {
    const operator = await startOperatorProcess({
      kubeconfig: cluster.kubeconfig,
      identity,
      logDir: work,
      args: ['--namespace', namespace, '--lease-duration', '3'],
    });
    operators.push(operator);
    const port = await eventually(
      `${identity} logs its HTTP port`,
      async () => /"http":(\d+)/.exec(await operator.log())?.[1],
    );
    return { operator, readyz: `http://127.0.0.1:${port}/readyz` };
  };
  const [a, b] = await Promise.all([start('operator-a'), start('operator-b')]);
  for (const { readyz } of [a, b]) {
    const response = await eventually('/readyz to name the missing namespace', async () => {
      const answer = await fetch(readyz);
      return answer.status === 503 ? answer : undefined;
    });
    assert.equal(await response.text(), `leader election: namespace "${namespace}" does not exist`);
  }
  assert.match(await a.operator.log(), /kubectl create namespace seer-later/);

  // SIGTERM still stops a replica at once while it waits.
  const stoppingAt = performance.now();
  await b.operator.stop();
  assert.ok(performance.now() - stoppingAt < 5000, 'SIGTERM took over 5 s');
  assert.equal(b.operator.child.exitCode, 0);

  await cluster.kubectlOk(['create', 'namespace', namespace]);
  await eventually(
    'operator-a to lead',
    async () => {
      const lease = await rest.request<Lease>(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/seer-operator`,
      );
      return lease.spec?.holderIdentity === 'operator-a';
    },
    30_000,
  );
  assert.equal((await fetch(a.readyz)).status, 200);
  assert.match(await a.operator.log(), /leading: controllers started/);
});

// Last: it takes the API server away.
test('a leader cut off from the API server stops leading by the renew deadline', async () => {
  const replicas = [startReplica('cut-off', 'replica-a'), startReplica('cut-off', 'replica-b')];
  const monitor = watchForTwoLeaders(replicas);
  const leader = await oneLeader(replicas);
  await cluster.stopApiServer();
  const goneAt = performance.now();
  await eventually('the leader stops leading', () => !leader.elector.isLeader, 15_000, 20);
  const ledAfter = performance.now() - goneAt;
  // Before any standby could consider the lease expired.
  assert.ok(ledAfter < LEASE_MS - RETRY_MS, `still leading ${Math.round(ledAfter)} ms after`);
  assert.equal(leader.lostLease, 1);
  assert.equal(leader.terms[0]?.signal.aborted, true);
  assert.deepEqual(leaders(replicas), []);

  await cluster.startApiServer();
  await oneLeader(replicas);
  monitor.assertNeverTwo();
});
