import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { BadQuery, lastLines, parseLogQuery, streamFiles, writeLogs } from '../../../agent/endpoint/logs.js';

test('lastLines: the last N lines, a final line without its newline included', () => {
  const text = (s: string, n: number) => lastLines(Buffer.from(s), n).toString();
  assert.equal(text('a\nb\nc\n', 2), 'b\nc\n');
  assert.equal(text('a\nb\nc', 2), 'b\nc');
  assert.equal(text('a\nb\nc\n', 3), 'a\nb\nc\n');
  assert.equal(text('a\nb\nc\n', 10), 'a\nb\nc\n');
  assert.equal(text('\n\nx\n', 2), '\nx\n');
  assert.equal(text('a\n', 0), '');
  assert.equal(text('', 3), '');
});

test('parseLogQuery checks every parameter', () => {
  assert.deepEqual(parseLogQuery(new URLSearchParams('')), { stream: 'all', previous: false });
  assert.deepEqual(parseLogQuery(new URLSearchParams('stream=stderr&tail_lines=7&previous=true')), {
    stream: 'stderr',
    tailLines: 7,
    previous: true,
  });
  assert.deepEqual(parseLogQuery(new URLSearchParams('since_seconds=300&timestamps=true&follow=false')), {
    stream: 'all',
    previous: false,
    follow: false,
    sinceSeconds: 300,
    timestamps: true,
  });
  for (const bad of [
    'tail_lines=-1',
    'tail_lines=',
    'tail_lines=1e3',
    'stream=x',
    'follow=1',
    'since_seconds=0',
    'since_seconds=-5',
    'since_seconds=5m',
    'since_seconds=1.5',
    'since_seconds=',
    'timestamps=yes',
    'sinceSeconds=4',
    'previous=1',
  ])
    assert.throws(() => parseLogQuery(new URLSearchParams(bad)), BadQuery, bad);
});

test('the files of a stream, oldest first, all inside the log directory', () => {
  const files = streamFiles('/seer/pod/p/log', 'main', 'stdout');
  assert.equal(files.at(-1), '/seer/pod/p/log/main.stdout.log');
  assert.equal(files.length, 1, 'no rotated files there');
  assert.ok(files.every((f) => f.startsWith('/seer/pod/p/log/')));
  assert.throws(() => streamFiles('/seer/pod/p/log', '../../etc/x', 'stdout'), BadQuery);
  assert.equal(
    streamFiles('/seer/pod/p/log', 'main', 'stderr', true).at(-1),
    '/seer/pod/p/log/main.previous.stderr.log',
  );
});

async function collect(logDir: string, query: Parameters<typeof writeLogs>[3]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeLogs(out, logDir, 'main', query);
  return Buffer.concat(chunks).toString();
}

test('writeLogs reads rotated files before the live one, and tails across them', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-endpoint-logs-'));
  await writeFile(path.join(dir, 'main.stdout.log.2'), '1\n2\n');
  await writeFile(path.join(dir, 'main.stdout.log.1'), '3\n4\n');
  await writeFile(path.join(dir, 'main.stdout.log'), '5\n');
  await writeFile(path.join(dir, 'main.stderr.log'), 'e\n');
  await writeFile(path.join(dir, 'main.previous.stdout.log'), 'before\n');
  assert.equal(await collect(dir, { stream: 'stdout', previous: true }), 'before\n');
  assert.equal(await collect(dir, { stream: 'stdout', previous: false }), '1\n2\n3\n4\n5\n');
  assert.equal(await collect(dir, { stream: 'stdout', tailLines: 3, previous: false }), '3\n4\n5\n');
  assert.equal(await collect(dir, { stream: 'stdout', tailLines: 4, previous: false }), '2\n3\n4\n5\n');
  assert.equal(await collect(dir, { stream: 'all', tailLines: 1, previous: false }), '5\ne\n');
  assert.equal(await collect(dir, { stream: 'stderr', previous: false }), 'e\n');
  assert.deepEqual(
    streamFiles(dir, 'main', 'stdout').map((f) => path.basename(f)),
    ['main.stdout.log.2', 'main.stdout.log.1', 'main.stdout.log'],
  );
});
