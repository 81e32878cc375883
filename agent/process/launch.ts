import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerCgroup } from './cgroups.js';
import { fileSize, logTail, openLogFiles, type LogPaths } from './log-files.js';
import { isRunning, readProcStat } from './proc.js';
import { foregroundScript, SHELL } from './shell.js';
import type { ExecutionContext } from './execution-context.js';
import { WatchedProcess } from './watched-process.js';

/** Everything needed to run one of a container's commands. */
export interface CommandContext extends ExecutionContext {
  logs: LogPaths;
  /** The container's cgroup, which its main process (not a one-shot command) starts in. */
  cgroup?: ContainerCgroup;
}

/** Why a process could not be started; `reason` becomes the waiting reason in the status. */
export class StartFailure extends Error {
  constructor(
    readonly reason: 'StartError' | 'PidFileMissing' | 'PreStartError',
    message: string,
  ) {
    super(message);
  }
}

type SpawnedChild = ChildProcess & { pid: number };

function describeSpawnError(error: NodeJS.ErrnoException, context: CommandContext): string {
  const who = context.identity ? ` as user "${context.identity.name}" (uid ${context.identity.uid})` : '';
  if (error.code === 'EACCES') return `cannot enter ${context.directory}${who}: permission denied`;
  if (error.code === 'EPERM') return `not permitted to start a process${who}`;
  return `cannot start ${SHELL} in ${context.directory}${who}: ${error.message}`;
}

/**
 * Runs `/bin/sh -c script` in its own session (so it survives the agent and can be signalled as a
 * group), with stdout/stderr appended to the container's log files.
 */
export async function spawnShell(
  script: string,
  context: CommandContext,
  cgroup?: ContainerCgroup,
): Promise<SpawnedChild> {
  // Node reports a missing cwd as "spawn /bin/sh ENOENT", which would blame the shell.
  let directory;
  try {
    directory = statSync(context.directory);
  } catch {
    throw new StartFailure('StartError', `container directory ${context.directory} does not exist`);
  }
  if (!directory.isDirectory()) {
    throw new StartFailure('StartError', `container directory ${context.directory} is not a directory`);
  }
  let logs;
  try {
    logs = openLogFiles(context.logs);
  } catch (error) {
    throw new StartFailure('StartError', `cannot open log file: ${(error as Error).message}`);
  }
  try {
    const child = spawn(SHELL, ['-c', cgroup ? `${cgroup.prelude()}\n${script}` : script], {
      cwd: context.directory,
      env: context.env,
      detached: true,
      stdio: ['ignore', logs.stdout, logs.stderr],
      ...(context.identity ? { uid: context.identity.uid, gid: context.identity.gid } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    }).catch((error: NodeJS.ErrnoException) => {
      throw new StartFailure('StartError', describeSpawnError(error, context));
    });
    // Later errors only come from signalling a process that is gone; they must not crash the agent.
    child.on('error', () => {});
    if (cgroup) {
      try {
        cgroup.join(child.pid ?? 0);
      } catch (error) {
        child.kill('SIGKILL');
        throw new StartFailure(
          'StartError',
          `cannot move the process into ${cgroup.dir}: ${(error as Error).message}`,
        );
      }
    }
    return child as SpawnedChild;
  } finally {
    logs.close();
  }
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The child's exit, or undefined when it is still running after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<ChildExit | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(undefined);
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    child.once('exit', onExit);
  });
}

function describeChildExit(exit: ChildExit): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

export interface Launched {
  process: WatchedProcess;
  /** Whether the pid is the program itself rather than a shell running it. */
  execs: boolean;
  /** Size of the stderr log at launch, to quote only what this run wrote. */
  stderrOffset: number;
}

/** Foreground mode: the start command, exec'd by the shell when it is a simple command, is the process. */
export async function launchForeground(command: string, context: CommandContext): Promise<Launched> {
  const { script, execs } = foregroundScript(command);
  const stderrOffset = fileSize(context.logs.stderr);
  const child = await spawnShell(script, context, context.cgroup);
  return { process: WatchedProcess.ofChild(child, new Date()), execs, stderrOffset };
}

interface PidFileContent {
  pid?: number;
  mtimeMs: number;
}

