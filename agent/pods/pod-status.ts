import { transition } from '../../api/conditions.js';
import { CONDITION_STATUS, POD_CONDITION, POD_PHASE } from '../../api/names.js';
import type {
  Condition,
  ConditionStatus,
  PodConditionType,
  PodPhase,
  SeerPod,
  SeerPodStatus,
} from '../../api/types.js';
import { TerminatedReason, type ContainerStatus } from '../process/index.js';

/** Why a pod is not running its containers yet (pulling, waiting for a component, refused package…). */
export interface Preparation {
  reason: string;
  message: string;
}

export interface PodObservation {
  pod: SeerPod;
  nodeName: string;
  hostIp?: string;
  startTime?: string;
  /** Set while packages and components are being made ready, or could not be. */
  preparing?: Preparation;
  containers: ContainerStatus[];
  /** Package digest per container name, once pulled. */
  digests: Record<string, string>;
}

function condition(
  previous: Condition<PodConditionType>[] | undefined,
  type: PodConditionType,
  status: ConditionStatus,
  reason: string,
  message: string | undefined,
  now: string,
): Condition<PodConditionType> {
  return transition(previous, { type, status, reason, ...(message ? { message } : {}) }, now);
}

const bool = (value: boolean): ConditionStatus => (value ? CONDITION_STATUS.True : CONDITION_STATUS.False);

/** Running, Succeeded or Failed once every container has been handed to its supervisor. */
function runningPhase(containers: ContainerStatus[]): PodPhase {
  // A container given up on (max_restarts) fails its pod, as systemd's unit enters failed.
  if (containers.some(gaveUp)) return POD_PHASE.Failed;
  const finished = containers.every((c) => c.state.terminated);
  if (finished) {
    return containers.every((c) => c.state.terminated?.exit_code === 0)
      ? POD_PHASE.Succeeded
      : POD_PHASE.Failed;
  }
  const everStarted = containers.some(
    (c) => c.started || c.restart_count > 0 || c.state.terminated || c.last_state,
  );
  return everStarted ? POD_PHASE.Running : POD_PHASE.Pending;
}

function gaveUp(container: ContainerStatus): boolean {
  const reason = container.state.terminated?.reason ?? container.state.waiting?.reason;
  return reason === TerminatedReason.RestartLimitReached;
}

/** The first container problem worth a person's attention (CrashLoopBackOff, StartError…). */
function containerProblem(containers: ContainerStatus[]): Preparation | undefined {
  for (const c of containers) {
    const terminated = c.state.terminated;
    if (terminated && gaveUp(c))
      return {
        reason: TerminatedReason.RestartLimitReached,
        message: `${c.name}: ${terminated.message ?? ''}`,
      };
    const waiting = c.state.waiting;
    if (waiting?.reason && !['ContainerCreating', 'Starting'].includes(waiting.reason)) {
      return { reason: waiting.reason, message: `${c.name}: ${waiting.message ?? waiting.reason}` };
    }
  }
  return undefined;
}

/** The pod's status as this host sees it; transition times are kept from the previous status. */
export function podStatus(observation: PodObservation, now = new Date().toISOString()): SeerPodStatus {
  const { pod, containers, preparing } = observation;
  const previous = pod.status?.conditions;
  const total = pod.spec.containers.length;
  const readyCount = containers.filter((c) => c.ready).length;
  const allReady = !preparing && readyCount === total;
  const phase = preparing ? POD_PHASE.Pending : runningPhase(containers);
  const problem = preparing ?? containerProblem(containers);
  const notReady = containers.filter((c) => !c.ready).map((c) => c.name);

  const status: SeerPodStatus = {
    phase,
    node_name: observation.nodeName,
    ready: `${preparing ? 0 : readyCount}/${total}`,
    restarts: containers.reduce((sum, c) => sum + c.restart_count, 0),
    observed_generation: pod.metadata.generation,
    conditions: [
      condition(
        previous,
        POD_CONDITION.PodScheduled,
        CONDITION_STATUS.True,
        'Bound',
        `bound to ${observation.nodeName}`,
        now,
      ),
      preparing
        ? condition(
            previous,
            POD_CONDITION.PackagesReady,
            CONDITION_STATUS.False,
            preparing.reason,
            preparing.message,
            now,
          )
        : condition(
            previous,
            POD_CONDITION.PackagesReady,
            CONDITION_STATUS.True,
            'PackagesUnpacked',
            undefined,
            now,
          ),
      condition(
        previous,
        POD_CONDITION.ContainersReady,
        bool(allReady),
        allReady ? 'ContainersReady' : 'ContainersNotReady',
        allReady ? undefined : preparing ? 'packages are not ready' : `not ready: ${notReady.join(', ')}`,
        now,
      ),
      condition(
        previous,
        POD_CONDITION.Ready,
        bool(allReady),
        allReady ? 'PodReady' : (problem?.reason ?? 'ContainersNotReady'),
        allReady ? undefined : (problem?.message ?? `not ready: ${notReady.join(', ')}`),
        now,
      ),
    ],
    container_statuses: containers.map((c) => {
      const digest = observation.digests[c.name];
      return digest ? { ...c, package_digest: digest } : { ...c };
    }),
  };
  if (problem) {
    status.reason = problem.reason;
    status.message = problem.message;
  }
  if (observation.hostIp) status.host_ip = observation.hostIp;
  if (observation.startTime) status.start_time = observation.startTime;
  return status;
}
