import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, test } from 'node:test';
import { readProcStat } from '../../../agent/process/proc.js';
import { ProcessWatcher } from '../../../agent/process/process-watcher.js';
import { killQuietly, waitFor } from '../../support/processes.js';

const children: ChildProcess[] = [];
after(() => {
  for (const child of children) killQuietly(child.pid);
});

async function sleeper(): Promise<number> {
  const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child.pid ?? -1;
}

const timeouts = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

test('one timer for every watched process, none once nothing is watched', async () => {
  const watcher = new ProcessWatcher();
  const pids = await Promise.all(Array.from({ length: 20 }, sleeper));
  const before = timeouts();
  const gone = new Set<number>();
  for (const pid of pids) watcher.watch(pid, readProcStat(pid)?.startTime, 20, () => gone.add(pid));
  assert.equal(timeouts(), before + 1);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await waitFor('every exit to be noticed', () => gone.size === pids.length);
  assert.equal(watcher.size, 0);
  assert.equal(timeouts(), before);
});

test('a pid now owned by another process (other start time) is reported gone; unwatch() stops the reports', async () => {
  const watcher = new ProcessWatcher();
  const pid = await sleeper();
  const startTime = readProcStat(pid)?.startTime ?? 0;
  let reused = 0;
  watcher.watch(pid, startTime - 1, 20, () => (reused += 1));
  let kept = 0;
  const unwatch = watcher.watch(pid, startTime, 20, () => (kept += 1));
  await waitFor('the reused pid to be reported', () => reused === 1);
  unwatch();
  assert.equal(watcher.size, 0);
  process.kill(pid, 'SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(kept, 0);
  assert.equal(reused, 1, 'reported once');
});

test('groupEmpty resolves true once the group is gone, false after the timeout while it lives', async () => {
  const watcher = new ProcessWatcher();
  const pid = await sleeper();
  assert.equal(await watcher.groupEmpty(pid, 50), false);
  const empty = watcher.groupEmpty(pid, 20_000);
  process.kill(-pid, 'SIGKILL');
  assert.equal(await empty, true);
  assert.equal(await watcher.groupEmpty(pid, 20_000), true, 'at once for a group already gone');
  assert.equal(watcher.size, 0);
});
