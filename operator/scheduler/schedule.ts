import type { SeerPod } from '../../api/types.js';
import { FILTERS, type Filter } from './filters.js';
import type { NodeUsage } from './node-usage.js';
import { SCORES } from './scores.js';

export type Placement = { node: string } | { unschedulable: string };

/** The first reason a node cannot take the pod, or undefined when it can. */
export function refusal(pod: SeerPod, candidate: NodeUsage, filters: Filter[] = FILTERS): string | undefined {
  for (const filter of filters) {
    const reason = filter(pod, candidate);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/**
 * Picks the node for a pod: every filter must pass, then the best weighted score wins (ties go to the
 * node name, so the choice is deterministic). When no node fits, says why, per reason and node count,
 * as Kubernetes does: "0/5 nodes are available: 3 port 80 in use, 2 insufficient memory."
 */
export function schedule(pod: SeerPod, usage: Iterable<NodeUsage>, filters: Filter[] = FILTERS): Placement {
  const reasons = new Map<string, number>();
  let total = 0;
  let best: { name: string; score: number } | undefined;
  for (const candidate of usage) {
    total++;
    const reason = refusal(pod, candidate, filters);
    if (reason) {
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      continue;
    }
    const name = candidate.node.metadata.name ?? '';
    const score = SCORES.reduce((sum, { score, weight }) => sum + weight * score(pod, candidate), 0);
    if (!best || score > best.score || (score === best.score && name < best.name)) best = { name, score };
  }
  if (best) return { node: best.name };
  const why = [...reasons.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, count]) => `${count} ${reason}`)
    .join(', ');
  return { unschedulable: `0/${total} nodes are available${why ? `: ${why}` : ''}.` };
}
