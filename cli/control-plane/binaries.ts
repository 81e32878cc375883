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
  const script = repoPath('scripts', 'build-control-plane.sh');
  const dir = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last) resolve(last);
      else reject(new Error(`${script} exited with ${code}`));
    });
  });
  return inDir(dir);
}
