import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { controlPlaneBinaries, type ControlPlaneBinaries } from '../../cli/control-plane/binaries.js';
import {
  startApiServer,
  startCluster,
  stopApiServer,
  stopCluster,
  type ClusterState,
} from '../../cli/control-plane/cluster.js';
import { killNow } from '../../cli/control-plane/processes.js';
import { runCommand, type CommandResult } from '../../cli/run-command.js';
import { repoPath } from '../../common/paths.js';

export { runCommand, type CommandResult };

/** A real etcd + kube-apiserver for one test file, with kubectl and helm bound to its kubeconfig. */
export interface TestCluster {
  state: ClusterState;
  binaries: ControlPlaneBinaries;
  kubeconfig: string;
  /** Runs kubectl; never throws on a non-zero exit (tests assert on refusals). */
  kubectl(args: string[], input?: string): Promise<CommandResult>;
  /** Runs kubectl and throws with its stderr when it fails. */
  kubectlOk(args: string[], input?: string): Promise<string>;
  helm(args: string[]): Promise<CommandResult>;
  /** Takes the API server away (etcd stays) and brings it back on the same address. */
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ClusterState>();
let exitHooksInstalled = false;

// A failing or interrupted test run still takes its control plane down with it. A run killed with
// SIGKILL cannot run these, so each cluster also has a watchdog process (see cluster.ts).
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const state of running) {
      killNow(state.apiserver.pid);
      killNow(state.etcd.pid);
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => process.exit(130));
  }
}

/** Starts a cluster; with `crds`, the Seer CRDs are installed and established before it returns. */
export async function startTestCluster(options: { crds?: boolean } = {}): Promise<TestCluster> {
  installExitHooks();
  const binaries = await controlPlaneBinaries();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-test-cluster-'));
  const state = await startCluster({ dir, binaries, ownerPid: process.pid });
  running.add(state);
  const kubectl = (args: string[], input?: string) =>
    runCommand(binaries.kubectl, ['--kubeconfig', state.kubeconfig, ...args], { input });
  const cluster: TestCluster = {
    state,
    binaries,
    kubeconfig: state.kubeconfig,
    kubectl,
    async kubectlOk(args, input) {
      const result = await kubectl(args, input);
      if (result.code !== 0)
        throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
      return result.stdout;
    },
    helm: (args) => runCommand(binaries.helm, ['--kubeconfig', state.kubeconfig, ...args]),
    stopApiServer: () => stopApiServer(dir),
    async startApiServer() {
      const restarted = await startApiServer(dir);
      state.apiserver.pid = restarted.apiserver.pid;
    },
    async stop() {
      await stopCluster(dir);
      running.delete(state);
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (options.crds) {
    await cluster.kubectlOk(['apply', '-f', repoPath('crds')]);
    await cluster.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  }
  return cluster;
}
