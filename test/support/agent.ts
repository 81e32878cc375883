import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoPath } from '../../common/paths.js';

/** A Seer program (agent or operator) running as a real process, its output in `logFile`. */
export interface SeerProcess {
  logFile: string;
  child: ChildProcess;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  log(): Promise<string>;
}

/** A seer-agent process; it leaves its managed processes running when stopped or killed. */
export interface AgentProcess extends SeerProcess {
  nodeName: string;
  root: string;
  /** Stops the agent and kills whatever it left running under its root (for after() hooks). */
  cleanUp(): Promise<void>;
}

/** Kills every process whose environment says it runs a container under `root`. */
/** The pids of the processes agents started under `root` (their container dirs are inside it). */
export async function managedProcesses(root: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').some((v) => v.startsWith(`SEER_CONTAINER_DIR=${root}/`)))
      pids.push(Number(entry));
  }
  return pids;
}

export async function killManagedProcesses(root: string): Promise<void> {
  for (const pid of await managedProcesses(root)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Runs `node dist/<script>` with `args` (behind the command prefix `enter`, if given: a simulated
 * host), output appended to `logFile`, killed when the test run exits.
 */
export async function startSeerProcess(
  script: string,
  args: string[],
  logFile: string,
  enter: string[] = [],
): Promise<SeerProcess> {
  const log = createWriteStream(logFile, { flags: 'a' });
  await new Promise((resolve) => log.once('open', resolve));
  const command = [...enter, process.execPath, repoPath('dist', script), ...args];
  const child = spawn(command[0] ?? '', command.slice(1), { stdio: ['ignore', log, log] });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(
    () => running.delete(child),
    () => undefined,
  );
  const waitExit = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await exited;
  };
  return {
    logFile,
    child,
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    log: () => readFile(logFile, 'utf8'),
  };
}

export async function startAgentProcess(options: {
  nodeName: string;
  root: string;
  kubeconfig?: string;
  manifests?: string;
  args?: string[];
  /** Defaults to `<root>/../<node>-agent.log`. */
  logFile?: string;
  /** A command prefix the agent runs behind (a simulated host's `enter`). */
  enter?: string[];
}): Promise<AgentProcess> {
  if (!options.enter) await mkdir(options.root, { recursive: true });
  const logFile = options.logFile ?? path.join(path.dirname(options.root), `${options.nodeName}-agent.log`);
  const args = [
    '--node-name',
    options.nodeName,
    '--root',
    options.root,
    '--heartbeat-interval',
    '1',
    '--address',
    '127.0.0.1',
    '--log-level',
    'debug',
    ...(options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : []),
    ...(options.manifests ? ['--manifests', options.manifests] : []),
    // Several agents share a machine in the tests: each endpoint on a free port unless told otherwise.
    ...(options.args?.some((arg) => /^--(endpoint-port|no-endpoint)/.test(arg))
      ? []
      : ['--endpoint-port', '0']),
    ...(options.args ?? []),
  ];
  const started = await startSeerProcess(path.join('agent', 'main.js'), args, logFile, options.enter);
  return {
    ...started,
    nodeName: options.nodeName,
    root: options.root,
    async cleanUp() {
      await started.stop();
      await killManagedProcesses(options.root);
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails with `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
