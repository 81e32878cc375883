import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { PackageCache } from '../../../packages/cache.js';
import { PackageError } from '../../../packages/errors.js';
import {
  HookRunner,
  PodCannotRun,
  podHooks,
  PodNotReady,
  type HookEnvironment,
  type PodEntry,
  type PodHook,
  type PrestartContext,
} from '../../../agent/pods/hooks/index.js';
import { localDataDirs } from '../../../agent/pods/data-dirs.js';
import { HostLayout } from '../../../agent/pods/layout.js';
import { PodManager } from '../../../agent/pods/pod-manager.js';
import { writePodRecord, type PodRecord } from '../../../agent/pods/pod-record.js';
import { podStatus } from '../../../agent/pods/pod-status.js';
import type { SeerPod } from '../../../api/types.js';
import { eventually } from '../../support/agent.js';
import { makePackage, seerPod, SLEEPER } from '../../support/pods.js';
import { MemoryPodStore } from './memory-pod-store.js';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'seer-pod-hooks-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const pod = seerPod('p', { containers: [{ name: 'main', package: 'file:///p.tgz' }] });

function entry(): PodEntry {
  const record: PodRecord = {
    uid: 'u',
    namespace: 'default',
    name: 'p',
    spec_hash: 'h',
    containers: [],
    hooks_done: [],
    shared_files: [],
  };
  return {
    key: 'default/p',
    record,
    supervisors: new Map(),
    timings: { pull_ms: 0, unpack_ms: 0, start_ms: 0 },
  };
}

/** A prestart context that counts its saves. */
function context(target = entry(), signal = new AbortController().signal) {
  const saved: string[][] = [];
  const ctx: PrestartContext = {
    entry: target,
    pod,
    signal,
    save: async () => void saved.push([...target.record.hooks_done]),
    reportStatus: () => undefined,
  };
  return { ctx, saved, entry: target };
}

/** Hooks that log what runs into `calls`; the one named in `failing` throws `error` from its prestart. */
function recordingHooks(
  calls: string[],
  names: string[],
  failing?: { name: string; error: unknown },
): PodHook[] {
  return names.map((name) => ({
    name,
    async prestart() {
      calls.push(`prestart ${name}`);
      if (failing?.name === name) throw failing.error;
    },
    async restore() {
      calls.push(`restore ${name}`);
    },
    async stop() {
      calls.push(`stop ${name}`);
    },
  }));
}

const NAMES = ['directories', 'package', 'component-config', 'processes'];

test('prestarts run in order, each recorded in the pod record and saved as it completes', async () => {
  const calls: string[] = [];
  const runner = new HookRunner(recordingHooks(calls, NAMES));
  const { ctx, saved, entry } = context();
  entry.preparing = { reason: 'Pulling', message: 'pulling' };
  await runner.prestart(ctx);
  assert.deepEqual(
    calls,
    NAMES.map((n) => `prestart ${n}`),
  );
  assert.deepEqual(entry.record.hooks_done, NAMES);
  assert.deepEqual(saved, [NAMES.slice(0, 1), NAMES.slice(0, 2), NAMES.slice(0, 3), NAMES]);
  assert.equal(entry.preparing, undefined, 'nothing left to prepare');

  // Done is done: another sync runs no prestart again; an agent restart restores them in order.
  calls.length = 0;
  await runner.prestart(ctx);
  assert.deepEqual(calls, []);
  await runner.restore(ctx);
  assert.deepEqual(
    calls,
    NAMES.map((n) => `restore ${n}`),
  );
});

test('the stops run in reverse order, all of them, from whichever step the pod reached', async () => {
  for (let reached = 0; reached <= NAMES.length; reached++) {
    const calls: string[] = [];
    const failing = NAMES[reached];
    const runner = new HookRunner(
      recordingHooks(calls, NAMES, failing ? { name: failing, error: new Error('boom') } : undefined),
    );
    const { ctx, entry } = context();
    if (failing) await assert.rejects(runner.prestart(ctx), /boom/);
    else await runner.prestart(ctx);
    assert.deepEqual(entry.record.hooks_done, NAMES.slice(0, reached));
    assert.deepEqual(
      calls,
      NAMES.slice(0, Math.min(reached + 1, NAMES.length)).map((n) => `prestart ${n}`),
      'no prestart after the one that failed',
    );
    calls.length = 0;
    await runner.stop(ctx);
    assert.deepEqual(
      calls,
      [...NAMES].reverse().map((n) => `stop ${n}`),
      `reached ${reached}`,
    );
  }
});

