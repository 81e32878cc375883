import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { CacheGarbageCollector } from '../../../packages/cache-gc.js';
import { PackageCache, type CachedPackage } from '../../../packages/cache.js';
import { eventually } from '../../support/agent.js';
import { makePackage } from '../../support/pods.js';

const HOUR = 3_600_000;

let scratch: string;
let caches = 0;

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-cache-gc-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A cache holding one real package per name, each last used `hoursAgo` hours ago. */
async function cacheWith(hoursAgo: Record<string, number>) {
  caches += 1;
  const dir = path.join(scratch, `cache-${caches}`);
  const cache = new PackageCache({ dir, registries: { insecure: [], credentials: {} } });
  const blobs: Record<string, CachedPackage> = {};
  const sources: Record<string, string> = {};
  for (const [name, hours] of Object.entries(hoursAgo)) {
    const pkg = await makePackage({ 'name.txt': `${name}\n`.repeat(100 + caches) });
    const blob = await cache.fetch(pkg.reference);
    await lastUsed(blob, hours);
    blobs[name] = blob;
    sources[name] = pkg.file;
  }
  const size = (...names: string[]) => names.reduce((sum, name) => sum + (blobs[name]?.size ?? 0), 0);
  const kept = (name: string) => existsSync(blobs[name]?.path ?? '');
  const digest = (name: string) => blobs[name]?.digest ?? '';
  return { cache, dir, blobs, sources, size, kept, digest };
}

async function lastUsed(blob: CachedPackage, hoursAgo: number): Promise<void> {
  const when = new Date(Date.now() - hoursAgo * HOUR);
  await utimes(blob.path, when, when);
}

describe('PackageCache.collectGarbage', () => {
  test('over the limit, removes unused blobs least recently used first, only as many as needed', async () => {
    const { cache, size, kept, digest } = await cacheWith({ a: 3, b: 1, c: 2 });
    const first = await cache.collectGarbage({ limitBytes: size('b', 'c'), inUse: [] });
    assert.deepEqual(first, {
      removed: [digest('a')],
      freedBytes: size('a'),
      remainingBytes: size('b', 'c'),
    });
    assert.deepEqual([kept('a'), kept('b'), kept('c')], [false, true, true]);

    const second = await cache.collectGarbage({ limitBytes: size('b'), inUse: [] });
    assert.deepEqual(second.removed, [digest('c')]);
    assert.deepEqual([kept('b'), kept('c')], [true, false]);
  });

  test('a blob in use is never removed, even when the cache stays over the limit', async () => {
    const { cache, size, kept, digest } = await cacheWith({ a: 3, b: 1, c: 2 });
    const result = await cache.collectGarbage({ limitBytes: 1, inUse: new Set([digest('a')]) });
    assert.deepEqual(result, {
      removed: [digest('c'), digest('b')],
      freedBytes: size('b', 'c'),
      remainingBytes: size('a'),
    });
    assert.equal(kept('a'), true);
  });

  test('a blob used within the grace period is never removed', async () => {
    const { cache, blobs, size, kept } = await cacheWith({ old: 2, recent: 0.05, fresh: 0 });
    // Just fetched: stored now, whatever the source file's age.
    assert.ok(Date.now() - (await stat(blobs.fresh?.path ?? '')).mtimeMs < 60_000);
    const result = await cache.collectGarbage({ limitBytes: 1, inUse: [] });
    assert.equal(result.removed.length, 1);
    assert.deepEqual([kept('old'), kept('recent'), kept('fresh')], [false, true, true]);
    assert.equal(result.remainingBytes, size('recent', 'fresh'));

    const shorter = await cache.collectGarbage({ limitBytes: 1, inUse: [], graceMs: 60_000 });
    assert.equal(shorter.removed.length, 1);
    assert.deepEqual([kept('recent'), kept('fresh')], [false, true]);
  });

  test('under the limit nothing is removed, however old', async () => {
    const { cache, dir, size } = await cacheWith({ a: 100, b: 200 });
    // Not a blob: never counted or touched.
    const stray = path.join(dir, 'blobs', 'sha256', 'notes.txt');
    await writeFile(stray, 'x'.repeat(10_000));
    const result = await cache.collectGarbage({ limitBytes: size('a', 'b'), inUse: [], graceMs: 0 });
    assert.deepEqual(result, { removed: [], freedBytes: 0, remainingBytes: size('a', 'b') });
    assert.equal(existsSync(stray), true);
  });

  test('a limit of 0 disables collection', async () => {
    const { cache, size, kept } = await cacheWith({ a: 100, b: 200 });
    const result = await cache.collectGarbage({ limitBytes: 0, inUse: [], graceMs: 0 });
    assert.deepEqual(result, { removed: [], freedBytes: 0, remainingBytes: size('a', 'b') });
    assert.deepEqual([kept('a'), kept('b')], [true, true]);
  });

  test('a cache hit makes the blob the most recently used', async () => {
    const { cache, blobs, sources, size, kept, digest } = await cacheWith({ a: 3, b: 1 });
    // The source is gone: the fetch below can only be served from the cache.
    await rm(sources.a ?? '');
    const hit = await cache.fetch(`file://${sources.a}`, { digest: digest('a') });
    assert.equal(hit.path, blobs.a?.path);
    assert.ok(Date.now() - (await stat(hit.path)).mtimeMs < 60_000);
    const result = await cache.collectGarbage({ limitBytes: size('a'), inUse: [], graceMs: 0 });
    assert.deepEqual(result.removed, [digest('b')]);
    assert.deepEqual([kept('a'), kept('b')], [true, false]);
  });

  test('collections asked for at once run one after the other', async () => {
    const { cache, size } = await cacheWith({ a: 3, b: 2, c: 1 });
    const results = await Promise.all([
      cache.collectGarbage({ limitBytes: 1, inUse: [] }),
      cache.collectGarbage({ limitBytes: 1, inUse: [] }),
    ]);
    assert.deepEqual(
      results.map((r) => [r.removed.length, r.freedBytes]),
      [
        [3, size('a', 'b', 'c')],
        [0, 0],
      ],
    );
  });
});

