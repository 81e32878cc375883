import { transition } from '../../api/conditions.js';
import { CONDITION_STATUS, DAEMON_SET_CONDITION, DAEMON_SET_LABEL } from '../../api/names.js';
import type {
  Condition,
  DaemonSetConditionType,
  IntOrString,
  SeerDaemonSet,
  SeerDaemonSetStatus,
  SeerNode,
  SeerPod,
} from '../../api/types.js';
import { resolveLimit } from '../deployments/rollout-limits.js';
import {
  availableFrom,
  isAvailable,
  isFinished,
  isReady,
  isTerminating,
  templateHashOf,
  timeOf,
} from '../deployments/pod-state.js';
import { podsWithLabels } from '../runtime/owned-pods.js';

/** Reasons of a daemon set's conditions. */
export const DAEMON_SET_REASON = {
  /** Progressing: every node that should run the pod runs an available one of the current template. */
  complete: 'NewTemplateAvailable',
  /** Progressing: pods are being created, replaced or removed. */
  progressing: 'TemplateUpdated',
  /** Available: every node that should run the pod has an available one. */
  available: 'AllNodesAvailable',
  unavailable: 'NodesUnavailable',
} as const;

/** What one reconcile of a daemon set does, decided from its caches and a clock. */
export interface DaemonSetPlan {
  /** Nodes to create a pod of the current template on, bound to the node. */
  create: string[];
  /** Pods to delete: on nodes that must not run one, duplicates, finished pods, rolling update steps. */
  delete: SeerPod[];
  /**
   * Pods on nodes that no longer exist: deleted and released (the agent's finalizer removed), since no
   * agent is left to clean up after them.
   */
  release: SeerPod[];
  status: SeerDaemonSetStatus;
  /** Look again after this long: a pod becomes available. */
  recheckAfterMs?: number;
}

/** The labels a pod must carry to belong to the daemon set: its name, plus spec.selector if set. */
export function daemonSetSelector(daemonSet: SeerDaemonSet): Record<string, string> {
  return {
    [DAEMON_SET_LABEL]: daemonSet.metadata.name ?? '',
    ...daemonSet.spec.selector?.match_labels,
  };
}

/** The pods that belong to the daemon set: same namespace, every selector label with its value. */
export function daemonSetPods(daemonSet: SeerDaemonSet, pods: Iterable<SeerPod>): SeerPod[] {
  return podsWithLabels(daemonSet.metadata.namespace ?? 'default', daemonSetSelector(daemonSet), pods);
}

/** The key (`namespace/name`) of the daemon set a pod is labelled with, if any. */
export function daemonSetKeyOf(pod: SeerPod): string | undefined {
  const name = pod.metadata.labels?.[DAEMON_SET_LABEL];
  return name ? `${pod.metadata.namespace ?? 'default'}/${name}` : undefined;
}

function hasLabels(node: SeerNode, wanted: Record<string, string> | undefined): boolean {
  const labels = node.metadata.labels ?? {};
  return Object.entries(wanted ?? {}).every(([key, value]) => labels[key] === value);
}

/**
 * Whether the node should run the daemon set's pod: it is not being deleted and carries the labels of
 * spec.node_selector and of the template's own node_selector. Whether it is cordoned or Ready does not
 * matter: Kubernetes' daemon pods tolerate both.
 */
export function shouldRun(daemonSet: SeerDaemonSet, node: SeerNode): boolean {
  return (
    !node.metadata.deletionTimestamp &&
    hasLabels(node, daemonSet.spec.node_selector) &&
    hasLabels(node, daemonSet.spec.template.spec.node_selector)
  );
}

/**
 * How many nodes a rolling update may leave without an available pod: a number, or a percentage of
 * `desired` rounded up (Kubernetes' daemon set controller, GetScaledValueFromIntOrPercent with roundUp);
 * never less than 1, or the update could not move.
 */
export function maxUnavailable(value: IntOrString | undefined, desired: number): number {
  return Math.max(1, resolveLimit(value ?? 1, desired, true));
}

function byAge(a: SeerPod, b: SeerPod): number {
  const ta = timeOf(a.metadata.creationTimestamp) ?? 0;
  const tb = timeOf(b.metadata.creationTimestamp) ?? 0;
  if (ta !== tb) return ta - tb;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1;
}

/** Of several pods on one node, the one to keep: of the current template first, then the oldest. */
function keeper(pods: SeerPod[], targetHash: string): SeerPod {
  const current = pods.filter((p) => templateHashOf(p) === targetHash).sort(byAge);
  return current[0] ?? [...pods].sort(byAge)[0]!;
}

/**
 * Plans one reconcile of a daemon set, as Kubernetes' daemon set controller does (with max_surge 0):
 *
 * - each node that should run the pod and has none gets one, once no pod of the set is still stopping
 *   there (host ports and directories are not shared, so the old pod goes before the new one starts);
 * - pods on nodes that should not run one, extra pods on a node, and finished pods are deleted; pods
 *   on nodes that no longer exist are released;
 * - rolling update: an old pod that is not available is replaced at once; available old pods are
 *   deleted while fewer than max_unavailable nodes lack an available pod (a node counts until its new
 *   pod has been ready for min_ready_seconds, and so does a node whose old pod is unavailable). on_delete: old pods stay until
 *   someone deletes them, and are then replaced from the current template.
 */
