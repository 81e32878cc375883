import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import { keepPreviousRun } from '../../../agent/process/log-rotation.js';
import { TestResources, waitFor, exists } from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

test('stdout and stderr go to <log_dir>/<name>.stdout.log and .stderr.log; each run starts them anew and the last run is kept as .previous', async () => {
  const box = await resources.sandbox('web');
  await box.script('talk.sh', '#!/bin/sh\necho "out $1"\necho "err $1" >&2\n');
  const stdout = path.join(box.logDir, 'web.stdout.log');
  const stderr = path.join(box.logDir, 'web.stderr.log');
  for (const run of ['one', 'two', 'three']) {
    const supervisor = resources.supervisor(new ContainerSupervisor(box.spec(`./talk.sh ${run}`)));
    await supervisor.start();
    await waitFor(`run ${run} to finish`, () => supervisor.status().state.terminated !== undefined);
  }
  assert.equal(await readFile(stdout, 'utf8'), 'out three\n');
  assert.equal(await readFile(stderr, 'utf8'), 'err three\n');
  assert.equal(await readFile(path.join(box.logDir, 'web.previous.stdout.log'), 'utf8'), 'out two\n');
  assert.equal(await readFile(path.join(box.logDir, 'web.previous.stderr.log'), 'utf8'), 'err two\n');
});

test("keepPreviousRun moves the live file and its rotations aside, replacing an older run's", async () => {
  const box = await resources.sandbox('keep');
  const live = path.join(box.logDir, 'keep.stdout.log');
  const previous = path.join(box.logDir, 'keep.previous.stdout.log');
  await mkdir(box.logDir, { recursive: true });
  await writeFile(`${previous}.2`, 'oldest run\n');
  await writeFile(live, 'c\n');
  await writeFile(`${live}.1`, 'b\n');
  await keepPreviousRun(live, previous, 5);
  assert.equal(await readFile(previous, 'utf8'), 'c\n');
  assert.equal(await readFile(`${previous}.1`, 'utf8'), 'b\n');
  assert.equal(await exists(`${previous}.2`), false);
  assert.equal(await exists(live), false);
  assert.equal(await exists(`${live}.1`), false);
  // No live file: no run to keep, the previous one stays.
  await keepPreviousRun(live, previous, 5);
  assert.equal(await readFile(previous, 'utf8'), 'c\n');
});

test('a running writer’s log is rotated by size (copy-truncate) and keeps writing at the start of the live file', async () => {
  const box = await resources.sandbox('chatty');
  await box.script(
    'chatty.sh',
    '#!/bin/sh\ni=0\nwhile :; do i=$((i+1)); echo "line $i"; echo "warning $i" >&2; sleep 0.002; done\n',
  );
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('./chatty.sh'), {
      logRotation: { maxBytes: 2000, maxFiles: 2, intervalMs: 50 },
    }),
  );
  await supervisor.start();
  const live = path.join(box.logDir, 'chatty.stdout.log');
  await waitFor('two rotations of stdout', () => exists(`${live}.2`));
  await waitFor('two rotations of stderr', () => exists(path.join(box.logDir, 'chatty.stderr.log.2')));
  // Let a third rotation happen, so the oldest file has had to be dropped.
  const second = await readFile(`${live}.2`, 'utf8');
  await waitFor('another rotation', async () => (await readFile(`${live}.2`, 'utf8')) !== second);
  await supervisor.stop();

  assert.equal(await exists(`${live}.3`), false, 'max_files 2: no .3');
  const numbers = (text: string): number[] =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => Number(/^line (\d+)$/.exec(line)?.[1]));
  const older = numbers(await readFile(`${live}.2`, 'utf8'));
  const newer = numbers(await readFile(`${live}.1`, 'utf8'));
  const current = await readFile(live, 'utf8');
  assert.ok(!current.includes('\0'), 'O_APPEND: after the truncate the writer starts at offset 0, no hole');
  assert.ok(older.length > 0 && newer.length > 0);
  assert.ok(
    older.every((n) => Number.isInteger(n)) && newer.every((n) => Number.isInteger(n)),
    'whole lines',
  );
  assert.ok(older.at(-1)! < newer[0]!, 'the .2 file is older than .1');
  const currentNumbers = numbers(current);
  if (currentNumbers.length > 0)
    assert.ok(newer.at(-1)! < currentNumbers[0]!, '.1 is older than the live file');
});
