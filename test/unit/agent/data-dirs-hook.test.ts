import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { DataDirs } from '../../../agent/pods/data-dirs.js';
import { dataDirsHook } from '../../../agent/pods/hooks/data-dirs.js';
import {
  PodCannotRun,
  PodNotReady,
  PodStepFailed,
  type HookEnvironment,
  type PodEntry,
  type PrestartContext,
} from '../../../agent/pods/hooks/index.js';
import { packageHook } from '../../../agent/pods/hooks/package.js';
import { HostLayout } from '../../../agent/pods/layout.js';
import type { Container, SeerPod } from '../../../api/types.js';
import { PackageCache } from '../../../packages/cache.js';
import { seerPod } from '../../support/pods.js';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'seer-data-dirs-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Data dirs placed here or not, as the test says, remembering what was reported made. */
class TestDataDirs {
  readonly placed = new Set<string>();
  readonly made = new Map<string, string>();
  unavailable(namespace: string, name: string) {
    return this.placed.has(`${namespace}/${name}`)
      ? undefined
      : `data dir ${name} is not placed on node n1 yet`;
  }
  async madeDir(namespace: string, name: string, dir: string) {
    this.made.set(`${namespace}/${name}`, dir);
  }
}

let cases = 0;
/** A pod whose one container's directory is unpacked already (the package hook ran). */
async function setUp(container: Partial<Container>, files: Record<string, string> = {}) {
  const dir = path.join(root, `case-${++cases}`);
  const layout = new HostLayout(dir);
  const dataDirs = new TestDataDirs();
  const env: HookEnvironment = {
    layout,
    packages: new PackageCache({ dir: layout.cacheDir, registries: { insecure: [], credentials: {} } }),
    node: { name: 'n1' },
    dataDirs: {
      unavailable: (ns, name) => dataDirs.unavailable(ns, name),
      made: (ns, name, d) => dataDirs.madeDir(ns, name, d),
      start: async () => undefined,
      stop: async () => undefined,
    } satisfies DataDirs,
    logger: pino({ level: 'silent' }),
    pods: () => [],
    supervisorsOf: () => undefined,
    supervisor: () => assert.fail('no supervisor here'),
  };
  const pod: SeerPod = seerPod('db-0', {
    containers: [{ name: 'postgres', package: 'file:///pg.tgz', ...container }],
  });
  const containerDir = layout.containerDir('db-0', { name: 'postgres' });
  await mkdir(containerDir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(containerDir, name)), { recursive: true });
    await writeFile(path.join(containerDir, name), content);
  }
  const entry: PodEntry = {
    key: 'default/db-0',
    record: {
      uid: 'u',
      namespace: 'default',
      name: 'db-0',
      spec_hash: 'h',
      containers: [{ name: 'postgres', directory: containerDir, digest: 'sha256:x' }],
      hooks_done: [],
      shared_files: [],
    },
    supervisors: new Map(),
    timings: { pull_ms: 0, unpack_ms: 0, start_ms: 0 },
  };
  const ctx: PrestartContext = {
    entry,
    pod,
    signal: new AbortController().signal,
    save: async () => undefined,
    reportStatus: () => undefined,
  };
  return { env, layout, dataDirs, ctx, containerDir, hook: dataDirsHook(env) };
}

test('a placed claim gets a private directory under the data root, linked into the container, which outlives the pod', async () => {
  const { env, layout, dataDirs, ctx, containerDir, hook } = await setUp({
    data_dirs: [{ name: 'pgdata-db-0', path: 'var/data', size: '1Ki' }],
  });
  dataDirs.placed.add('default/pgdata-db-0');
  await hook.prestart?.(ctx);
  const dir = layout.dataDir('default', 'pgdata-db-0');
  assert.equal(dir, path.join(layout.root, 'data', 'default', 'pgdata-db-0'));
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.ok((await lstat(path.join(containerDir, 'var/data'))).isSymbolicLink());
  assert.equal(dataDirs.made.get('default/pgdata-db-0'), dir);

  await writeFile(path.join(containerDir, 'var/data', 'PG_VERSION'), '15\n');
  // Again (an agent restart half-way): nothing changes, the data stays.
  await hook.prestart?.(ctx);
  assert.equal(await readFile(path.join(dir, 'PG_VERSION'), 'utf8'), '15\n');

  // The pod goes: the package step's stop removes the container directory, and only the link in it.
  await packageHook(env).stop?.(ctx);
  assert.equal(existsSync(containerDir), false);
  assert.equal(await readFile(path.join(dir, 'PG_VERSION'), 'utf8'), '15\n');
});

test('a claim not placed on this node keeps the pod waiting, with the reason, and makes nothing', async () => {
  const { layout, ctx, hook } = await setUp({ data_dirs: [{ name: 'pgdata-db-0', path: 'data' }] });
  await assert.rejects(
    hook.prestart?.(ctx) ?? Promise.resolve(),
    (error: unknown) =>
      error instanceof PodNotReady &&
      error.preparation.reason === 'DataDirPending' &&
      error.message === 'data dir pgdata-db-0 is not placed on node n1 yet',
  );
  assert.equal(existsSync(layout.dataRoot), false);
});

test('an empty directory the package ships is replaced by the link; files there are refused', async () => {
  const empty = await setUp({ data_dirs: [{ name: 'a', path: 'data' }] });
  empty.dataDirs.placed.add('default/a');
  await mkdir(path.join(empty.containerDir, 'data'));
  await empty.hook.prestart?.(empty.ctx);
  assert.ok((await lstat(path.join(empty.containerDir, 'data'))).isSymbolicLink());

  const full = await setUp({ data_dirs: [{ name: 'b', path: 'data' }] }, { 'data/seed.sql': 'select 1;' });
  full.dataDirs.placed.add('default/b');
  await assert.rejects(
    full.hook.prestart?.(full.ctx) ?? Promise.resolve(),
    (error: unknown) =>
      error instanceof PodCannotRun &&
      error.preparation.reason === 'DataDirConflict' &&
      error.message ===
        'container postgres: data dir b cannot be linked at data: the package has files there',
  );
  assert.equal(await readFile(path.join(full.containerDir, 'data/seed.sql'), 'utf8'), 'select 1;');
});

test('a package symlink cannot send the link outside the container directory', async () => {
  const outside = path.join(root, 'outside');
  await mkdir(outside, { recursive: true });
  const { dataDirs, ctx, containerDir, hook } = await setUp({ data_dirs: [{ name: 'c', path: 'var/data' }] });
  dataDirs.placed.add('default/c');
  await symlink(outside, path.join(containerDir, 'var'));
  await assert.rejects(
    hook.prestart?.(ctx) ?? Promise.resolve(),
    (error: unknown) =>
      error instanceof PodCannotRun && /var leads outside the container directory/.test(error.message),
  );
  assert.deepEqual(await readdir(outside), [], 'nothing was written outside');
});

test('a claim asking for more space than the filesystem has is refused before anything is made, and retried', async () => {
  const { layout, dataDirs, ctx, hook } = await setUp({
    data_dirs: [{ name: 'huge', path: 'data', size: '1Ei' }],
  });
  dataDirs.placed.add('default/huge');
  await assert.rejects(
    hook.prestart?.(ctx) ?? Promise.resolve(),
    (error: unknown) =>
      error instanceof PodStepFailed &&
      error.preparation.reason === 'InsufficientSpace' &&
      new RegExp(`^data dir huge needs 1Ei but ${layout.dataRoot} has [0-9.]+Gi free$`).test(error.message),
  );
  assert.equal(existsSync(layout.dataDir('default', 'huge')), false);
});
