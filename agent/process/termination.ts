import os from 'node:os';
import { TerminatedReason, type ContainerStateTerminated } from './status.js';
import type { ExitInfo, WatchedProcess } from './watched-process.js';

/** Why the supervised process ended, as far as the supervisor is concerned. */
export type ExitCause =
  | { kind: 'exited' }
  /** We stopped it (stop or restart request); `steps` lists what the stop sequence did. */
  | { kind: 'stopped'; message: string; steps: string[] }
  | { kind: 'liveness'; message: string; steps: string[] }
  /** Its post_start command failed. */
  | { kind: 'post-start'; message: string; steps: string[] }
  /** It ended while a restart command was at work: expected, not a crash. */
  | { kind: 'restart-command' };

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return os.constants.signals[signal];
}

function describeExit(exit: ExitInfo, run: WatchedProcess): string {
  if (exit.known) {
    if (exit.signal) return `terminated by signal ${exit.signal}`;
    return `exited with code ${exit.code}`;
  }
  if (run.origin === 'daemon') {
    return `daemon process ${run.pid} exited; its exit code is unknown because it is not a child of the agent`;
  }
  return `process ${run.pid} exited; its exit code is unknown because it was started by a previous agent`;
}

/**
 * The `terminated` state for an exit. A signal is reported both as `signal` and, like a shell does,
 * as exit code 128 + signal; an exit nobody could observe has neither.
 */
export function terminatedState(
  exit: ExitInfo,
  run: WatchedProcess,
  cause: ExitCause,
  stderrTail: () => string,
): ContainerStateTerminated {
  const state: ContainerStateTerminated = {
    started_at: run.startedAt.toISOString(),
    finished_at: exit.at.toISOString(),
  };
  if (exit.known && exit.signal) {
    const number = signalNumber(exit.signal);
    if (number !== undefined) {
      state.signal = number;
      state.exit_code = 128 + number;
    }
  } else if (exit.known && exit.code !== undefined) {
    state.exit_code = exit.code;
  }
  const how = describeExit(exit, run);
  switch (cause.kind) {
    case 'stopped':
    case 'restart-command':
      state.reason = TerminatedReason.Stopped;
      state.message =
        cause.kind === 'stopped'
          ? `${cause.message}: ${how}${cause.steps.length > 0 ? ` (after ${cause.steps.join(', ')})` : ''}`
          : `restart command: ${how}`;
      return state;
    case 'liveness':
    case 'post-start':
      state.reason =
        cause.kind === 'liveness'
          ? TerminatedReason.LivenessProbeFailed
          : TerminatedReason.PostStartHookError;
      state.message = `${cause.message}; ${how}${cause.steps.length > 0 ? ` (after ${cause.steps.join(', ')})` : ''}`;
      return state;
    case 'exited':
      break;
  }
  if (!exit.known) {
    state.reason = TerminatedReason.Unknown;
    state.message = how;
  } else if (exit.signal) {
    state.reason = exit.signal === 'SIGKILL' ? TerminatedReason.Killed : TerminatedReason.Signal;
    state.message = how;
  } else if (exit.code === 0) {
    state.reason = TerminatedReason.Completed;
    state.message = how;
  } else {
    const tail = stderrTail();
    state.reason = TerminatedReason.Error;
    state.message = tail ? `${how}: ${tail}` : how;
  }
  return state;
}
