import type { ContainerState } from '../../api/types.js';

// A container's observed state is the SeerPod API's own shape: exactly one of `waiting`, `running`
// and `terminated` is set.
export type { ContainerState, ContainerStateTerminated } from '../../api/types.js';

/** What the supervisor reports about its container, with the fields it always knows made required. */
export interface ContainerStatus {
  name: string;
  ready: boolean;
  /** True while a process is running for this container. */
  started: boolean;
  /** Automatic restarts (crashes, exits under `always`, liveness failures); requested restarts are not counted. */
  restart_count: number;
  pid?: number;
  state: ContainerState;
  /** The previous termination, kept while the container runs again or waits to. */
  last_state?: ContainerState;
  /** Why its resource limits are not (all) enforced on this host. */
  resources_message?: string;
}

export const WaitingReason = {
  /** Not started yet. */
  ContainerCreating: 'ContainerCreating',
  /** A forking start command is running or its pid file is awaited. */
  Starting: 'Starting',
  /** Waiting for the backoff delay before an automatic restart. */
  CrashLoopBackOff: 'CrashLoopBackOff',
  /** The process could not be started (missing directory or user, failing forking start command). */
  StartError: 'StartError',
  /** The forking start command succeeded but its pid file never named a running process. */
  PidFileMissing: 'PidFileMissing',
  /** The pre_start command failed. */
  PreStartError: 'PreStartError',
  /** The start failed once more than max_restarts allow: not retried. */
  RestartLimitReached: 'RestartLimitReached',
} as const;

export const TerminatedReason = {
  /** Exited with code 0. */
  Completed: 'Completed',
  /** Exited with a non-zero code. */
  Error: 'Error',
  /** Killed by SIGKILL it did not get from us (OOM killer, `kill -9`). */
  Killed: 'Killed',
  /** Ended by any other signal it did not get from us. */
  Signal: 'Signal',
  /** Killed by the supervisor after its liveness probe failed `failure_threshold` times. */
  LivenessProbeFailed: 'LivenessProbeFailed',
  /** Stopped by the supervisor because its post_start command failed. */
  PostStartHookError: 'PostStartHookError',
  /** Ended once more than max_restarts allow: not restarted (the exit is in exit_code and message). */
  RestartLimitReached: 'RestartLimitReached',
  /** Ended by a stop or restart the supervisor was asked for. */
  Stopped: 'Stopped',
  /** Exited, but the exit code cannot be known: it was not a child of this agent. */
  Unknown: 'Unknown',
} as const;
