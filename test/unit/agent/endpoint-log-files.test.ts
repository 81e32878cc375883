import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Refusal } from '../../../agent/endpoint/auth.js';
import { parseLogFilePath, refuseDotSegments } from '../../../agent/endpoint/log-file-path.js';
import {
  appLogRoot,
  containerLogRoot,
  isContainerLogFile,
  listLogFiles,
  MAX_DEPTH,
  openLogFile,
} from '../../../agent/endpoint/log-files.js';
import { BadQuery, parseTailLines, tailOfFile } from '../../../agent/endpoint/logs.js';

let dir: string;
let containerDir: string;
let appDir: string;
let outside: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'seer-log-files-'));
  containerDir = path.join(dir, 'container');
  appDir = path.join(dir, 'app');
  outside = path.join(dir, 'outside');
  await mkdir(path.join(containerDir, 'logs', 'old'), { recursive: true });
  await mkdir(path.join(containerDir, 'bin'), { recursive: true });
  await mkdir(path.join(appDir, 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret.log'), 'SECRET\n');
  await writeFile(path.join(containerDir, 'logs', 'app.log'), 'one\ntwo\nthree\n');
  await writeFile(path.join(containerDir, 'logs', 'old', 'app.txt'), 'old\n');
  await writeFile(path.join(containerDir, 'server.log'), 'server\n');
  await writeFile(path.join(containerDir, 'bin', 'run.sh'), 'secret config\n');
  await symlink(path.join(outside, 'secret.log'), path.join(containerDir, 'logs', 'evil.log'));
  await symlink(outside, path.join(containerDir, 'logs', 'outside'));
  await symlink('app.log', path.join(containerDir, 'logs', 'alias.log'));
  await symlink('../bin/run.sh', path.join(containerDir, 'logs', 'run.log'));
  let deep = path.join(containerDir, 'logs');
  for (let i = 0; i < MAX_DEPTH + 1; i++) deep = path.join(deep, `d${i}`);
  await mkdir(deep, { recursive: true });
  await writeFile(path.join(deep, 'too-deep.log'), 'deep\n');
  await writeFile(path.join(appDir, 'a.txt'), 'a\n');
  await writeFile(path.join(appDir, 'sub', 'b'), 'b\n');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('container log files: a .log name, or anything below a log or logs directory', () => {
  assert.equal(isContainerLogFile(['server.log']), true);
  assert.equal(isContainerLogFile(['logs', 'app.txt']), true);
  assert.equal(isContainerLogFile(['var', 'log', 'messages']), true);
  assert.equal(isContainerLogFile(['bin', 'run.sh']), false);
  assert.equal(isContainerLogFile(['logs']), false);
  assert.equal(isContainerLogFile(['catalog', 'x']), false);
});

test('listing: regular files the rule admits, links neither listed nor followed, depth bounded', async () => {
  const files = await listLogFiles([containerLogRoot(containerDir), appLogRoot(appDir)]);
  assert.deepEqual(
    files.map((f) => f.path),
    [
      'container/logs/app.log',
      'container/logs/old/app.txt',
      'container/server.log',
      'app/a.txt',
      'app/sub/b',
    ],
  );
  const app = files[0];
  assert.equal(app?.size, 14);
  assert.ok(app && !Number.isNaN(Date.parse(app.modified)));
});

test('listing a root that does not exist yet gives no files', async () => {
  assert.deepEqual(await listLogFiles([appLogRoot(path.join(dir, 'missing'))]), []);
});

test('request paths: a root name then plain segments', () => {
  assert.deepEqual(parseLogFilePath('container/logs/app.log'), {
    root: 'container',
    segments: ['logs', 'app.log'],
  });
  assert.deepEqual(parseLogFilePath('app/a%20b.log'), { root: 'app', segments: ['a b.log'] });
  for (const bad of [
    '/etc/passwd',
    'container/../x.log',
    'container/./x.log',
    'container//x.log',
    'container/logs%2f..%2f..%2fx',
    'container/%2e%2e/x',
    'container/a%5cb',
    'container/a%00.log',
    'container/%zz',
    'container',
  ])
    assert.throws(() => parseLogFilePath(bad), BadQuery, bad);
  assert.throws(
    () => parseLogFilePath('etc/passwd'),
    (error: unknown) => error instanceof Refusal && error.status === 404,
  );
});

test('raw request paths with dot segments, plain, encoded or behind a backslash, are refused', () => {
  refuseDotSegments('/pods/ns/p/containers/c/logfiles/container/logs/app.log');
  refuseDotSegments('/pods/ns/p/containers/c/logfiles/container/logs/a..b.log');
  for (const bad of [
    '/pods/ns/p/containers/c/logfiles/../../x',
    '/pods/ns/p/containers/c/logfiles/%2e%2e/x',
    '/pods/ns/p/containers/c/logfiles/.%2E/x',
    '/pods/ns/p/containers/c/logfiles/container\\..\\x',
    '/pods/ns/p/containers/c/logfiles/%2e/x',
  ])
    assert.throws(() => refuseDotSegments(bad), BadQuery, bad);
});

test('tail_lines: a whole number, or refused', () => {
  assert.equal(parseTailLines(new URLSearchParams('')), undefined);
  assert.equal(parseTailLines(new URLSearchParams('tail_lines=0')), 0);
  assert.equal(parseTailLines(new URLSearchParams('tail_lines=12')), 12);
  for (const bad of ['-1', '1.5', 'ten', '', '1e3'])
    assert.throws(() => parseTailLines(new URLSearchParams({ tail_lines: bad })), BadQuery, bad);
});

async function refusedWith(status: number, root: ReturnType<typeof containerLogRoot>, requested: string) {
  await assert.rejects(
    openLogFile(root, parseLogFilePath(requested)),
    (error: unknown) => error instanceof Refusal && error.status === status,
    requested,
  );
}

test('opening: a log file inside its root, even through a link that stays inside', async () => {
  const root = containerLogRoot(containerDir);
  for (const requested of ['container/logs/app.log', 'container/logs/alias.log']) {
    const handle = await openLogFile(root, parseLogFilePath(requested));
    try {
      assert.equal((await tailOfFile(handle, 2)).toString(), 'two\nthree\n');
    } finally {
      await handle.close();
    }
  }
});

test('opening refuses links out of the root, non-log files, directories and missing files', async () => {
  const root = containerLogRoot(containerDir);
  await refusedWith(403, root, 'container/logs/evil.log');
  await refusedWith(403, root, 'container/logs/outside/secret.log');
  await refusedWith(403, root, 'container/logs/run.log');
  await refusedWith(403, root, 'container/bin/run.sh');
  await refusedWith(400, root, 'container/logs/old');
  await refusedWith(404, root, 'container/logs/missing.log');
  await refusedWith(404, root, 'container/server.log/below');
});

test('tailOfFile reads back across blocks and returns the whole file when it is shorter', async () => {
  const file = path.join(dir, 'long.log');
  const lines = Array.from({ length: 20000 }, (_, i) => `line ${i}`);
  await writeFile(file, `${lines.join('\n')}\n`);
  const root = appLogRoot(dir);
  const handle = await openLogFile(root, parseLogFilePath('app/long.log'));
  try {
    assert.equal((await tailOfFile(handle, 3)).toString(), 'line 19997\nline 19998\nline 19999\n');
    assert.equal((await tailOfFile(handle, 0)).length, 0);
    assert.equal((await tailOfFile(handle, 30000)).toString().split('\n').length, 20001);
  } finally {
    await handle.close();
  }
});
