/**
 * What scripts/build-control-plane.sh costs: the cold build times it recorded in the cache
 * (build-times.json, written by the run that built the programs), and a warm run with everything
 * cached, which every `npm test`, `npm run demo` and controlPlaneBinaries() call pays.
 * Baselines in the same run: `bash -c true` (the floor under any script) and `go version`.
 * Target: a warm run within 100 ms, so it does not need Go started at all.
 *
 *   node dist/bench/control-plane-build.js     # BENCH_RUNS=7 for more runs
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '../common/paths.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_MS = 100;
const SCRIPT = repoPath('scripts', 'build-control-plane.sh');

interface BuildTimes {
  go: string;
  cpus: number;
  finished: string;
  seconds: Record<string, number>;
  total: number;
}

function minutes(seconds: number): string {
  return seconds >= 60
    ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
    : `${seconds}s`;
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
  return `${label.padEnd(34)} median ${median.toFixed(1).padStart(6)} ms   min ${sorted[0]?.toFixed(1)} ms   max ${sorted.at(-1)?.toFixed(1)} ms   (n=${sorted.length})`;
}

async function timeRuns(file: string, args: string[]): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await run(file, args);
    samples.push(performance.now() - started);
  }
  return samples;
}

// The script's last stdout line is the control-plane bin dir; the registry's dir is its sibling.
const { stdout } = await run('bash', [SCRIPT]);
const binDir = stdout.trim().split('\n').at(-1) ?? '';
const versions = await readFile(repoPath('scripts', 'versions.env'), 'utf8');
const distribution = /^DISTRIBUTION_VERSION=(\S+)$/m.exec(versions)?.[1] ?? '';
const registryDir = path.join(path.dirname(binDir), `registry-${distribution}`);

for (const dir of [binDir, registryDir]) {
  let times: BuildTimes;
  try {
    times = JSON.parse(await readFile(path.join(dir, 'build-times.json'), 'utf8')) as BuildTimes;
  } catch {
    console.log(`${path.basename(dir)}: no recorded build (built before times were kept, or not built here)`);
    continue;
  }
  const programs = Object.entries(times.seconds).map(([name, s]) => `${name} ${minutes(s)}`);
  console.log(
    `last build into ${path.basename(dir)}: ${programs.join(', ')}; total ${minutes(times.total)} ` +
      `(${times.go}, ${times.cpus} CPUs, ${times.finished})`,
  );
}

const warm = await timeRuns('bash', [SCRIPT]);
const floor = await timeRuns('bash', ['-c', 'true']);
const go = await timeRuns('go', ['version']);
console.log(summary('warm run, everything cached', warm));
console.log(summary('baseline: bash -c true', floor));
console.log(summary('baseline: go version', go));
const worst = Math.max(...warm);
console.log(
  `target ${TARGET_MS} ms: ${worst <= TARGET_MS ? 'met' : 'MISSED'} (slowest warm run ${worst.toFixed(1)} ms)`,
);
