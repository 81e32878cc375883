import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { repoPath } from '../../common/paths.js';

/** The pinned control-plane programs the local cluster, the tests and the demo use. */
export interface ControlPlaneBinaries {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  helm: string;
}

function inDir(dir: string): ControlPlaneBinaries {
  return {
    dir,
    etcd: path.join(dir, 'etcd'),
    kubeApiserver: path.join(dir, 'kube-apiserver'),
    kubectl: path.join(dir, 'kubectl'),
    helm: path.join(dir, 'helm'),
  };
}

async function allExecutable(bins: ControlPlaneBinaries): Promise<boolean> {
  try {
    await Promise.all(
      [bins.etcd, bins.kubeApiserver, bins.kubectl, bins.helm].map((p) => access(p, constants.X_OK)),
    );
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs scripts/build-control-plane.sh, which builds what is missing (minutes when cold) and prints
 * where the programs are; its progress goes to our stderr. Resolves to its stdout lines.
 */
async function runBuildScript(args: string[] = []): Promise<string[]> {
  const script = repoPath('scripts', 'build-control-plane.sh');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let lastError = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      lastError = chunk.toString().trim().split('\n').pop() || lastError;
    });
    child.on('error', reject);
    // 'close', not 'exit': only then has all of stdout been read.
    child.on('close', (code) => {
      const lines = out.trim().split('\n').filter(Boolean);
      if (code === 0 && lines.length > 0) resolve(lines);
      else reject(new Error(`${script} exited with ${code}${lastError ? `: ${lastError}` : ''}`));
    });
  });
}

/**
 * Finds the pinned binaries: SEER_K8S_BIN_DIR when set, otherwise the cache that
 * scripts/build-control-plane.sh fills (building what is missing, which takes minutes when cold).
 */
export async function controlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  const fromEnv = process.env.SEER_K8S_BIN_DIR;
  if (fromEnv) {
    const bins = inDir(fromEnv);
    if (!(await allExecutable(bins)))
      throw new Error(`SEER_K8S_BIN_DIR=${fromEnv} lacks etcd, kube-apiserver, kubectl or helm`);
    return bins;
  }
  // The last line is the bin directory (a `registry=` line may come before it).
  const lines = await runBuildScript();
  return inDir(lines.at(-1) ?? '');
}

/** The distribution registry built from the Go module proxy and cached (minutes when cold). */
export async function builtRegistryBinary(): Promise<string> {
  const lines = await runBuildScript(['--registry-only']);
  const line = lines.find((l) => l.startsWith('registry='));
  if (!line) throw new Error(`build-control-plane.sh --registry-only printed no registry= line`);
  return line.slice('registry='.length);
}
