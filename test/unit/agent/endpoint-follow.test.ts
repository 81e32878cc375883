import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { followLogs } from '../../../agent/endpoint/follow.js';
import { keepPreviousRun, LogRotator } from '../../../agent/process/log-rotation.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const numbers = (text: string): number[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(/^line (\d+)$/.exec(line)?.[1]));

test('a follower sees every line of a fast writer exactly once across many rotations', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-follow-'));
  dirs.push(dir);
  const live = path.join(dir, 'app.stdout.log');
  const fd = openSync(live, 'a');
  // As the supervisor starts a container: the writer holds an O_APPEND descriptor of the live file.
  const writer = spawn('/bin/sh', ['-c', 'i=0; while :; do i=$((i+1)); echo "line $i"; done'], {
    stdio: ['ignore', fd, 'ignore'],
  });
  closeSync(fd);
  const rotator = new LogRotator(
    [live],
    { maxBytes: 64 * 1024, maxFiles: 3, intervalMs: 20 },
    pino({ level: 'silent' }),
  );
  rotator.start();
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await sleep(100);
  const following = followLogs(
    out,
    dir,
    'app',
    { stream: 'stdout', previous: false, follow: true },
    new AbortController().signal,
  );
  await sleep(3000);
  writer.kill('SIGKILL');
  await new Promise((resolve) => writer.once('exit', resolve));
  await rotator.settle();
  // The next run sets this one's files aside: the follower drains and ends.
  await keepPreviousRun(live, path.join(dir, 'app.previous.stdout.log'), 3);
  await following;

  // Rotation cuts whole blocks from the live file's head, so once the oldest rotated file has been
  // dropped, the oldest one kept may begin mid-line: that fragment is the one line not whole.
  const lines = text.split('\n').filter(Boolean);
  if (lines[0] && !/^line \d+$/.test(lines[0])) lines.shift();
  const seen = numbers(lines.join('\n'));
  const rotatedText = await readFile(path.join(dir, 'app.previous.stdout.log.1'), 'utf8');
  const rotatedAway = numbers(rotatedText);
  // The last line written: in the live file, or in `.1` when a rotation had just emptied it (the
  // two together, as the cut may fall inside a line).
  const liveText = await readFile(path.join(dir, 'app.previous.stdout.log'), 'utf8');
  const last = numbers(rotatedText + liveText).at(-1) ?? 0;
  assert.ok(rotatedAway.length > 0, 'rotations happened');
  assert.ok(seen.length > 10_000, `lines written: ${seen.length}`);
  // From the first line the follower saw (the oldest kept file's first) to the very last, each once.
  const first = seen[0] ?? 0;
  assert.deepEqual(
    seen,
    Array.from({ length: last - first + 1 }, (_, i) => first + i),
    'no line lost or repeated',
  );
});
