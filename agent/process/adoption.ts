import { isRunning } from './proc.js';
import type { PersistedContainer } from './state-file.js';
import { TerminatedReason, type ContainerState, type ContainerStateTerminated } from './status.js';

/**
 * What a new supervisor finds in a previous agent's state file, and so what it does: watch a live
 * process again, report one that ended unseen, carry out a restart that was due, or stay settled.
 */
export type Adoption =
  | {
      kind: 'alive';
      pid: number;
      startTime: number | undefined;
      startedAt: Date;
      /** Signals go to the process group the pid leads. */
      signalsGroup: boolean;
    }
  | {
      kind: 'gone';
      pid: number | undefined;
      startTime: number | undefined;
      terminated: ContainerStateTerminated;
      /** What the process started may still run in its group: it goes with it. */
      killGroup: boolean;
    }
  | { kind: 'due'; delayMs: number; state: ContainerState }
  | { kind: 'settled'; phase: 'stopped' | 'exited' | 'failed'; state: ContainerState };

/** The recorded process is still the one that runs under its pid (same start time). */
export function recordedProcessAlive(saved: PersistedContainer): boolean {
  return saved.pid !== undefined && isRunning(saved.pid, saved.proc_start_time);
}

/** A `running` record: the process is watched again if it still runs, else reported as ended unseen. */
export function adoptRunning(saved: PersistedContainer, now = new Date()): Adoption {
  const pid = saved.pid;
  if (pid !== undefined && recordedProcessAlive(saved)) {
    return {
      kind: 'alive',
      pid,
      startTime: saved.proc_start_time,
      startedAt: saved.started_at ? new Date(saved.started_at) : now,
      signalsGroup: saved.signals_group ?? true,
    };
  }
  const terminated: ContainerStateTerminated = {
    reason: TerminatedReason.Unknown,
    message:
      pid === undefined
        ? 'the previous agent stopped before the process was recorded'
        : `process ${pid} exited while the agent was not watching; its exit code is unknown`,
    finished_at: now.toISOString(),
  };
  if (saved.started_at) terminated.started_at = saved.started_at;
  return {
    kind: 'gone',
    pid,
    startTime: saved.proc_start_time,
    terminated,
    killGroup: pid !== undefined && saved.signals_group === true,
  };
}

/** What adopt() does with a previous agent's record. */
export function planAdoption(saved: PersistedContainer, now = new Date()): Adoption {
  switch (saved.phase) {
    case 'running':
      return adoptRunning(saved, now);
    case 'backoff': {
      const due = saved.backoff.next_restart_at ? Date.parse(saved.backoff.next_restart_at) : now.getTime();
      return { kind: 'due', delayMs: Math.max(0, due - now.getTime()), state: saved.state };
    }
    default:
      return { kind: 'settled', phase: saved.phase, state: saved.state };
  }
}
