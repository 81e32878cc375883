import { COMPONENT_LABEL, DEPLOYMENT_LABEL } from '../../api/names.js';
import type { SeerNode, SeerPod } from '../../api/types.js';
import { parseQuantity } from './quantities.js';

/** What the pods bound to one node already take: requests, host ports, directories, replicas. */
export interface NodeUsage {
  node: SeerNode;
  pods: number;
  cpu: number;
  memory: number;
  /** `port/protocol` in use. */
  ports: Set<string>;
  /** Pod directory names (the pod names) and absolute deployment_dirs in use. */
  podNames: Set<string>;
  deploymentDirs: Set<string>;
  /** Pods per deployment (`namespace/deployment`). */
  deployments: Map<string, number>;
  /** Component instances (`namespace/component`) on the node. */
  components: Set<string>;
}

export function portKey(port: number, protocol: string | undefined): string {
  return `${port}/${protocol ?? 'tcp'}`;
}

/** The requests of a pod: the sum over its containers. */
export function podRequests(pod: SeerPod): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const container of pod.spec.containers) {
    cpu += parseQuantity(container.resources?.requests?.cpu);
    memory += parseQuantity(container.resources?.requests?.memory);
  }
  return { cpu, memory };
}

export function emptyUsage(node: SeerNode): NodeUsage {
  return {
    node,
    pods: 0,
    cpu: 0,
    memory: 0,
    ports: new Set(),
    podNames: new Set(),
    deploymentDirs: new Set(),
    deployments: new Map(),
    components: new Set(),
  };
}

/** Adds a pod bound to the node to its usage (also for pods just bound in the same scheduling pass). */
export function addPod(usage: NodeUsage, pod: SeerPod): void {
  const requests = podRequests(pod);
  usage.pods++;
  usage.cpu += requests.cpu;
  usage.memory += requests.memory;
  usage.podNames.add(pod.metadata.name ?? '');
  for (const container of pod.spec.containers) {
    for (const port of container.ports ?? []) usage.ports.add(portKey(port.container_port, port.protocol));
    if (container.deployment_dir) usage.deploymentDirs.add(container.deployment_dir);
  }
  const namespace = pod.metadata.namespace ?? 'default';
  const deployment = pod.metadata.labels?.[DEPLOYMENT_LABEL];
  if (deployment) {
    const key = `${namespace}/${deployment}`;
    usage.deployments.set(key, (usage.deployments.get(key) ?? 0) + 1);
  }
  const component = pod.metadata.labels?.[COMPONENT_LABEL];
  if (component) usage.components.add(`${namespace}/${component}`);
}

/** Usage per node name, from every pod bound to a known node. */
export function usageByNode(nodes: SeerNode[], pods: SeerPod[]): Map<string, NodeUsage> {
  const usage = new Map(nodes.map((node) => [node.metadata.name ?? '', emptyUsage(node)]));
  for (const pod of pods) {
    // Finished pods hold nothing any more, as in Kubernetes.
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const bound = pod.spec.node_name && usage.get(pod.spec.node_name);
    if (bound) addPod(bound, pod);
  }
  return usage;
}
