import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlPlaneBinaries } from '../../cli/control-plane/binaries.js';
import type { ClusterState } from '../../cli/control-plane/cluster.js';
import { isAlive } from '../../cli/control-plane/processes.js';
import { repoPath } from '../../common/paths.js';
import { runCommand } from '../support/control-plane.js';

const seer = repoPath('dist', 'cli', 'main.js');
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-cluster-test-'));
  dirs.push(dir);
  return dir;
}

async function waitUntilGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    alive = pids.filter(isAlive);
  }
  return alive;
}

after(async () => {
  for (const dir of dirs) {
    await runCommand(process.execPath, [seer, 'cluster', 'down', '--dir', dir]);
    await rm(dir, { recursive: true, force: true });
  }
});

test('seer cluster up starts an RBAC-enabled API server and seer cluster down leaves no process', async () => {
  const dir = await tempDir();
  const { kubectl } = await controlPlaneBinaries();
  const up = await runCommand(process.execPath, [seer, 'cluster', 'up', '--dir', dir]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /API server ready at https:\/\/127\.0\.0\.1:\d+/);

  const state = JSON.parse(await readFile(path.join(dir, 'cluster.json'), 'utf8')) as ClusterState;
  const kubeconfig = path.join(dir, 'kubeconfig');
  const namespaces = await runCommand(kubectl, [
    '--kubeconfig',
    kubeconfig,
    'get',
    'namespaces',
    '-o',
    'name',
  ]);
  assert.equal(namespaces.code, 0, namespaces.stderr);
  assert.match(namespaces.stdout, /namespace\/default/);
  // Where the operator's Lease and the nodes' ServiceAccounts go.
  assert.match(namespaces.stdout, /namespace\/seer-system/);

  // RBAC is the authorizer: an identity with no bindings is refused, the admin is allowed.
  const stranger = await runCommand(kubectl, [
    '--kubeconfig',
    kubeconfig,
    'auth',
    'can-i',
    'list',
    'secrets',
    '--as',
    'someone',
  ]);
  assert.equal(stranger.stdout.trim(), 'no');
  const admin = await runCommand(kubectl, ['--kubeconfig', kubeconfig, 'auth', 'can-i', 'list', 'secrets']);
  assert.equal(admin.stdout.trim(), 'yes');

  const second = await runCommand(process.execPath, [seer, 'cluster', 'up', '--dir', dir]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /already running/);

  const down = await runCommand(process.execPath, [seer, 'cluster', 'down', '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await waitUntilGone([state.apiserver.pid, state.etcd.pid], 1000), []);
});

test('a cluster started for a test run is stopped when that run is killed with SIGKILL', async () => {
  const dir = await tempDir();
  const owner = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { startCluster } from ${JSON.stringify(repoPath('dist', 'cli', 'control-plane', 'cluster.js'))};
       const state = await startCluster({ dir: ${JSON.stringify(dir)}, ownerPid: process.pid });
       console.log(JSON.stringify(state));
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const state = await new Promise<ClusterState>((resolve, reject) => {
    let out = '';
    owner.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(JSON.parse(out) as ClusterState);
    });
    owner.on('exit', (code) => reject(new Error(`owner exited with ${code} before the cluster was ready`)));
  });
  assert.ok(isAlive(state.apiserver.pid) && isAlive(state.etcd.pid));
  owner.kill('SIGKILL');
  assert.deepEqual(await waitUntilGone([state.apiserver.pid, state.etcd.pid], 20_000), []);
});
