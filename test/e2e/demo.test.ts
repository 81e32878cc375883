import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ClusterState } from '../../cli/control-plane/cluster.js';
import { isAlive } from '../../cli/control-plane/processes.js';
import { repoPath } from '../../common/paths.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually } from '../support/agent.js';

test('seer demo runs the example on two nodes and Ctrl-C leaves nothing running', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-demo-test-'));
  const demo = spawn(process.execPath, [repoPath('dist', 'cli', 'main.js'), 'demo', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve));
  try {
    await eventually('the demo ready', () => output.includes('Press Ctrl-C'), 180_000, 250);
    assert.match(output, /seerdeployment\.seer\.io\/hello\s+2\s+2\s+2\s+2/);
    assert.match(output, /seernode\.seer\.io\/demo-1\s+Ready/);
    const state = JSON.parse(
      await readFile(path.join(dir, 'cluster', 'cluster.json'), 'utf8'),
    ) as ClusterState;
    const rest = RestClient.fromKubeconfig(state.kubeconfig);
    const pods = (await new SeerClient(rest).list('SeerPod', { namespace: 'default' })).items;
    rest.close();
    assert.deepEqual(new Set(pods.map((p) => p.spec.node_name)), new Set(['demo-1', 'demo-2']));
    const pids = pods.map((p) => p.status?.container_statuses?.[0]?.state?.running?.pid ?? 0);
    assert.ok(pids.every((pid) => pid > 0 && isAlive(pid)));

    demo.kill('SIGINT');
    assert.equal(await exited, 0, output);
    assert.ok(
      pids.every((pid) => !isAlive(pid)),
      'the example processes stopped',
    );
    assert.ok(!isAlive(state.apiserver.pid) && !isAlive(state.etcd.pid), 'the control plane stopped');
  } finally {
    // After a failure the demo still gets its Ctrl-C, so it stops what it started.
    if (demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGINT');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
      demo.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  }
});
