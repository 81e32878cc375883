import { parseQuantity } from '../../common/quantities.js';
import type { CgroupLimits } from '../process/cgroups.js';
import type { ContainerCgroups } from '../process/cgroups.js';
import { CONTAINER_ENV } from '../../api/names.js';
import type { Container, SeerPod } from '../../api/types.js';
import type { ProcessSpec } from '../process/index.js';
import type { HostLayout } from './layout.js';

/** SEER_PORT_<NAME>: the port's name upper-cased, dashes as underscores. */
export function portVariable(portName: string): string {
  return `${CONTAINER_ENV.portPrefix}${portName.toUpperCase().replace(/-/g, '_')}`;
}

export class MissingStartCommandError extends Error {}

/**
 * What the supervisor runs for one container: its effective spec (package defaults already applied),
 * its directory, and the environment every command gets — the spec's env plus SEER_* variables and
 * one SEER_PORT_<NAME> per named port.
 */
export function processSpec(
  pod: SeerPod,
  container: Container,
  layout: HostLayout,
  node: { name: string; ip?: string },
  directory: string,
  cgroups?: ContainerCgroups,
): ProcessSpec {
  const podName = pod.metadata.name ?? '';
  const start = container.commands?.start;
  if (!start?.trim()) {
    throw new MissingStartCommandError(
      `container ${container.name} has no start command, and its package supplies none`,
    );
  }
  const ports: Record<string, number> = {};
  const env: Record<string, string> = {};
  for (const port of container.ports ?? []) {
    ports[port.name] = port.container_port;
    env[portVariable(port.name)] = String(port.container_port);
  }
  Object.assign(env, {
    [CONTAINER_ENV.podName]: podName,
    [CONTAINER_ENV.podNamespace]: pod.metadata.namespace ?? 'default',
    [CONTAINER_ENV.containerName]: container.name,
    [CONTAINER_ENV.containerDir]: directory,
    [CONTAINER_ENV.nodeName]: node.name,
  });
  if (node.ip) env[CONTAINER_ENV.nodeIp] = node.ip;
  // The spec's own variables come last: a pod may override anything.
  for (const variable of container.env ?? []) env[variable.name] = variable.value ?? '';

  return {
    name: container.name,
    directory,
    commands: {
      start,
      stop: container.commands?.stop,
      reload: container.commands?.reload,
      restart: container.commands?.restart,
      pre_start: container.commands?.pre_start,
      post_start: container.commands?.post_start,
      pre_stop: container.commands?.pre_stop,
    },
    mode: container.mode ?? 'foreground',
    pid_file: container.pid_file,
    env,
    user: container.user || undefined,
    ports,
    stop_timeout_seconds: container.stop_timeout_seconds ?? 30,
    restart_policy: container.restart_policy ?? 'always',
    ...(cgroups ? { cgroup_dir: cgroups.dir(node.name, podName, container.name) } : {}),
    ...limitsOf(container),
    ...(container.max_restarts === undefined
      ? {}
      : {
          restart_limit: {
            max: container.max_restarts,
            windowSeconds: container.restart_window_seconds ?? 300,
          },
        }),
    liveness_probe: container.liveness_probe,
    readiness_probe: container.readiness_probe,
    log_dir: layout.logDir(podName),
    state_file: layout.stateFile(podName, container.name),
  };
}

/** The container's limits in cgroup units; none asked, none given. */
function limitsOf(container: Container): Pick<ProcessSpec, 'limits'> {
  const asked = container.resources?.limits;
  if (!asked) return {};
  const limits: CgroupLimits = {};
  if (asked.memory !== undefined) limits.memoryBytes = Math.floor(parseQuantity(asked.memory));
  if (asked.cpu !== undefined) limits.cpuMillis = Math.ceil(parseQuantity(asked.cpu) * 1000);
  if (asked.pids !== undefined) limits.pids = asked.pids;
  return Object.keys(limits).length > 0 ? { limits } : {};
}
