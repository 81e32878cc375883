/**
 * How long `seer cluster up` takes until the API server is ready, with the binaries already built.
 * Baseline in the same run: etcd alone until it answers /health, the floor under any start.
 * Target: API server ready in 5 s or less.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlPlaneBinaries } from '../cli/control-plane/binaries.js';
import { startCluster, stopCluster } from '../cli/control-plane/cluster.js';
import { freePort } from '../cli/control-plane/ports.js';
import { terminate } from '../cli/control-plane/processes.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_MS = 5000;

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
  return `${label.padEnd(34)} median ${median.toFixed(0).padStart(5)} ms   min ${sorted[0]?.toFixed(0)} ms   max ${sorted.at(-1)?.toFixed(0)} ms   (n=${sorted.length})`;
}

function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    http
      .get(`${url}/health`, (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      })
      .on('error', () => resolve(false));
  });
}

async function etcdAlone(etcd: string, dir: string): Promise<number> {
  const [port, peer] = await Promise.all([freePort(), freePort()]);
  const url = `http://127.0.0.1:${port}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const started = performance.now();
  const child = spawn(
    etcd,
    [
      `--data-dir=${dir}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--unsafe-no-fsync=true',
      '--log-level=error',
    ],
    { detached: true, stdio: 'ignore' },
  );
  while (!(await healthy(url))) await sleep(20);
  const elapsed = performance.now() - started;
  await terminate(child.pid ?? -1);
  return elapsed;
}

const binaries = await controlPlaneBinaries();
const fresh: number[] = [];
const reused: number[] = [];
const baseline: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-bench-'));
  let started = performance.now();
  await startCluster({ dir, binaries });
  fresh.push(performance.now() - started);
  await stopCluster(dir);
  started = performance.now();
  await startCluster({ dir, binaries });
  reused.push(performance.now() - started);
  await stopCluster(dir);
  baseline.push(await etcdAlone(binaries.etcd, path.join(dir, 'etcd-alone')));
  await rm(dir, { recursive: true, force: true });
}

console.log(summary('cluster up, new dir (with PKI)', fresh));
console.log(summary('cluster up, existing dir', reused));
console.log(summary('baseline: etcd alone to healthy', baseline));
const worst = Math.max(...fresh);
console.log(
  `target ${TARGET_MS} ms: ${worst <= TARGET_MS ? 'met' : 'MISSED'} (slowest new-dir start ${worst.toFixed(0)} ms)`,
);
