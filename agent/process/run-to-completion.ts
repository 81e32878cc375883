import { ContainerCgroup } from './cgroups.js';
import { executionContext } from './execution-context.js';
import { fileSize, logPaths, logTail } from './log-files.js';
import { spawnShell, waitForExit } from './launch.js';
import { killGroupRemnants } from './proc.js';
import type { ProcessSpec } from './spec.js';

/**
 * Runs a container's start command once, to its end (an init container): as its user, in its
 * directory, with its environment and log files, in its cgroup when it has one. Resolves undefined
 * when it exited 0, else how it failed ("exited with code 3: <last stderr line>"). `signal` kills it
 * and everything it started.
 */
export async function runToCompletion(spec: ProcessSpec, signal: AbortSignal): Promise<string | undefined> {
  const logs = logPaths(spec.log_dir, spec.name);
  const context = { ...(await executionContext(spec)), logs };
  const cgroup = spec.cgroup_dir ? new ContainerCgroup(spec.cgroup_dir) : undefined;
  if (cgroup) {
    await cgroup.kill();
    cgroup.prepare(spec.limits);
  }
  const stderrOffset = fileSize(logs.stderr);
  const child = await spawnShell(spec.commands.start, context, cgroup);
  const killAll = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
    if (cgroup) void cgroup.kill();
  };
  signal.addEventListener('abort', killAll);
  try {
    const exit = await waitForExit(child, 2 ** 31 - 1);
    if (!exit) return 'did not end';
    if (exit.code === 0) return undefined;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const tail = logTail(logs.stderr, stderrOffset);
    return tail ? `${how}: ${tail}` : how;
  } finally {
    signal.removeEventListener('abort', killAll);
    // What it started and left behind goes with it.
    killGroupRemnants(child.pid, undefined);
    if (cgroup) {
      await cgroup.kill();
      cgroup.remove();
    }
  }
}
