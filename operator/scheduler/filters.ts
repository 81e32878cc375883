import { CONDITION_STATUS, NODE_CONDITION } from '../../api/names.js';
import type { SeerComponent, SeerPod } from '../../api/types.js';
import { componentFileKeys, podRequests, portKey, type NodeUsage } from './node-usage.js';
import { parseQuantity } from '../../common/quantities.js';

/** Why a node cannot take a pod, worded for "0/5 nodes are available: 3 port 80 in use, …". */
export type Refusal = string;

/** A filter returns the reason a node cannot take the pod, or undefined when it can. */
export type Filter = (pod: SeerPod, usage: NodeUsage) => Refusal | undefined;

export const nodeReady: Filter = (_pod, { node }) => {
  const ready = node.status?.conditions?.find((c) => c.type === NODE_CONDITION.Ready);
  return ready?.status === CONDITION_STATUS.True ? undefined : 'node not ready';
};

export const nodeSchedulable: Filter = (_pod, { node }) =>
  node.spec?.unschedulable ? 'node unschedulable' : undefined;

export const nodeSelector: Filter = (pod, { node }) => {
  const labels = node.metadata.labels ?? {};
  const mismatch = Object.entries(pod.spec.node_selector ?? {}).some(([key, value]) => labels[key] !== value);
  return mismatch ? "node didn't match the pod's node_selector" : undefined;
};

export const resources: Filter = (pod, usage) => {
  const allocatable = usage.node.status?.allocatable ?? usage.node.status?.capacity ?? {};
  const requests = podRequests(pod);
  if (allocatable.pods !== undefined && usage.pods + 1 > parseQuantity(allocatable.pods))
    return 'too many pods';
  if (requests.cpu > 0 && usage.cpu + requests.cpu > parseQuantity(allocatable.cpu))
    return 'insufficient cpu';
  if (requests.memory > 0 && usage.memory + requests.memory > parseQuantity(allocatable.memory)) {
    return 'insufficient memory';
  }
  return undefined;
};

/** No network namespaces: two pods using one host port never share a node. */
export const hostPorts: Filter = (pod, usage) => {
  for (const container of pod.spec.containers) {
    for (const port of container.ports ?? []) {
      if (usage.ports.has(portKey(port.container_port, port.protocol)))
        return `port ${port.container_port} in use`;
    }
  }
  return undefined;
};

/**
 * A pod bound to a node brings there an instance of each component it requires, unless the node
 * already runs one: those instances' host ports must be free too, or the component could not start.
 */
export function componentHostPorts(
  component: (namespace: string, name: string) => SeerComponent | undefined,
): Filter {
  return (pod, usage) => {
    const namespace = pod.metadata.namespace ?? 'default';
    for (const required of pod.spec.required_components ?? []) {
      if (usage.components.has(`${namespace}/${required.name}`)) continue;
      for (const container of component(namespace, required.name)?.spec.template.spec.containers ?? []) {
        for (const port of container.ports ?? []) {
          if (usage.ports.has(portKey(port.container_port, port.protocol)))
            return `port ${port.container_port} in use (needed by component ${required.name})`;
        }
      }
    }
    return undefined;
  };
}

/**
 * A component's sharing_dir holds one file of each name: two pods writing the same file into the same
 * component (two replicas of one site) never share a node, or the second would fail with ConfigConflict.
 */
export const componentFiles: Filter = (pod, usage) => {
  const taken = componentFileKeys(pod).find((key) => usage.componentFiles.has(key));
  if (!taken) return undefined;
  // Neither names nor file names may contain a slash (the CRD's patterns).
  const [, component, file] = taken.split('/');
  return `config file ${file} of component ${component} in use`;
};

/** Two pods must never share a directory on a node: the pod directory or a deployment_dir. */
export const directories: Filter = (pod, usage) => {
  if (usage.podNames.has(pod.metadata.name ?? '')) return `pod directory ${pod.metadata.name} in use`;
  for (const container of pod.spec.containers) {
    if (container.deployment_dir && usage.deploymentDirs.has(container.deployment_dir)) {
      return `directory ${container.deployment_dir} in use`;
    }
  }
  return undefined;
};

/** A node running a pod of the same namespace that matches one of the pod's anti_affinity terms. */
export const antiAffinity: Filter = (pod, usage) => {
  const terms = pod.spec.anti_affinity ?? [];
  if (terms.length === 0) return undefined;
  const namespace = pod.metadata.namespace ?? 'default';
  for (const resident of usage.residents.values()) {
    if (resident.namespace !== namespace) continue;
    const matches = terms.some((term) =>
      Object.entries(term.match_labels).every(([key, value]) => resident.labels[key] === value),
    );
    if (matches) return "node has a pod matching the pod's anti_affinity";
  }
  return undefined;
};

export const FILTERS: Filter[] = [
  nodeReady,
  nodeSchedulable,
  nodeSelector,
  resources,
  hostPorts,
  componentFiles,
  directories,
  antiAffinity,
];
