import { awaitPidFile, describeCommandResult, runCommand, type CommandContext } from './launch.js';
import { fileSize, logTail } from './log-files.js';
import type { ContainerState } from './status.js';
import { TerminatedReason } from './status.js';
import type { WatchedProcess } from './watched-process.js';

/**
 * Foreground mode: an exit while the restart command runs, or within the grace period after it
 * returned (a signal takes a moment to act), is the command's doing, not a crash.
 */
export class RestartCommandWindow {
  private running = false;
  private until = 0;

  /** True when an exit now is part of a restart command. */
  covers(now = Date.now()): boolean {
    return this.running || now <= this.until;
  }

  /** Runs the command with exits counted as its doing, and for `afterMs` more when given. */
  async run<T>(command: () => Promise<T>, afterMs: number | undefined): Promise<T> {
    this.running = true;
    try {
      return await command();
    } finally {
      this.running = false;
      if (afterMs !== undefined) this.until = Date.now() + afterMs;
    }
  }
}

/**
 * Runs the restart command; a failure comes back (not thrown, so that a forking daemon's pid file is
 * followed first) with its exit code and last stderr line. Exits of the process meanwhile are the
 * window's (foreground: also for `graceMs` afterwards).
 */
export async function runRestartCommand(
  command: string,
  context: CommandContext,
  timeoutMs: number,
  window: RestartCommandWindow,
  graceMs: number | undefined,
): Promise<Error | undefined> {
  const since = fileSize(context.logs.stderr);
  const result = await window.run(() => runCommand(command, context, timeoutMs), graceMs);
  if (!result.timedOut && result.code === 0) return undefined;
  const tail = logTail(context.logs.stderr, since);
  return new Error(`${describeCommandResult('restart', result, timeoutMs)}${tail ? `: ${tail}` : ''}`);
}

/** Forking mode, after the restart command: the process the pid file names now (it may be the same one). */
export function restartedDaemon(
  pidFile: string,
  timeoutMs: number,
): Promise<{ pid: number; startTime: number; leadsGroup: boolean }> {
  return awaitPidFile(pidFile, Date.now() + timeoutMs, undefined, 0);
}

/** The last state of a daemon the restart command replaced by another one. */
export function replacedState(previous: WatchedProcess, successor: number): ContainerState {
  return {
    terminated: {
      reason: TerminatedReason.Stopped,
      message: `restart command replaced process ${previous.pid} with ${successor}`,
      started_at: previous.startedAt.toISOString(),
      finished_at: new Date().toISOString(),
    },
  };
}