export function planDaemonSet(
  daemonSet: SeerDaemonSet,
  nodes: SeerNode[],
  pods: SeerPod[],
  now: Date,
  targetHash: string,
): DaemonSetPlan {
  const nowMs = now.getTime();
  const minReadySeconds = daemonSet.spec.min_ready_seconds ?? 0;
  const nodeNames = new Set(nodes.map((n) => n.metadata.name ?? ''));
  const wanted = new Set(nodes.filter((n) => shouldRun(daemonSet, n)).map((n) => n.metadata.name ?? ''));

  const active = new Map<string, SeerPod[]>();
  const stopping = new Set<string>();
  const plan: DaemonSetPlan = { create: [], delete: [], release: [], status: {} };
  for (const pod of pods) {
    const node = pod.spec.node_name ?? '';
    if (node && !nodeNames.has(node)) {
      plan.release.push(pod);
      continue;
    }
    if (isTerminating(pod)) {
      stopping.add(node);
      continue;
    }
    if (!node || !wanted.has(node) || isFinished(pod)) {
      plan.delete.push(pod);
      if (node) stopping.add(node);
      continue;
    }
    active.set(node, [...(active.get(node) ?? []), pod]);
  }

  // One pod per node that should run one.
  const kept = new Map<string, SeerPod>();
  for (const node of [...wanted].sort()) {
    const onNode = active.get(node) ?? [];
    if (onNode.length === 0) {
      if (!stopping.has(node)) plan.create.push(node);
      continue;
    }
    const keep = keeper(onNode, targetHash);
    kept.set(node, keep);
    plan.delete.push(...onNode.filter((p) => p !== keep));
  }

  // The rolling update step.
  const desired = wanted.size;
  if ((daemonSet.spec.update_strategy?.type ?? 'rolling') === 'rolling') {
    const limit = maxUnavailable(daemonSet.spec.update_strategy?.max_unavailable, desired);
    let unavailable = 0;
    const replaceNow: SeerPod[] = [];
    const candidates: SeerPod[] = [];
    for (const node of [...wanted].sort()) {
      const pod = kept.get(node);
      if (!pod) unavailable++;
      else if (templateHashOf(pod) === targetHash) {
        if (!isAvailable(pod, minReadySeconds, nowMs)) unavailable++;
      } else if (!isAvailable(pod, minReadySeconds, nowMs)) {
        // Unavailable already: replacing it costs nothing, but it counts against the limit (stricter
        // than Kubernetes, which does not count it), so the nodes without an available pod never
        // exceed max_unavailable because of the update.
        replaceNow.push(pod);
        unavailable++;
      } else candidates.push(pod);
    }
    const room = Math.max(0, Math.min(limit - unavailable, candidates.length));
    plan.delete.push(...replaceNow, ...candidates.slice(0, room));
  }

  // Status, counted per node as Kubernetes does.
  let current = 0;
  let ready = 0;
  let available = 0;
  let updated = 0;
  let nextAvailable: number | undefined;
  for (const [node, pod] of kept) {
    if (!wanted.has(node)) continue;
    current++;
    if (templateHashOf(pod) === targetHash) updated++;
    if (isReady(pod)) ready++;
    if (isAvailable(pod, minReadySeconds, nowMs)) available++;
    else {
      const from = availableFrom(pod, minReadySeconds);
      if (from !== undefined && from > nowMs) nextAvailable = Math.min(nextAvailable ?? from, from);
    }
  }
  const misscheduled = new Set(
    pods
      .filter((p) => !isTerminating(p) && p.spec.node_name && !wanted.has(p.spec.node_name))
      .map((p) => p.spec.node_name),
  ).size;
  plan.status = {
    observed_generation: daemonSet.metadata.generation,
    desired_number_scheduled: desired,
    current_number_scheduled: current,
    number_ready: ready,
    updated_number_scheduled: updated,
    number_available: available,
    number_unavailable: desired - available,
    number_misscheduled: misscheduled,
    conditions: conditions(daemonSet, now, {
      complete: updated === desired && available === desired && misscheduled === 0,
      allAvailable: available === desired,
      desired,
      available,
      updated,
    }),
  };
  if (nextAvailable !== undefined) plan.recheckAfterMs = nextAvailable - nowMs;
  return plan;
}

function conditions(
  daemonSet: SeerDaemonSet,
  now: Date,
  counts: { complete: boolean; allAvailable: boolean; desired: number; available: number; updated: number },
): Condition<DaemonSetConditionType>[] {
  const previous = daemonSet.status?.conditions;
  const generation = daemonSet.metadata.generation;
  const { desired, available, updated } = counts;
  return [
    transition(
      previous,
      {
        type: DAEMON_SET_CONDITION.Progressing,
        status: CONDITION_STATUS.True,
        reason: counts.complete ? DAEMON_SET_REASON.complete : DAEMON_SET_REASON.progressing,
        message: counts.complete
          ? `every node that should run the pod (${desired}) runs an available pod of the current template`
          : `${updated} of ${desired} nodes run the current template, ${available} available`,
        observed_generation: generation,
      },
      now,
    ),
    transition(
      previous,
      {
        type: DAEMON_SET_CONDITION.Available,
        status: counts.allAvailable ? CONDITION_STATUS.True : CONDITION_STATUS.False,
        reason: counts.allAvailable ? DAEMON_SET_REASON.available : DAEMON_SET_REASON.unavailable,
        message: `${available} of ${desired} nodes have an available pod`,
        observed_generation: generation,
      },
      now,
    ),
  ];
}
