import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerStatus, ProcessSpec } from '../../agent/process/index.js';
import type { ContainerSupervisor } from '../../agent/process/supervisor.js';
import { freePort } from '../../cli/control-plane/ports.js';

export { freePort };

/** Everything a supervisor test needs on disk: a container directory, a log dir and a state file. */
export interface Sandbox {
  root: string;
  /** The container directory (world-writable, so processes run as another user can write in it). */
  directory: string;
  logDir: string;
  stateFile: string;
  /** A spec for `command` with test-friendly defaults; `overrides` wins. */
  spec(command: string, overrides?: Partial<ProcessSpec>): ProcessSpec;
  /** Writes an executable script into the container directory. */
  script(name: string, content: string): Promise<string>;
  remove(): Promise<void>;
}

export async function sandbox(name = 'app'): Promise<Sandbox> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'seer-process-test-'));
  // mkdtemp makes the directory 0700; processes running as `nobody` must get through it.
  await chmod(root, 0o755);
  const directory = path.join(root, 'container', name);
  await mkdir(directory, { recursive: true });
  await chmod(directory, 0o777);
  const logDir = path.join(root, 'logs');
  const stateFile = path.join(root, 'state', `${name}.json`);
  return {
    root,
    directory,
    logDir,
    stateFile,
    spec: (command, overrides = {}) => ({
      name,
      directory,
      commands: { start: command },
      mode: 'foreground',
      env: {},
      ports: {},
      stop_timeout_seconds: 5,
      restart_policy: 'never',
      log_dir: logDir,
      state_file: stateFile,
      ...overrides,
    }),
    script: async (file, content) => {
      const target = path.join(directory, file);
      await writeFile(target, content, { mode: 0o755 });
      return target;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */

/**
 * Polls `check` until it returns something other than undefined/false, or fails after `timeoutMs`
 * with `what` and the last value seen. Deadlines are generous: these tests must not flake on a busy host.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
  describe: () => unknown = () => undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(describe())}`,
      );
    }
    await sleep(20);
  }
}

/** Waits until the supervisor's status satisfies `predicate`. */
export function waitForStatus(
  supervisor: ContainerSupervisor,
  what: string,
  predicate: (status: ContainerStatus) => boolean,
  timeoutMs = 20_000,
): Promise<ContainerStatus> {
  return waitFor(
    what,
    () => {
      const status = supervisor.status();
      return predicate(status) ? status : undefined;
    },
    timeoutMs,
    () => supervisor.status(),
  );
}

/** Records every 'status' event, for assertions on the sequence of states. */
export function recordStatuses(supervisor: ContainerSupervisor): ContainerStatus[] {
  const seen: ContainerStatus[] = [];
  supervisor.on('status', (status) => seen.push(status));
  return seen;
}

/** True while `pid` exists and is not a zombie (an orphan may stay one when nobody reaps it). */
export function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** The real uid of a running process, from /proc/<pid>/status. */
export function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

/** Kills a process (and its group) left behind by a failed test. */
export function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Supervisors and sandboxes created by a test file, cleaned up by `cleanUp` in an `after` hook. */
export class TestResources {
  private readonly supervisors: ContainerSupervisor[] = [];
  private readonly sandboxes: Sandbox[] = [];
  private readonly pids: number[] = [];

  supervisor(supervisor: ContainerSupervisor): ContainerSupervisor {
    this.supervisors.push(supervisor);
    return supervisor;
  }

  async sandbox(name?: string): Promise<Sandbox> {
    const created = await sandbox(name);
    this.sandboxes.push(created);
    return created;
  }

  /** A process to SIGKILL at the end whatever happens (one a test deliberately left unsupervised). */
  pid(pid: number): number {
    this.pids.push(pid);
    return pid;
  }

  async cleanUp(): Promise<void> {
    for (const supervisor of this.supervisors) {
      const pid = supervisor.status().pid;
      await supervisor.stop('test finished').catch(() => undefined);
      supervisor.detach();
      killQuietly(pid);
    }
    for (const pid of this.pids) killQuietly(pid);
    for (const created of this.sandboxes) await created.remove();
  }
}

/** The trimmed content of `file` once a process has written it completely (up to its final newline). */
export function readWritten(file: string, timeoutMs = 20_000): Promise<string> {
  return waitFor(
    `${file} to be written`,
    async () => {
      const text = await readFile(file, 'utf8').catch(() => '');
      return text.endsWith('\n') ? text.trim() : undefined;
    },
    timeoutMs,
  );
}

/** Whether a file exists. */
export function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