test('a failing stop ends the teardown there: what later stops remove stays until it is tried again', async () => {
  const calls: string[] = [];
  const hooks = recordingHooks(calls, NAMES);
  const processes = hooks[3] as PodHook;
  processes.stop = async () => {
    calls.push('stop processes');
    throw new Error('still running');
  };
  await assert.rejects(new HookRunner(hooks).stop(context().ctx), /still running/);
  assert.deepEqual(calls, ['stop processes']);
});

test('hook names are unique', () => {
  assert.throws(() => new HookRunner(recordingHooks([], ['a', 'b', 'a'])), /repeat/);
});

test('a failing prestart sets why the pod does not run, as PackagesReady and Ready show it', async () => {
  const cases: { error: unknown; reason: string; message: RegExp }[] = [
    {
      error: new PodNotReady({ reason: 'WaitingForComponent', message: 'waiting for component web' }),
      reason: 'WaitingForComponent',
      message: /waiting for component web/,
    },
    {
      error: new PodCannotRun({ reason: 'ConfigConflict', message: 'site.conf is already written' }),
      reason: 'ConfigConflict',
      message: /already written/,
    },
    {
      error: new PackageError('PackageNotFound', 'file:///p.tgz: no such file'),
      reason: 'PackageNotFound',
      message: /no such file/,
    },
    { error: new Error('disk full'), reason: 'PrepareFailed', message: /disk full/ },
  ];
  for (const { error, reason, message } of cases) {
    const runner = new HookRunner(recordingHooks([], NAMES, { name: 'component-config', error }));
    const { ctx, entry } = context();
    await assert.rejects(runner.prestart(ctx));
    assert.equal(entry.preparing?.reason, reason);
    const status = podStatus({ pod, nodeName: 'n', preparing: entry.preparing, containers: [], digests: {} });
    assert.equal(status.phase, 'Pending');
    assert.equal(status.reason, reason);
    const packagesReady = status.conditions?.find((c) => c.type === 'PackagesReady');
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    assert.equal(packagesReady?.status, 'False');
    assert.equal(packagesReady?.reason, reason);
    assert.match(packagesReady?.message ?? '', message);
    assert.equal(ready?.status, 'False');
    assert.equal(ready?.reason, reason);
  }

  // A prestart aborted because the pod is going away leaves what it said last.
  const abort = new AbortController();
  abort.abort();
  const runner = new HookRunner(recordingHooks([], NAMES, { name: 'package', error: new Error('aborted') }));
  const { ctx, entry } = context(undefined, abort.signal);
  entry.preparing = { reason: 'Pulling', message: 'pulling file:///p.tgz' };
  await assert.rejects(runner.prestart(ctx));
  assert.equal(entry.preparing?.reason, 'Pulling');
});

test('the real hooks: a prestart failing half-way is stopped, twice over, leaving nothing', async () => {
  const layout = new HostLayout(path.join(root, 'half-way'));
  const env: HookEnvironment = {
    layout,
    packages: new PackageCache({ dir: layout.cacheDir, registries: { insecure: [], credentials: {} } }),
    node: { name: 'n1' },
    dataDirs: localDataDirs,
    logger: pino({ level: 'silent' }),
    pods: () => [],
    supervisorsOf: () => undefined,
    supervisor: () => assert.fail('no container gets this far'),
  };
  const runner = new HookRunner(podHooks(env));
  const good = await makePackage({ 'bin/app': SLEEPER });
  const deployDir = path.join(root, 'half-way-opt', 'first');
  const halfWay: SeerPod = seerPod('half', {
    containers: [
      { name: 'first', package: good.reference, deployment_dir: deployDir, commands: { start: 'bin/app' } },
      { name: 'second', package: `file://${root}/missing.tar.gz`, commands: { start: 'bin/app' } },
    ],
  });
  const target = entry();
  target.record.name = 'half';
  const ctx: PrestartContext = {
    entry: target,
    pod: halfWay,
    signal: new AbortController().signal,
    save: async () => undefined,
    reportStatus: () => undefined,
  };
  await assert.rejects(runner.prestart(ctx), (error: unknown) => error instanceof PackageError);
  assert.equal(target.preparing?.reason, 'PackageNotFound');
  assert.deepEqual(target.record.hooks_done, ['directories'], 'the package step did not complete');
  assert.ok(existsSync(path.join(deployDir, 'bin', 'app')), 'the first container was unpacked');
  assert.ok(existsSync(layout.logDir('half')));

  await runner.stop(ctx);
  assert.equal(existsSync(deployDir), false, 'the deployment_dir is removed');
  assert.equal(existsSync(layout.podDir('half')), false, 'the pod directory is removed');
  await runner.stop(ctx);
  assert.equal(existsSync(layout.podDir('half')), false);
});

