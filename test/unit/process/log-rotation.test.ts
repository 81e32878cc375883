import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { rotateIfLarge } from '../../../agent/process/log-rotation.js';
import { logTail } from '../../../agent/process/log-files.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-rotation-test-'));
  dirs.push(dir);
  return dir;
}

const missing = (file: string): Promise<boolean> =>
  stat(file).then(
    () => false,
    () => true,
  );

test('copy-truncate rotation shifts older files, keeps max_files of them and empties the live file', async () => {
  const file = path.join(await tempDir(), 'app.stdout.log');
  const settings = { maxBytes: 10, maxFiles: 2 };
  await writeFile(file, 'short');
  assert.equal(await rotateIfLarge(file, settings), false, 'below max_bytes nothing happens');

  for (const content of ['first-----', 'second----', 'third-----']) {
    await writeFile(file, content);
    assert.equal(await rotateIfLarge(file, settings), true);
    assert.equal(await readFile(file, 'utf8'), '');
  }
  assert.equal(await readFile(`${file}.1`, 'utf8'), 'third-----');
  assert.equal(await readFile(`${file}.2`, 'utf8'), 'second----');
  assert.ok(await missing(`${file}.3`), 'the oldest rotated file is dropped');
});

test('max_files 0 only truncates', async () => {
  const file = path.join(await tempDir(), 'app.stderr.log');
  await writeFile(file, 'x'.repeat(100));
  assert.equal(await rotateIfLarge(file, { maxBytes: 10, maxFiles: 0 }), true);
  assert.equal((await stat(file)).size, 0);
  assert.ok(await missing(`${file}.1`));
});

test('logTail quotes the last non-empty line written since an offset', async () => {
  const file = path.join(await tempDir(), 'app.stderr.log');
  await writeFile(file, 'old run failed\nnew run: starting\nnew run: bind failed\n\n');
  assert.equal(logTail(file, 15), 'new run: bind failed');
  assert.equal(
    logTail(file, 1000),
    'new run: bind failed',
    'an offset past the end (file truncated) reads the tail',
  );
  await writeFile(file, 'only old output\n');
  assert.equal(logTail(file, 16), '');
  assert.equal(logTail(path.join(path.dirname(file), 'none.log')), '');
});