function readPidFile(file: string): PidFileContent | undefined {
  try {
    const mtimeMs = statSync(file).mtimeMs;
    const text = readFileSync(file, 'utf8').trim();
    return { pid: /^\d+$/.test(text) ? Number(text) : undefined, mtimeMs };
  } catch {
    return undefined;
  }
}

export interface ForkingOptions {
  pidFile: string;
  /** Bound on the start command's exit plus the pid file's appearance. */
  timeoutMs: number;
  pollIntervalMs: number;
}

/** A pid file that names a running process (not the stale file of an earlier run when `notBefore` is set). */
export async function awaitPidFile(
  pidFile: string,
  deadline: number,
  stale: PidFileContent | undefined,
  notBefore: number,
): Promise<{ pid: number; startTime: number; leadsGroup: boolean }> {
  for (;;) {
    const content = readPidFile(pidFile);
    let problem = 'does not exist';
    if (content?.pid !== undefined) {
      const stat = readProcStat(content.pid);
      const fresh = content.pid !== stale?.pid || content.mtimeMs >= notBefore;
      if (stat && isRunning(content.pid, stat.startTime) && fresh) {
        return { pid: content.pid, startTime: stat.startTime, leadsGroup: stat.pgrp === content.pid };
      }
      problem = fresh
        ? `names pid ${content.pid}, which is not running`
        : `still names the old pid ${content.pid}`;
    } else if (content) {
      problem = 'does not contain a pid';
    }
    if (Date.now() >= deadline) throw new StartFailure('PidFileMissing', `pid file ${pidFile} ${problem}`);
    await sleep(10);
  }
}

/**
 * Forking mode: the start command must daemonize and exit 0 (a non-zero exit is a start failure);
 * then the pid file must name a running process, which is supervised by polling since it is not our child.
 */
export async function launchForking(
  command: string,
  context: CommandContext,
  options: ForkingOptions,
): Promise<Launched> {
  const deadline = Date.now() + options.timeoutMs;
  const seconds = options.timeoutMs / 1000;
  // A pid file naming a dead process is left over from an earlier run: it must not be mistaken for the new one.
  let stale = readPidFile(options.pidFile);
  if (stale && (stale.pid === undefined || !isRunning(stale.pid))) {
    rmSync(options.pidFile, { force: true });
    stale = undefined;
  }
  const startedAt = new Date();
  const stderrOffset = fileSize(context.logs.stderr);
  // The daemon it forks is born in the container's cgroup too.
  const child = await spawnShell(command, context, context.cgroup);
  const exit = await waitForExit(child, options.timeoutMs);
  if (!exit) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    throw new StartFailure(
      'StartError',
      `start command did not exit within ${seconds} s (forking mode expects it to daemonize and exit 0)`,
    );
  }
  if (exit.code !== 0) {
    const tail = logTail(context.logs.stderr, stderrOffset);
    throw new StartFailure(
      'StartError',
      `start command ${describeChildExit(exit)}${tail ? `: ${tail}` : ''}`,
    );
  }
  let found;
  try {
    // mtime has coarse (jiffy) granularity: a second of slack, and a different pid is always fresh.
    found = await awaitPidFile(options.pidFile, deadline, stale, startedAt.getTime() - 1000);
  } catch (error) {
    if (!(error instanceof StartFailure)) throw error;
    throw new StartFailure(
      'PidFileMissing',
      `${error.message} ${seconds} s after the start command was run (it exited 0)`,
    );
  }
  const watched = WatchedProcess.polled(
    found.pid,
    found.startTime,
    startedAt,
    'daemon',
    found.leadsGroup,
    options.pollIntervalMs,
  );
  return { process: watched, execs: true, stderrOffset };
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

/** Runs a one-shot command (stop, reload, restart); its output goes to the container's log files. */
export async function runCommand(
  command: string,
  context: CommandContext,
  timeoutMs: number,
): Promise<CommandResult> {
  const child = await spawnShell(command, context);
  const exit = await waitForExit(child, timeoutMs);
  if (exit) return { ...exit, timedOut: false };
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  const killed = await waitForExit(child, 5000);
  return { code: killed?.code ?? null, signal: killed?.signal ?? 'SIGKILL', timedOut: true };
}

export function describeCommandResult(name: string, result: CommandResult, timeoutMs: number): string {
  if (result.timedOut) return `${name} command did not finish within ${timeoutMs / 1000} s and was killed`;
  return `${name} command ${describeChildExit(result)}`;
}
