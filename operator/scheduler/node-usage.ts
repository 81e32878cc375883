import { COMPONENT_LABEL, DEPLOYMENT_LABEL, STATEFUL_SET_LABEL } from '../../api/names.js';
import type { SeerNode, SeerPod } from '../../api/types.js';
import { objectKey } from '../../kube/keys.js';
import { parseQuantity } from '../../common/quantities.js';

/** A multiset: how many pods on a node hold each port, directory, deployment or component. */
export class Counts {
  private readonly counts = new Map<string, number>();

  has(key: string): boolean {
    return this.counts.has(key);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string, delta: number): void {
    const next = this.get(key) + delta;
    if (next > 0) this.counts.set(key, next);
    else this.counts.delete(key);
  }
}

/** What the pods bound to one node already take: requests, host ports, directories, replicas. */
export interface NodeUsage {
  node: SeerNode;
  pods: number;
  cpu: number;
  memory: number;
  /** `port/protocol` in use. */
  ports: Counts;
  /** Pod directory names (the pod names) and absolute deployment_dirs in use. */
  podNames: Counts;
  deploymentDirs: Counts;
  /** Pods per replicated workload (see replicasKey). */
  replicas: Counts;
  /** Component instances (`namespace/component`) on the node. */
  components: Counts;
  /** Config files written into components' sharing_dirs (`namespace/component/file`). */
  componentFiles: Counts;
  /** The pods on the node (by key), with their namespace and labels, for anti-affinity. */
  residents: Map<string, { namespace: string; labels: Record<string, string> }>;
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
    ports: new Counts(),
    podNames: new Counts(),
    deploymentDirs: new Counts(),
    replicas: new Counts(),
    components: new Counts(),
    componentFiles: new Counts(),
    residents: new Map(),
  };
}

/** Adds (`sign` 1) or takes away (`sign` -1) what a pod bound to the node holds. */
function account(usage: NodeUsage, pod: SeerPod, sign: 1 | -1): void {
  const requests = podRequests(pod);
  usage.pods += sign;
  usage.cpu += sign * requests.cpu;
  usage.memory += sign * requests.memory;
  usage.podNames.add(pod.metadata.name ?? '', sign);
  for (const container of pod.spec.containers) {
    for (const port of container.ports ?? [])
      usage.ports.add(portKey(port.container_port, port.protocol), sign);
    if (container.deployment_dir) usage.deploymentDirs.add(container.deployment_dir, sign);
  }
  const namespace = pod.metadata.namespace ?? 'default';
  const replicas = replicasKey(pod);
  if (replicas) usage.replicas.add(replicas, sign);
  const component = pod.metadata.labels?.[COMPONENT_LABEL];
  if (component) usage.components.add(`${namespace}/${component}`, sign);
  for (const key of componentFileKeys(pod)) usage.componentFiles.add(key, sign);
  if (sign > 0) usage.residents.set(objectKey(pod), { namespace, labels: pod.metadata.labels ?? {} });
  else usage.residents.delete(objectKey(pod));
}

/**
 * The replicated workload a pod is one of, which the scheduler spreads across nodes: its deployment
 * or stateful set (`SeerDeployment:namespace/name`); undefined for other pods. Daemon set pods are
 * bound to their nodes already.
 */
export function replicasKey(pod: SeerPod): string | undefined {
  const namespace = pod.metadata.namespace ?? 'default';
  const deployment = pod.metadata.labels?.[DEPLOYMENT_LABEL];
  if (deployment) return `SeerDeployment:${namespace}/${deployment}`;
  const statefulSet = pod.metadata.labels?.[STATEFUL_SET_LABEL];
  if (statefulSet) return `SeerStatefulSet:${namespace}/${statefulSet}`;
  return undefined;
}

/** The config files a pod writes into its required components (`namespace/component/file`). */
export function componentFileKeys(pod: SeerPod): string[] {
  const namespace = pod.metadata.namespace ?? 'default';
  return (pod.spec.required_components ?? []).flatMap((required) =>
    Object.keys(required.config ?? {}).map((file) => `${namespace}/${required.name}/${file}`),
  );
}

/** Finished pods hold nothing any more, as in Kubernetes. */
function holdsResources(pod: SeerPod): boolean {
  return !!pod.spec.node_name && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

/**
 * The usage of every node, kept current pod by pod (so a scheduling decision costs no pass over all
 * pods). A pod counts on the node its latest known version is bound to; putting a pod again replaces
 * what its previous version counted.
 */
export class UsageIndex {
  private readonly usage = new Map<string, NodeUsage>();
  /** What each pod counts for now, and on which node. */
  private readonly counted = new Map<string, SeerPod>();

  setNode(node: SeerNode): void {
    const name = node.metadata.name ?? '';
    const existing = this.usage.get(name);
    if (existing) existing.node = node;
    else {
      const usage = emptyUsage(node);
      this.usage.set(name, usage);
      for (const pod of this.counted.values()) if (pod.spec.node_name === name) account(usage, pod, 1);
    }
  }

  removeNode(name: string): void {
    this.usage.delete(name);
  }

  putPod(pod: SeerPod): void {
    this.removePod(objectKey(pod));
    if (!holdsResources(pod)) return;
    this.counted.set(objectKey(pod), pod);
    const usage = this.usage.get(pod.spec.node_name ?? '');
    if (usage) account(usage, pod, 1);
  }

  removePod(key: string): void {
    const previous = this.counted.get(key);
    if (!previous) return;
    this.counted.delete(key);
    const usage = this.usage.get(previous.spec.node_name ?? '');
    if (usage) account(usage, previous, -1);
  }

  get(node: string): NodeUsage | undefined {
    return this.usage.get(node);
  }

  nodes(): IterableIterator<NodeUsage> {
    return this.usage.values();
  }
}

/** Usage per node name, from every pod bound to a known node. */
export function usageByNode(nodes: SeerNode[], pods: SeerPod[]): Map<string, NodeUsage> {
  const index = new UsageIndex();
  for (const node of nodes) index.setNode(node);
  for (const pod of pods) index.putPod(pod);
  return new Map([...index.nodes()].map((usage) => [usage.node.metadata.name ?? '', usage]));
}
