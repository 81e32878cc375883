import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { keepPreviousRun, rotateIfLarge } from '../../../agent/process/log-rotation.js';
import { compact, timesFile, WriteTimeRecorder, WriteTimes } from '../../../agent/process/log-times.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-log-times-'));
  dirs.push(dir);
  return dir;
}

test('an index reads samples and rotations, skipping torn or foreign lines', () => {
  const times = WriteTimes.parse('10 1000\nr 8\n20 1500\n15 1600\n30 1400\ngarbage\n40 2000\n4');
  assert.deepEqual(times.samples, [
    { end: 10, ms: 1000 },
    { end: 20, ms: 1500 },
    { end: 40, ms: 2000 },
  ]);
  assert.deepEqual(times.removals, [8]);
  assert.equal(times.base(), 8, "the live file's byte 0");
  assert.equal(times.base(1), 0, "`.1`'s byte 0");
  assert.equal(times.base(2), undefined, 'older than the index');
});

test('a line is stamped with the first sample that holds its end', () => {
  const times = WriteTimes.parse('10 1000\n20 1500\n40 2000\n');
  assert.equal(times.timeOf(1), 1000);
  assert.equal(times.timeOf(10), 1000);
  assert.equal(times.timeOf(11), 1500);
  assert.equal(times.timeOf(40), 2000);
  assert.equal(times.timeOf(41), undefined, 'not sampled yet');
  assert.equal(times.firstOffsetAt(900), 0);
  assert.equal(times.firstOffsetAt(1500), 10, 'lines ending after 10 are stamped 1500 or later');
  assert.equal(times.firstOffsetAt(1501), 20);
  assert.equal(times.firstOffsetAt(5000), 40);
});

test('compaction sums old rotations, drops what no kept file holds and thins the older samples', () => {
  const removals = [100, 100, 100, 100, 100];
  const samples = Array.from({ length: 10_000 }, (_, i) => ({ end: (i + 1) * 5, ms: 1000 + i }));
  const compacted = compact(new WriteTimes(samples, removals), 2);
  assert.deepEqual(compacted.removals, [300, 100, 100]);
  assert.equal(compacted.base(), 500, 'offsets unchanged');
  assert.equal(compacted.base(2), 300, 'the oldest kept file starts where it did');
  assert.ok(compacted.samples.length <= 2048, `${compacted.samples.length} samples`);
  assert.ok((compacted.samples[0]?.end ?? 0) > 300, 'nothing before the oldest kept byte');
  assert.deepEqual(compacted.samples.at(-1), samples.at(-1), 'the newest sample stays');
  // Thinned, a line is stamped later than before, never earlier.
  const full = new WriteTimes(samples, removals);
  for (const end of [301, 5000, 25_000, 49_999, 50_000])
    assert.ok((compacted.timeOf(end) ?? 0) >= (full.timeOf(end) ?? 0), String(end));
  assert.deepEqual(WriteTimes.parse(compacted.format()), compacted, 'written and read back');
});

test('the recorder samples growth with the mtime, and rotation keeps offsets', async () => {
  const dir = await tempDir();
  const live = path.join(dir, 'app.stdout.log');
  writeFileSync(live, 'one\ntwo\n');
  const recorder = new WriteTimeRecorder([live], 3, 10_000);
  await recorder.sampleAll();
  await recorder.sampleAll();
  let times = WriteTimes.read(live);
  assert.equal(times.samples.length, 1, 'no sample without growth');
  assert.deepEqual(times.samples[0], { end: 8, ms: Math.ceil((await stat(live)).mtimeMs) });

  appendFileSync(live, 'x'.repeat(9000) + '\n');
  await recorder.sampleAll();
  // Large enough to rotate: whole blocks move to `.1`, the rest stays live.
  assert.equal(await rotateIfLarge(live, { maxBytes: 4096, maxFiles: 3 }), true);
  appendFileSync(live, 'three\n');
  await recorder.sampleAll();
  times = WriteTimes.read(live);
  const moved = times.removals[0] ?? 0;
  assert.ok(moved > 0 && moved % 512 === 0, `rotation recorded: ${moved}`);
  assert.equal(times.base(), moved);
  const rotated = (await stat(`${live}.1`)).size;
  assert.equal(rotated, moved, '`.1` holds what was removed');
  assert.equal(times.samples.at(-1)?.end, 8 + 9001 + 6, 'the stream offset counts every byte once');
  assert.equal(times.samples.at(-1)?.end, moved + (await stat(live)).size);

  // A new recorder (an agent restarted) goes on from the index.
  appendFileSync(live, 'four\n');
  await new WriteTimeRecorder([live], 3, 10_000).sampleAll();
  assert.equal(WriteTimes.read(live).samples.at(-1)?.end, 8 + 9001 + 6 + 5);

  // The next run: the index moves with the log, and an older previous index goes.
  const previous = path.join(dir, 'app.previous.stdout.log');
  writeFileSync(timesFile(previous), '1 1\n');
  await recorder.settle();
  await keepPreviousRun(live, previous, 3);
  assert.equal(WriteTimes.read(previous).samples.at(-1)?.end, 8 + 9001 + 6 + 5);
  await assert.rejects(readFile(timesFile(live)), { code: 'ENOENT' });
});

test('a run without an index sets aside no stale one', async () => {
  const dir = await tempDir();
  const live = path.join(dir, 'app.stdout.log');
  const previous = path.join(dir, 'app.previous.stdout.log');
  writeFileSync(live, 'line\n');
  writeFileSync(timesFile(previous), '99 99\n');
  await keepPreviousRun(live, previous, 3);
  await assert.rejects(readFile(timesFile(previous)), { code: 'ENOENT' });
});
