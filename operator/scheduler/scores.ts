import type { SeerPod } from '../../api/types.js';
import { replicasKey, type NodeUsage } from './node-usage.js';
import { parseQuantity } from '../../common/quantities.js';

/** A score from 0 (worst) to 100 (best) for placing the pod on the node. */
export type Score = (pod: SeerPod, usage: NodeUsage) => number;

/**
 * Fewer pods of the same deployment or stateful set on the node is better: replicas spread across
 * nodes (a database's primary and replica on different hosts).
 */
export const spreadReplicas: Score = (pod, usage) => {
  const key = replicasKey(pod);
  if (!key) return 100;
  return 100 / (1 + (usage.replicas.get(key) ?? 0));
};

/** The node with the most room left is better (pods, cpu and memory, averaged). */
export const leastAllocated: Score = (_pod, usage) => {
  const allocatable = usage.node.status?.allocatable ?? usage.node.status?.capacity ?? {};
  const free = (used: number, total: number) => (total > 0 ? Math.max(0, 1 - used / total) : 1);
  const parts = [
    free(usage.pods, parseQuantity(allocatable.pods)),
    free(usage.cpu, parseQuantity(allocatable.cpu)),
    free(usage.memory, parseQuantity(allocatable.memory)),
  ];
  return (100 * parts.reduce((a, b) => a + b, 0)) / parts.length;
};

/** A node already running the pod's required components is better: no new instance needed. */
export const componentsPresent: Score = (pod, usage) => {
  const required = pod.spec.required_components ?? [];
  if (required.length === 0) return 100;
  const namespace = pod.metadata.namespace ?? 'default';
  const present = required.filter((c) => usage.components.has(`${namespace}/${c.name}`)).length;
  return (100 * present) / required.length;
};

/** Weighted: spreading replicas matters most, then reusing components, then free room. */
export const SCORES: { score: Score; weight: number }[] = [
  { score: spreadReplicas, weight: 3 },
  { score: componentsPresent, weight: 2 },
  { score: leastAllocated, weight: 1 },
];
