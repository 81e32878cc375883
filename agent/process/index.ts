export { DEFAULT_BACKOFF, type BackoffSettings } from './backoff.js';
export { logPaths, type LogPaths } from './log-files.js';
export { DEFAULT_LOG_ROTATION, type LogRotationSettings } from './log-rotation.js';
export type { Probe, ProcessSpec } from './spec.js';
export {
  TerminatedReason,
  WaitingReason,
  type ContainerState,
  type ContainerStateTerminated,
  type ContainerStatus,
} from './status.js';
export { ContainerSupervisor, type SupervisorOptions } from './supervisor.js';