/** A logger whose lines the test can read. */
function capturedLogger() {
  const lines: { level: number; msg: string; [field: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('CacheGarbageCollector', () => {
  test('collects soon after start and then periodically, logs what it freed, and stops', async () => {
    const { cache, size, kept, digest } = await cacheWith({ a: 3, b: 2 });
    const { logger, lines } = capturedLogger();
    let inUse = [digest('b')];
    const collector = new CacheGarbageCollector({
      cache,
      limitBytes: 1,
      inUse: () => inUse,
      logger,
      firstDelayMs: 0,
      intervalMs: 20,
    });
    collector.start();
    await eventually('a removed', () => !kept('a'), 5_000, 10);
    assert.equal(kept('b'), true);
    const removed = lines.find((l) => l.msg === 'removed unused packages from the cache');
    assert.equal(removed?.level, 30);
    assert.equal(removed?.removed, 1);
    assert.equal(removed?.freed_bytes, size('a'));

    // No longer in use: the next periodic collection takes it.
    inUse = [];
    await eventually('b removed', () => !kept('b'), 5_000, 10);
    await collector.stop();
  });

  test('a failed collection is logged as a warning and the next one runs', async () => {
    const { cache, kept } = await cacheWith({ a: 3 });
    const { logger, lines } = capturedLogger();
    let calls = 0;
    const collector = new CacheGarbageCollector({
      cache,
      limitBytes: 1,
      inUse: () => {
        calls += 1;
        if (calls === 1) throw new Error('cannot tell what is in use');
        return [];
      },
      logger,
      firstDelayMs: 0,
      intervalMs: 10,
    });
    collector.start();
    await eventually('a removed', () => !kept('a'), 5_000, 10);
    await collector.stop();
    const failed = lines.find((l) => l.msg === 'package cache garbage collection failed');
    assert.equal(failed?.level, 40);
    assert.equal(failed?.err, 'cannot tell what is in use');
  });

  test('stop() cancels the collections still to come', async () => {
    const { cache, kept } = await cacheWith({ a: 3 });
    const { logger } = capturedLogger();
    const collector = new CacheGarbageCollector({
      cache,
      limitBytes: 1,
      inUse: () => [],
      logger,
      firstDelayMs: 20,
    });
    collector.start();
    await collector.stop();
    await sleep(60);
    assert.equal(kept('a'), true);
  });
});
