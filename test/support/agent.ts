import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoPath } from '../../common/paths.js';

/** A seer-agent running as a real process, its log in `${root}/../<node>-agent.log`. */
export interface AgentProcess {
  nodeName: string;
  root: string;
  logFile: string;
  child: ChildProcess;
  /** SIGTERM and wait: the agent leaves its processes running. */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  log(): Promise<string>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startAgentProcess(options: {
  nodeName: string;
  root: string;
  kubeconfig?: string;
  manifests?: string;
  args?: string[];
}): Promise<AgentProcess> {
  await mkdir(options.root, { recursive: true });
  const logFile = path.join(path.dirname(options.root), `${options.nodeName}-agent.log`);
  const args = [
    repoPath('dist', 'agent', 'main.js'),
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
    ...(options.args ?? []),
  ];
  const log = createWriteStream(logFile, { flags: 'a' });
  await new Promise((resolve) => log.once('open', resolve));
  const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
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
    nodeName: options.nodeName,
    root: options.root,
    logFile,
    child,
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    log: () => readFile(logFile, 'utf8'),
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
