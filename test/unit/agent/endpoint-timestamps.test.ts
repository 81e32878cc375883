import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { followLogs } from '../../../agent/endpoint/follow.js';
import { firstLineSince, formatStamp, withTimestamps } from '../../../agent/endpoint/log-stamps.js';
import type { LogQuery } from '../../../agent/endpoint/logs.js';
import { LogRotator } from '../../../agent/process/log-rotation.js';
import { WriteTimes } from '../../../agent/process/log-times.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('a line is stamped from the part of the read it ends in', () => {
  const times = WriteTimes.parse('r 5\n4 1000\n8 2000\n11 3000\n');
  // `.1` holds stream bytes 0–4 ("a\nbbb"), the live file from 5 on ("cc\ndd\nee").
  const read = {
    data: Buffer.from('a\nbbbcc\ndd\nee'),
    parts: [
      { at: 0, base: 0, mtimeMs: 1500 },
      { at: 5, base: 5, mtimeMs: 9000 },
    ],
  };
  // "a\n" ends at 2; "bbbcc\n", across two files, at 8 (its end counts); "ee" is not sampled yet.
  assert.equal(
    withTimestamps(read, times, 0).toString(),
    [
      `${formatStamp(1000)} a`,
      `${formatStamp(2000)} bbbcc`,
      `${formatStamp(3000)} dd`,
      `${formatStamp(9000)} ee`,
    ].join('\n'),
  );
  assert.equal(withTimestamps(read, times, 8).toString(), `${formatStamp(3000)} dd\n${formatStamp(9000)} ee`);
  assert.equal(firstLineSince(read, times, 2000), 2);
  assert.equal(firstLineSince(read, times, 2001), 8);
  assert.equal(firstLineSince(read, times, 9001), 13, 'nothing that new');
  const unknown = { data: Buffer.from('old\n'), parts: [{ at: 0, base: undefined, mtimeMs: 500 }] };
  assert.equal(
    withTimestamps(unknown, times, 0).toString(),
    `${formatStamp(500)} old\n`,
    'a file older than the index: its own mtime',
  );
  assert.equal(formatStamp(Date.UTC(2026, 11, 3, 16, 30, 0, 123)), '2026-12-03T16:30:00.123Z');
});

async function collect(dir: string, query: LogQuery): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await followLogs(out, dir, 'app', query, new AbortController().signal);
  return text;
}

test('timestamps and since_seconds over a rotating log written by a real process', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-stamps-'));
  dirs.push(dir);
  const live = path.join(dir, 'app.stdout.log');
  const fd = openSync(live, 'a');
  // Each line carries the time the writer wrote it, to compare with the stamp. Lines of 120 bytes,
  // files of a block or more: rotation collapses whole blocks, and loses no line.
  const writer = spawn(
    '/bin/sh',
    [
      '-c',
      'pad=$(printf "%0100d" 0); i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo "line $i $(date +%s%3N) $pad"; sleep 0.02; done',
    ],
    { stdio: ['ignore', fd, 'ignore'] },
  );
  closeSync(fd);
  const rotator = new LogRotator(
    [live],
    { maxBytes: 4096, maxFiles: 20, intervalMs: 50 },
    pino({ level: 'silent' }),
  );
  rotator.start();
  await new Promise((resolve) => writer.once('exit', resolve));
  await rotator.settle();

  const stamped = (await collect(dir, { stream: 'stdout', previous: false, timestamps: true }))
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^(\S+) line (\d+) (\d+) 0+$/.exec(line);
      assert.ok(match, line);
      return { stamp: Date.parse(match[1] ?? ''), n: Number(match[2]), written: Number(match[3]) };
    });
  assert.deepEqual(
    stamped.map(({ n }) => n),
    Array.from({ length: 150 }, (_, i) => i + 1),
    'every line, once, across the rotations',
  );
  assert.ok(WriteTimes.read(live).removals.length >= 3, 'the log rotated');
  for (const { stamp, n, written } of stamped) {
    // Never before the write (to within the kernel's file-time tick), and soon after it.
    assert.ok(stamp >= written - 20, `line ${n} stamped ${stamp - written} ms before it was written`);
    assert.ok(stamp - written < 1500, `line ${n} stamped ${stamp - written} ms after it was written`);
  }
  for (let i = 1; i < stamped.length; i++)
    assert.ok((stamped[i]?.stamp ?? 0) >= (stamped[i - 1]?.stamp ?? 0), 'stamps never go back');

  // since: a suffix of the lines, the ones stamped within it; then tail_lines of those.
  await sleep(1500);
  const recent = (sinceSeconds: number, tailLines?: number) =>
    collect(dir, {
      stream: 'stdout',
      previous: false,
      sinceSeconds,
      ...(tailLines ? { tailLines } : {}),
    }).then((text) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => Number(line.split(' ')[1])),
    );
  assert.deepEqual(await recent(1), [], 'nothing written in the last second');
  const all = await recent(3600);
  assert.equal(all.length, 150);
  const before = Date.now() - 3000;
  const some = await recent(3);
  const since = (cutoff: number) => stamped.filter(({ stamp }) => stamp >= cutoff).length;
  // The read's own cutoff fell between these two.
  const most = since(before);
  const fewest = since(Date.now() - 3000);
  assert.ok(some.length > 0 && some.length < 150, `${some.length} lines in the last 3 s`);
  assert.ok(some.length <= most && some.length >= fewest, `${some.length} within ${fewest}–${most}`);
  assert.deepEqual(some, all.slice(all.length - some.length), 'a suffix');
  assert.deepEqual(await recent(3600, 5), [146, 147, 148, 149, 150], 'since, then tail');
});
