/**
 * scripts/build-control-plane.sh on bad input (no Go, an old Go, no module proxy, a failing or
 * interrupted build) and with everything cached. Each case runs the script with its own
 * SEER_CACHE_DIR and a PATH made for it; none builds anything, so each takes a second or so.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoPath } from '../../../common/paths.js';
import { freePort } from '../../../cli/control-plane/ports.js';

const SCRIPT = repoPath('scripts', 'build-control-plane.sh');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let scratch: string;
let cases = 0;

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-build-script-'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A fresh directory for one case, with `cache` (absent) and `bin` (for PATH) inside. */
async function newCase(): Promise<{ dir: string; cache: string; bin: string }> {
  cases += 1;
  const dir = path.join(scratch, `case-${cases}`);
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  return { dir, cache: path.join(dir, 'cache'), bin: path.join(dir, 'bin') };
}

/** Links every program on this PATH into `bin` except Go's, for a PATH that has no Go. */
async function linkAllButGo(bin: string): Promise<void> {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name === 'go' || name === 'gofmt') continue;
      await symlink(path.join(dir, name), path.join(bin, name)).catch(() => {});
    }
  }
}

async function writeExecutable(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  await chmod(file, 0o755);
}

/** Every file under `dir` (none when it does not exist), relative to it. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const name = path.join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path.join(dir, entry.name), name)));
    else files.push(name);
  }
  return files;
}

function runScript(
  env: NodeJS.ProcessEnv,
  args: string[] = [],
  onSpawn?: (pid: number) => void,
): Promise<Result> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // The registry choice would otherwise depend on this machine's /usr/bin/docker-registry.
    const child = spawn('bash', [SCRIPT, ...args], {
      env: { HOME: process.env.HOME, SEER_REGISTRY_BINARY: '/bin/true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    if (child.pid) onSpawn?.(child.pid);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

/** The script failed with one line on stderr matching `pattern`, and printed no paths. */
function assertOneLineFailure(result: Result, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

async function pinned(): Promise<Record<string, string>> {
  const text = await readFile(repoPath('scripts', 'versions.env'), 'utf8');
  return Object.fromEntries([...text.matchAll(/^([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/**
 * A `go` that reports `version`, resolves every module to an empty go.mod, and for `go build` writes
 * half a program to its -o file, then fails (or, with FAKE_GO_BUILD=hang, waits).
 */
async function fakeGo(bin: string, version: string): Promise<void> {
  await writeFile(path.join(bin, 'empty.mod'), 'module example.com/empty\n');
  await writeExecutable(
    path.join(bin, 'go'),
    `#!/bin/bash
case "$1 $2" in
  'version '*) echo "go version ${version} linux/amd64" ;;
  'env GOVERSION') echo ${version} ;;
  'env GOPROXY') echo http://fake.invalid ;;
  'list -m') echo ${path.join(bin, 'empty.mod')} ;;
  'build '*)
    while [ $# -gt 0 ] && [ "$1" != -o ]; do shift; done
    echo half >"$2"
    [ "$FAKE_GO_BUILD" = hang ] && exec sleep 30
    echo 'compile: something went wrong' >&2
    exit 1 ;;
  *) exit 2 ;;
esac
`,
  );
}

describe('build-control-plane.sh', () => {
  test('Go missing: one line that says where to get Go 1.26, exit 1, nothing in the cache', async () => {
    const { cache, bin } = await newCase();
    await linkAllButGo(bin);
    const result = await runScript({ PATH: bin, SEER_CACHE_DIR: cache });
    assertOneLineFailure(result, /Go is not installed.*Go 1\.26 or newer.*https:\/\/go\.dev\/dl/);
    assert.deepEqual(await readdir(cache).catch(() => []), []);
  });

  test('Go too old: one line naming the found and the needed version, nothing in the cache', async () => {
    const { cache, bin } = await newCase();
    await fakeGo(bin, 'go1.21.0');
    const result = await runScript({ PATH: `${bin}:${process.env.PATH}`, SEER_CACHE_DIR: cache });
    assertOneLineFailure(result, /Go 1\.21\.0 .* is too old: .*needs Go 1\.26 or newer/);
    assert.deepEqual(await filesUnder(cache), []);
  });

  test('module proxy unreachable: one line naming GOPROXY, within seconds, nothing in the cache', async () => {
    const { cache, dir } = await newCase();
    const closed = await freePort();
    const proxy = `http://127.0.0.1:${closed}`;
    const modules = path.join(dir, 'gomodcache');
    const result = await runScript({
      PATH: process.env.PATH,
      SEER_CACHE_DIR: cache,
      GOPROXY: proxy,
      GOFLAGS: '-mod=mod',
      GOMODCACHE: modules,
      GOCACHE: path.join(dir, 'gocache'),
    });
    assertOneLineFailure(result, new RegExp(`module proxy cannot be reached \\(GOPROXY=${proxy}\\)`));
    assert.ok(result.ms < 15_000, `took ${result.ms.toFixed(0)} ms`);
    assert.deepEqual(await filesUnder(cache), []);
  });

  test('a failing go build: its output and one line, and no program or scratch left', async () => {
    const { cache, bin } = await newCase();
    await fakeGo(bin, 'go1.26.8');
    const result = await runScript({ PATH: `${bin}:${process.env.PATH}`, SEER_CACHE_DIR: cache });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /compile: something went wrong\n.*kube-apiserver: go build .* failed/);
    assert.deepEqual(await filesUnder(cache), []);
  });

  test('interrupted (SIGTERM) mid-build: exits at once, stops go, leaves no program or scratch', async () => {
    const { cache, bin } = await newCase();
    await fakeGo(bin, 'go1.26.8');
    let pid = 0;
    const running = runScript(
      { PATH: `${bin}:${process.env.PATH}`, SEER_CACHE_DIR: cache, FAKE_GO_BUILD: 'hang' },
      [],
      (p) => (pid = p),
    );
    // Wait for the half-written program in the scratch directory.
    const deadline = Date.now() + 10_000;
    while ((await filesUnder(cache)).every((f) => !f.endsWith('/kube-apiserver')) && Date.now() < deadline) {
      await sleep(20);
    }
    process.kill(pid, 'SIGTERM');
    const result = await running;
    assert.equal(result.code, 143);
    assert.ok(result.ms < 10_000, `took ${result.ms.toFixed(0)} ms`);
    assert.deepEqual(await filesUnder(cache), []);
  });

  test('everything cached: no Go needed, the registry line, then the bin dir last', async () => {
    const { cache, bin } = await newCase();
    await linkAllButGo(bin);
    const v = await pinned();
    const k8s = path.join(
      cache,
      'bin',
      `k8s-${v.KUBERNETES_VERSION}-etcd-${v.ETCD_VERSION}-helm-${v.HELM_VERSION}`,
    );
    const registry = path.join(cache, 'bin', `registry-${v.DISTRIBUTION_VERSION}`, 'registry');
    for (const program of ['kube-apiserver', 'kubectl', 'etcd', 'helm'])
      await writeExecutable(path.join(k8s, program), '');
    await writeExecutable(registry, '');

    const all = await runScript({ PATH: bin, SEER_CACHE_DIR: cache, SEER_BUILD_REGISTRY: '1' });
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, `registry=${registry}\n${k8s}\n`);

    // A registry named by SEER_REGISTRY_BINARY (as runScript sets) is used instead of building one.
    const named = await runScript({ PATH: bin, SEER_CACHE_DIR: cache });
    assert.equal(named.stdout, `${k8s}\n`);

    const only = await runScript({ PATH: bin, SEER_CACHE_DIR: cache }, ['--registry-only']);
    assert.equal(only.stdout, `registry=${registry}\n`);
  });
});