test('the pod manager runs the hooks, reports a failing one in the status, and stops them in reverse when the pod goes', async () => {
  const calls: string[] = [];
  const store = new MemoryPodStore();
  let refuse = true;
  const hooks = recordingHooks(calls, ['first', 'second', 'third']);
  const second = hooks[1] as PodHook;
  second.prestart = async () => {
    calls.push('prestart second');
    if (refuse) throw new PodCannotRun({ reason: 'ConfigConflict', message: 'a.conf is already written' });
  };
  const manager = new PodManager({
    store,
    layout: new HostLayout(path.join(root, 'manager')),
    packages: new PackageCache({
      dir: path.join(root, 'manager-cache'),
      registries: { insecure: [], credentials: {} },
    }),
    nodeName: 'n1',
    logger: pino({ level: 'silent' }),
    hooks: () => hooks,
  });
  await manager.start();
  try {
    const refused = seerPod('refused', { containers: [{ name: 'main', package: 'file:///p.tgz' }] });
    refused.metadata.uid = 'uid-r';
    store.put(refused);
    const write = await eventually('a status write', () =>
      store.writes.find((w) => w.key === 'default/refused'),
    );
    assert.equal(write.patch.phase, 'Pending');
    assert.equal(write.patch.reason, 'ConfigConflict');
    const readyCondition = write.patch.conditions?.find((c) => c.type === 'Ready');
    assert.equal(readyCondition?.status, 'False');
    assert.equal(readyCondition?.reason, 'ConfigConflict');
    assert.deepEqual(calls, ['prestart first', 'prestart second']);

    // Only a change to the pod brings it back; then it carries on from the step that failed.
    refuse = false;
    store.put({ ...refused, metadata: { ...refused.metadata, labels: { touched: 'yes' } } });
    await eventually('the remaining prestarts', () => calls.includes('prestart third'));
    assert.deepEqual(calls, ['prestart first', 'prestart second', 'prestart second', 'prestart third']);

    calls.length = 0;
    store.remove(refused);
    await eventually('the stops', () => calls.length === 3);
    assert.deepEqual(calls, ['stop third', 'stop second', 'stop first']);
  } finally {
    await manager.stop();
  }
});

test('after an agent restart the completed hooks are restored in order; a pod the store no longer lists is then stopped in reverse', async () => {
  const layout = new HostLayout(path.join(root, 'restart'));
  const base = { namespace: 'default', spec_hash: 'h', shared_files: [] };
  const spec = { name: 'main', directory: '/nonexistent', digest: 'sha256:1' };
  const process = { name: 'main' } as NonNullable<PodRecord['containers'][number]['process']>;
  // A record written before there were hooks: a container with a process went through every step.
  const before = { ...base, uid: 'u1', name: 'older', containers: [{ ...spec, process }] };
  const halfWay: PodRecord = { ...base, uid: 'u2', name: 'half', containers: [spec], hooks_done: ['first'] };
  await writePodRecord(layout, before as unknown as PodRecord);
  await writePodRecord(layout, halfWay);

  const calls: string[] = [];
  const hooks = recordingHooks(calls, ['first', 'second']).map((hook) => ({
    ...hook,
    restore: async ({ entry }: { entry: PodEntry }) =>
      void calls.push(`restore ${hook.name} ${entry.record.name}`),
    stop: async ({ entry }: { entry: PodEntry }) => void calls.push(`stop ${hook.name} ${entry.record.name}`),
  }));
  const manager = new PodManager({
    store: new MemoryPodStore(),
    layout,
    packages: new PackageCache({ dir: layout.cacheDir, registries: { insecure: [], credentials: {} } }),
    nodeName: 'n1',
    logger: pino({ level: 'silent' }),
    hooks: () => hooks,
  });
  await manager.start();
  try {
    await eventually('both pods stopped', () => calls.filter((c) => c.startsWith('stop')).length === 4);
    const of = (name: string) => calls.filter((c) => c.endsWith(` ${name}`));
    assert.deepEqual(of('older'), [
      'restore first older',
      'restore second older',
      'stop second older',
      'stop first older',
    ]);
    assert.deepEqual(of('half'), ['restore first half', 'stop second half', 'stop first half']);
    assert.equal(calls.filter((c) => c.startsWith('prestart')).length, 0);
  } finally {
    await manager.stop();
  }
});
