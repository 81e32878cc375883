import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { ProcessTable } from '../../../agent/process/process-tree.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a process tree: the shell and its two children, counted once each, with memory and descriptors', async (t) => {
  const shell = spawn('sh', ['-c', 'sleep 60 & sleep 60 & wait'], { stdio: 'ignore', detached: true });
  t.after(() => {
    process.kill(-shell.pid!, 'SIGKILL');
  });
  const root = shell.pid!;
  let table = new ProcessTable();
  for (let i = 0; i < 100 && table.tree(root).length < 3; i++) {
    await sleep(20);
    table = new ProcessTable();
  }
  const pids = table.tree(root);
  assert.equal(pids.length, 3);
  assert.equal(new Set(pids).size, 3);
  assert.equal(pids[0], root);
  const usage = table.usage(root);
  assert.ok(usage);
  assert.equal(usage.processes, 3);
  assert.ok(usage.residentBytes > 0);
  // Each process has at least stdin, stdout and stderr; the sum is the per-process counts summed.
  const counted = pids.reduce((sum, pid) => sum + readdirSync(`/proc/${pid}/fd`).length, 0);
  assert.ok(usage.openFds >= 9);
  assert.equal(usage.openFds, counted);
  const started = usage.startTimeSeconds;
  assert.ok(Math.abs(started - Date.now() / 1000) < 30, `start time ${started} is about now`);
  assert.ok(usage.cpuSeconds >= 0);
});

test('a pid that is not running has no tree and no usage', () => {
  const table = new ProcessTable();
  const unused = 2 ** 22 + 1;
  assert.deepEqual(table.tree(unused), []);
  assert.equal(table.usage(unused), undefined);
});

test('a child tree does not include its parent: usage of a subtree is its own', async (t) => {
  const shell = spawn('sh', ['-c', 'sleep 60 & wait'], { stdio: 'ignore', detached: true });
  t.after(() => process.kill(-shell.pid!, 'SIGKILL'));
  let table = new ProcessTable();
  for (let i = 0; i < 100 && table.tree(shell.pid!).length < 2; i++) {
    await sleep(20);
    table = new ProcessTable();
  }
  const [, child] = table.tree(shell.pid!);
  assert.ok(child);
  assert.deepEqual(table.tree(child), [child]);
  assert.ok(table.tree(process.pid).includes(shell.pid!));
});
