/**
 * Pull-and-unpack throughput of a ~100 MB package: PackageCache.fetch + unpackPackage against
 * `curl -s URL | tar xz -C DIR` of the same artifact from the same local HTTP server, in the same run.
 * The target is at least 0.7 of curl | tar's throughput.
 *
 *   node dist/bench/package-pull.js [--runs 5] [--size-mb 100]
 *
 * The server runs in a child process (this file with --serve) so it does not share an event loop
 * with the code being measured.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPackage } from '../packages/build.js';
import { PackageCache } from '../packages/cache.js';
import { unpackPackage } from '../packages/unpack.js';

const TARGET_RATIO = 0.7;
const SMALL_FILES = 4000;
const SMALL_FILE_BYTES = 5 * 1024;
const BIG_FILES = 8;

async function serve(file: string): Promise<void> {
  const { size } = await stat(file);
  const server = http.createServer((request, response) => {
    if (request.url !== '/package.tar.gz') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/gzip', 'content-length': size });
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(response);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (typeof address === 'object' && address) process.stdout.write(`${address.port}\n`);
  });
  // Ends with its parent.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

/** Mostly incompressible data: a few large random files plus many small ones, half random, half text. */
async function makePackageSource(dir: string, totalMb: number): Promise<void> {
  // The text half of the small files compresses to almost nothing; the rest does not compress.
  const bigBytes = Math.max(totalMb * 1e6 - (SMALL_FILES * SMALL_FILE_BYTES) / 2, 0);
  await mkdir(path.join(dir, 'lib'), { recursive: true });
  for (let i = 0; i < BIG_FILES; i += 1) {
    await writeFile(path.join(dir, 'lib', `big-${i}.bin`), randomBytes(Math.floor(bigBytes / BIG_FILES)));
  }
  for (let i = 0; i < SMALL_FILES; i += 1) {
    const subdir = path.join(dir, 'share', `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) await mkdir(subdir, { recursive: true });
    const content =
      i % 2 === 0
        ? randomBytes(SMALL_FILE_BYTES)
        : Buffer.from(`line ${i} of a text file\n`.repeat(SMALL_FILE_BYTES / 24)).subarray(
            0,
            SMALL_FILE_BYTES,
          );
    await writeFile(path.join(subdir, `f${i}.dat`), content);
  }
}

function startServer(file: string): Promise<{ url: string; stop(): void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child.once('error', reject);
    child.stdout.once('data', (chunk: Buffer) => {
      resolve({
        url: `http://127.0.0.1:${chunk.toString().trim()}/package.tar.gz`,
        stop: () => child.kill(),
      });
    });
  });
}

function curlTar(url: string, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', 'set -o pipefail; curl -sf "$0" | tar xz -C "$1"', url, dir], {
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`curl | tar exited with ${code}`)),
    );
  });
}

/** Flushes dirty pages, so each measurement starts with the same writeback backlog: none. */
function sync(): Promise<void> {
  return new Promise((resolve, reject) => {
    spawn('sync', { stdio: 'inherit' })
      .once('exit', () => resolve())
      .once('error', reject);
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      runs: { type: 'string', default: '5' },
      'size-mb': { type: 'string', default: '100' },
    },
  });
  if (values.serve) return serve(values.serve);
  const runs = Number(values.runs);
  const sizeMb = Number(values['size-mb']);

  const work = await mkdtemp(path.join(os.tmpdir(), 'seer-bench-pull-'));
  const server = { stop: () => undefined } as { url?: string; stop(): void };
  try {
    console.log(
      `generating a ~${sizeMb} MB package (${BIG_FILES} large random files, ${SMALL_FILES} small files)...`,
    );
    await makePackageSource(path.join(work, 'src'), sizeMb);
    const archive = path.join(work, 'package.tar.gz');
    const built = await buildPackage(path.join(work, 'src'), archive);
    const megabytes = built.size / 1e6;
    console.log(`package: ${megabytes.toFixed(1)} MB, ${built.digest}`);
    Object.assign(server, await startServer(archive));
    const url = server.url ?? '';

    const curlSeconds: number[] = [];
    const seerSeconds: number[] = [];
    const fetchSeconds: number[] = [];
    for (let run = 1; run <= runs; run += 1) {
      const runDir = path.join(work, `run-${run}`);
      // Alternate which goes first, so neither always gets the warmer page cache.
      const order = run % 2 ? ['curl', 'seer'] : ['seer', 'curl'];
      for (const which of order) {
        await sync();
        if (which === 'curl') {
          const dest = path.join(runDir, 'curl');
          await mkdir(dest, { recursive: true });
          const started = process.hrtime.bigint();
          await curlTar(url, dest);
          curlSeconds.push(Number(process.hrtime.bigint() - started) / 1e9);
        } else {
          const registries = { insecure: [new URL(url).host], credentials: {} };
          const cache = new PackageCache({ dir: path.join(runDir, 'cache'), registries });
          const started = process.hrtime.bigint();
          const cached = await cache.fetch(url, { digest: built.digest });
          const fetched = process.hrtime.bigint();
          await unpackPackage(cached.path, path.join(runDir, 'seer', 'container'));
          seerSeconds.push(Number(process.hrtime.bigint() - started) / 1e9);
          fetchSeconds.push(Number(fetched - started) / 1e9);
        }
      }
      const curl = curlSeconds.at(-1) ?? 0;
      const seer = seerSeconds.at(-1) ?? 0;
      console.log(
        `run ${run}: curl | tar xz ${(megabytes / curl).toFixed(1)} MB/s (${curl.toFixed(2)} s)   ` +
          `seer fetch+unpack ${(megabytes / seer).toFixed(1)} MB/s (${seer.toFixed(2)} s, fetch ${(fetchSeconds.at(-1) ?? 0).toFixed(2)} s)   ` +
          `ratio ${(curl / seer).toFixed(2)}`,
      );
      await rm(runDir, { recursive: true, force: true });
    }
    const curlRate = megabytes / median(curlSeconds);
    const seerRate = megabytes / median(seerSeconds);
    const ratio = seerRate / curlRate;
    // The disk's speed drifts from run to run; each run's own ratio compares the two under the same conditions.
    const pairedRatio = median(
      curlSeconds.map((curl, i) => curl / (seerSeconds[i] ?? Number.POSITIVE_INFINITY)),
    );
    const met = Math.min(ratio, pairedRatio) >= TARGET_RATIO;
    console.log(`median over ${runs} runs:`);
    console.log(`  curl -s URL | tar xz        ${curlRate.toFixed(1)} MB/s`);
    console.log(`  PackageCache.fetch+unpack   ${seerRate.toFixed(1)} MB/s`);
    console.log(
      `  ratio of the medians ${ratio.toFixed(2)}, median of the per-run ratios ${pairedRatio.toFixed(2)}`,
    );
    console.log(`  target >= ${TARGET_RATIO}: ${met ? 'met' : 'NOT met'}`);
  } finally {
    server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
