import type { PersistedContainer } from './state-file.js';
import type { ProcessSpec } from './spec.js';

/**
 * `idle`: nothing done yet; `starting`: a launch is under way; `running`: a process is watched;
 * `stopping`: the stop sequence is running; `backoff`: an automatic restart is due; `stopped`: told to
 * stop; `exited`: ended and the policy says no restart; `failed`: could not start and the policy
 * says no retry.
 */
export type Phase =
  'idle' | 'starting' | 'running' | 'stopping' | 'backoff' | 'stopped' | 'exited' | 'failed';

/** What happened to the container, once the supervisor has decided what it means. */
export type SupervisorEvent =
  /** A foreground launch begins (start, restart, due restart): nothing to report until it runs. */
  | 'launch'
  /** A forking launch begins: waiting for the start command and the pid file shows as `Starting`. */
  | 'launch-daemon'
  /** A process runs and is watched: launched, adopted, or named anew by the pid file. */
  | 'run'
  /** The liveness probe failed: the stop sequence runs, then the restart policy applies to the exit. */
  | 'liveness-failed'
  /** The post_start command failed: the stop sequence runs, then the restart policy applies. */
  | 'post-start-failed'
  /** stop() or restart() begins the stop sequence. */
  | 'stop'
  /** The process ended during the stop sequence, which decides what follows. */
  | 'end-while-stopping'
  /** The process ended while (or just after) a restart command was at work: started again, not a crash. */
  | 'end-for-restart-command'
  /** The process ended (or could not be found again) and the restart policy says no restart. */
  | 'finish'
  /** The restart policy restarts it at once (the first restart after a stable run). */
  | 'restart-now'
  /** The restart policy restarts it after a delay: `CrashLoopBackOff`. */
  | 'back-off'
  /** The launch failed and the restart policy says no retry. */
  | 'give-up'
  /** The stop sequence is over, or there was nothing to stop. */
  | 'stopped'
  /** adopt(): the state file says the container had settled; it stays so. */
  | 'restore-stopped'
  | 'restore-exited'
  | 'restore-failed';

export interface Transition {
  to: Phase;
  /** Write the state file: a later agent must find this phase. */
  persist: boolean;
  /**
   * Emit the status: `unless-detached` leaves a status made while the agent shuts down to the next
   * agent. No intermediate status where the next one follows at once (a launch, an immediate restart).
   */
  notify: boolean | 'unless-detached';
  /** Log rotation runs while the container may write; it stops when the container has settled. */
  logs?: 'rotate' | 'stop-rotating';
}

type Rule = Transition & { from: readonly Phase[] };

const ALL: readonly Phase[] = [
  'idle',
  'starting',
  'running',
  'stopping',
  'backoff',
  'stopped',
  'exited',
  'failed',
];
const NOT_RUNNING = ALL.filter((phase) => phase !== 'running');
/** Where an exit, or what adoption found, can be reported from. */
const ENDED_FROM: readonly Phase[] = ['idle', 'starting', 'running', 'stopped', 'exited', 'failed'];
const SETTLED_FROM: readonly Phase[] = ['idle', 'stopped', 'exited', 'failed'];

/** The transition table: for each event, the phases it may happen in, the next phase and what is done. */
export const TRANSITIONS: Readonly<Record<SupervisorEvent, Rule>> = {
  launch: { from: NOT_RUNNING, to: 'starting', persist: false, notify: false, logs: 'rotate' },
  'launch-daemon': { from: NOT_RUNNING, to: 'starting', persist: false, notify: true, logs: 'rotate' },
  run: { from: ENDED_FROM, to: 'running', persist: true, notify: 'unless-detached', logs: 'rotate' },
  'liveness-failed': { from: ['running'], to: 'running', persist: false, notify: true },
  'post-start-failed': { from: ['running'], to: 'running', persist: false, notify: true },
  stop: { from: ['running'], to: 'stopping', persist: false, notify: true },
  'end-while-stopping': { from: ['stopping'], to: 'stopping', persist: true, notify: true },
  'end-for-restart-command': { from: ['running'], to: 'starting', persist: true, notify: true },
  finish: { from: ENDED_FROM, to: 'exited', persist: true, notify: true, logs: 'stop-rotating' },
  'restart-now': { from: ENDED_FROM, to: 'backoff', persist: true, notify: false, logs: 'rotate' },
  'back-off': { from: ENDED_FROM, to: 'backoff', persist: true, notify: 'unless-detached', logs: 'rotate' },
  'give-up': { from: ['starting'], to: 'failed', persist: true, notify: true, logs: 'stop-rotating' },
  stopped: {
    from: ALL.filter((phase) => phase !== 'idle'),
    to: 'stopped',
    persist: true,
    notify: true,
    logs: 'stop-rotating',
  },
  'restore-stopped': { from: SETTLED_FROM, to: 'stopped', persist: false, notify: true },
  'restore-exited': { from: SETTLED_FROM, to: 'exited', persist: false, notify: true },
  'restore-failed': { from: SETTLED_FROM, to: 'failed', persist: false, notify: true },
};

/** The transition `event` makes from `phase`; undefined when the table does not allow it there. */
export function transition(phase: Phase, event: SupervisorEvent): Transition | undefined {
  const { from, ...next } = TRANSITIONS[event];
  return from.includes(phase) ? next : undefined;
}

/** What an ended process leads to under the restart policy; an exit code nobody saw counts as a failure. */
export function afterExit(
  policy: ProcessSpec['restart_policy'],
  succeeded: boolean,
  delayMs: () => number,
): { event: 'finish' } | { event: 'restart-now' | 'back-off'; delayMs: number } {
  if (policy === 'never' || (policy === 'on_failure' && succeeded)) return { event: 'finish' };
  const delay = delayMs();
  return { event: restartEvent(delay), delayMs: delay };
}

/** An automatic restart without delay goes straight to the new process; with one, CrashLoopBackOff. */
export function restartEvent(delayMs: number): 'restart-now' | 'back-off' {
  return delayMs > 0 ? 'back-off' : 'restart-now';
}

/** What a failed launch leads to: retried like a crash unless the policy is `never`. */
export function afterStartFailure(
  policy: ProcessSpec['restart_policy'],
  delayMs: () => number,
): { event: 'give-up' } | { event: 'restart-now' | 'back-off'; delayMs: number } {
  if (policy === 'never') return { event: 'give-up' };
  return afterExit(policy, false, delayMs) as { event: 'restart-now' | 'back-off'; delayMs: number };
}

/** The phase the state file records: a later agent re-adopts a live process or carries out a due restart. */
export function persistedPhase(phase: Phase): PersistedContainer['phase'] {
  switch (phase) {
    case 'running':
    case 'stopping':
      return 'running';
    case 'idle':
    case 'starting':
    case 'backoff':
      return 'backoff';
    default:
      return phase;
  }
}

/** adopt(): the event that puts back a container the state file says had settled. */
export function restoreEvent(phase: 'stopped' | 'exited' | 'failed'): SupervisorEvent {
  return `restore-${phase}`;
}
