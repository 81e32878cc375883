import { transition } from '../../api/conditions.js';
import {
  CONDITION_STATUS,
  CONTAINER_ENV,
  POD_ORDINAL_LABEL,
  STATEFUL_SET_CONDITION,
  STATEFUL_SET_LABEL,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import type {
  Condition,
  Container,
  PodTemplate,
  SeerDataDir,
  SeerPod,
  SeerStatefulSet,
  SeerStatefulSetStatus,
  StatefulSetConditionType,
} from '../../api/types.js';
import { revisionName } from '../../workloads/revisions.js';
import {
  availableFrom,
  isAvailable,
  isFinished,
  isReady,
  isTerminating,
  templateHashOf,
} from '../deployments/pod-state.js';
import { podFromTemplate, podsWithLabels } from '../runtime/owned-pods.js';

/** Reasons of a stateful set's conditions. */
export const STATEFUL_SET_REASON = {
  /** Progressing: every ordinal from the partition up runs an available pod of the update revision. */
  complete: 'NewRevisionAvailable',
  /** Progressing: pods are being created, replaced or removed. */
  progressing: 'RevisionUpdated',
  /** Available: every ordinal has an available pod. */
  available: 'AllReplicasAvailable',
  unavailable: 'ReplicasUnavailable',
} as const;

/** A template revision: the hash its pods are labelled with, and the template itself. */
export interface PlannedRevision {
  hash: string;
  template: PodTemplate;
}

/** The revisions one reconcile works with. */
export interface StatefulSetRevisions {
  /** The spec's template: what pods are updated to. */
  update: PlannedRevision;
  /** What the pods ran before the update under way (the update revision when none is). */
  current: PlannedRevision;
}

/** A pod to create: its ordinal, and from which revision. */
export interface PlannedPod {
  ordinal: number;
  revision: 'update' | 'current';
}

/** What one reconcile of a stateful set does, decided from its caches and a clock. */
export interface StatefulSetPlan {
  create: PlannedPod[];
  /** Failed pods, condemned ordinals (at or above replicas), a rolling update step. */
  delete: SeerPod[];
  /** Data dirs of removed ordinals whose pods are gone, under data_retention.when_scaled: delete. */
  deleteDataDirs: SeerDataDir[];
  status: SeerStatefulSetStatus;
  /** Look again after this long: a pod becomes available. */
  recheckAfterMs?: number;
}

/** The labels a pod must carry to belong to the stateful set: its name, plus spec.selector if set. */
export function statefulSetSelector(set: SeerStatefulSet): Record<string, string> {
  return { [STATEFUL_SET_LABEL]: set.metadata.name ?? '', ...set.spec.selector?.match_labels };
}

/** The selector in its string form (status.selector, read by `kubectl scale` and autoscalers). */
export function selectorString(set: SeerStatefulSet): string {
  const { [STATEFUL_SET_LABEL]: name, ...rest } = statefulSetSelector(set);
  const others = Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [[STATEFUL_SET_LABEL, name], ...others].map(([key, value]) => `${key}=${value}`).join(',');
}

/** The pods that belong to the stateful set: same namespace, every selector label with its value. */
export function statefulSetPods(set: SeerStatefulSet, pods: Iterable<SeerPod>): SeerPod[] {
  return podsWithLabels(set.metadata.namespace ?? 'default', statefulSetSelector(set), pods);
}

/** The key (`namespace/name`) of the stateful set a pod is labelled with, if any. */
export function statefulSetKeyOf(pod: SeerPod): string | undefined {
  const name = pod.metadata.labels?.[STATEFUL_SET_LABEL];
  return name ? `${pod.metadata.namespace ?? 'default'}/${name}` : undefined;
}

/** The name of the stateful set's pod of `ordinal`: `<name>-<ordinal>`. */
export function ordinalPodName(setName: string, ordinal: number): string {
  return `${setName}-${ordinal}`;
}

/** The ordinal `name` ends with, if it is `<setName>-<decimal number>`; else undefined. */
export function parseOrdinal(setName: string, name: string): number | undefined {
  const prefix = `${setName}-`;
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  if (!/^(0|[1-9][0-9]*)$/.test(rest)) return undefined;
  const ordinal = Number(rest);
  return Number.isSafeInteger(ordinal) ? ordinal : undefined;
}

/**
 * The data dir the pod of `ordinal` claims for claim `claim` of the template: `<claim>-<set>-<ordinal>`,
 * as Kubernetes names a stateful set's volume claims.
 */
export function dataDirName(claim: string, setName: string, ordinal: number): string {
  return `${claim}-${setName}-${ordinal}`;
}

/** The claim names (data_dirs names) of every container and init container of the template. */
export function claimsOf(template: PodTemplate | undefined): string[] {
  const containers = [...(template?.spec.init_containers ?? []), ...(template?.spec.containers ?? [])];
  return [...new Set(containers.flatMap((c) => (c.data_dirs ?? []).map((d) => d.name)))].sort();
}

/**
 * The data dirs in `dataDirs` that belong to the stateful set: named `<claim>-<set>-<ordinal>` for one
 * of `claims`, with their ordinal.
 */
export function dataDirsOf(
  set: SeerStatefulSet,
  claims: string[],
  dataDirs: Iterable<SeerDataDir>,
): { dataDir: SeerDataDir; ordinal: number }[] {
  const namespace = set.metadata.namespace ?? 'default';
  const name = set.metadata.name ?? '';
  const found: { dataDir: SeerDataDir; ordinal: number }[] = [];
  for (const dataDir of dataDirs) {
    if ((dataDir.metadata.namespace ?? 'default') !== namespace) continue;
    for (const claim of claims) {
      const ordinal = parseOrdinal(`${claim}-${name}`, dataDir.metadata.name ?? '');
      if (ordinal !== undefined) {
        found.push({ dataDir, ordinal });
        break;
      }
    }
  }
  return found;
}

/** A container of the pod of `ordinal`: its claims renamed for the ordinal, SEER_ORDINAL in its env. */
function forOrdinal(container: Container, setName: string, ordinal: number): Container {
  const env = (container.env ?? []).filter((v) => v.name !== CONTAINER_ENV.ordinal);
  const result: Container = {
    ...container,
    env: [...env, { name: CONTAINER_ENV.ordinal, value: String(ordinal) }],
  };
  if (container.data_dirs) {
    result.data_dirs = container.data_dirs.map((d) => ({
      ...d,
      name: dataDirName(d.name, setName, ordinal),
    }));
  }
  return result;
}

/**
 * The pod of `ordinal`, from `template` (hash `hash`): named `<set>-<ordinal>`, labelled with the set,
 * the template hash and the ordinal, owned by the set. Each container's data_dirs claim becomes that
 * ordinal's own (`<claim>-<set>-<ordinal>`), and SEER_ORDINAL is set in its environment (the agent sets
 * SEER_POD_NAME, the pod's name). It is not bound: the scheduler places it, on the node of its data
 * dirs once they exist.
 */
export function statefulSetPod(
  set: SeerStatefulSet,
  template: PodTemplate,
  hash: string,
  ordinal: number,
): SeerPod {
  const setName = set.metadata.name ?? '';
  const pod = podFromTemplate(set, template, ordinalPodName(setName, ordinal), {
    [STATEFUL_SET_LABEL]: setName,
    [TEMPLATE_HASH_LABEL]: hash,
    [POD_ORDINAL_LABEL]: String(ordinal),
  });
  pod.spec.containers = pod.spec.containers.map((c) => forOrdinal(c, setName, ordinal));
  if (pod.spec.init_containers)
    pod.spec.init_containers = pod.spec.init_containers.map((c) => forOrdinal(c, setName, ordinal));
  return pod;
}

/** The partition of a rolling update, within 0 to replicas; on_delete has none. */
export function partitionOf(set: SeerStatefulSet, replicas: number): number {
  return Math.min(replicas, Math.max(0, set.spec.update_strategy?.rolling_update?.partition ?? 0));
}

/**
 * Plans one reconcile of a stateful set, as Kubernetes' stateful set controller does:
 *
 * - ordinals 0 to replicas-1 are its replicas, examined in order: a failed (or succeeded) pod is
 *   deleted, to be created again once gone; a missing one is created (from the current revision below
 *   the partition, else the update revision). With ordered_ready the walk stops at the first ordinal
 *   that was just created, is being deleted, or is not ready and available: the next one waits for
 *   it. With parallel it never stops;
 * - once every replica is ready (ordered_ready), pods of ordinals at or above replicas are deleted
 *   highest first, one at a time (ordered_ready, each once the one before is gone) or all at once;
 * - rolling update: the highest ordinal at or above the partition whose pod is not of the update
 *   revision is deleted (and so recreated from it), one at a time, each once the one updated before
 *   is ready. on_delete: pods are replaced from the update revision only when someone deletes them;
 * - data_retention.when_scaled delete: the data dirs of ordinals at or above replicas are deleted
 *   once their pod is gone.
 */
export function planStatefulSet(
  set: SeerStatefulSet,
  pods: SeerPod[],
  dataDirs: SeerDataDir[],
  now: Date,
  revisions: StatefulSetRevisions,
): StatefulSetPlan {
  const nowMs = now.getTime();
  const setName = set.metadata.name ?? '';
  const desired = set.spec.replicas ?? 1;
  const minReadySeconds = set.spec.min_ready_seconds ?? 0;
  const ordered = (set.spec.pod_management_policy ?? 'ordered_ready') === 'ordered_ready';
  const rolling = (set.spec.update_strategy?.type ?? 'rolling_update') === 'rolling_update';
  const partition = rolling ? partitionOf(set, desired) : 0;
  const { update, current } = revisions;

  const byOrdinal = new Map<number, SeerPod>();
  for (const pod of pods) {
    const ordinal = parseOrdinal(setName, pod.metadata.name ?? '');
    if (ordinal !== undefined) byOrdinal.set(ordinal, pod);
  }
  const healthy = (pod: SeerPod) =>
    !isTerminating(pod) && isReady(pod) && isAvailable(pod, minReadySeconds, nowMs);

  const plan: StatefulSetPlan = { create: [], delete: [], deleteDataDirs: [], status: {} };
  let blocked = false;

  // The replicas, in order.
  for (let ordinal = 0; ordinal < desired && !blocked; ordinal++) {
    const pod = byOrdinal.get(ordinal);
    if (!pod) {
      plan.create.push({ ordinal, revision: rolling && ordinal < partition ? 'current' : 'update' });
      if (ordered) blocked = true;
      continue;
    }
    if (isTerminating(pod)) {
      if (ordered) blocked = true;
      continue;
    }
    if (isFinished(pod)) {
      plan.delete.push(pod);
      if (ordered) blocked = true;
      continue;
    }
    if (ordered && !healthy(pod)) blocked = true;
  }

  // The condemned, highest first, once every replica is healthy (ordered_ready).
  const condemned = [...byOrdinal.entries()].filter(([o]) => o >= desired).sort(([a], [b]) => b - a);
  if (!blocked) {
    for (const [, pod] of condemned) {
      if (isTerminating(pod)) {
        if (ordered) break;
        continue;
      }
      plan.delete.push(pod);
      if (ordered) break;
    }
  }

  // The rolling update step: one pod at a time, from the highest ordinal down to the partition, once
  // scaling down is over (ordered_ready: every condemned pod gone; parallel: every one being deleted).
  const deleting = new Set(plan.delete);
  const scalingDown = condemned.some(([, pod]) => ordered || !isTerminating(pod));
  if (rolling && !blocked && !scalingDown) {
    for (let ordinal = desired - 1; ordinal >= partition; ordinal--) {
      const pod = byOrdinal.get(ordinal);
      if (!pod || deleting.has(pod)) break;
      if (templateHashOf(pod) !== update.hash && !isTerminating(pod)) {
        plan.delete.push(pod);
        break;
      }
      if (!healthy(pod)) break;
    }
  }

  // Data dirs of removed ordinals, once their pod is gone.
  if (set.spec.data_retention?.when_scaled === 'delete') {
    const claims = [...new Set([...claimsOf(update.template), ...claimsOf(current.template)])];
    for (const { dataDir, ordinal } of dataDirsOf(set, claims, dataDirs)) {
      if (ordinal >= desired && !byOrdinal.has(ordinal) && !dataDir.metadata.deletionTimestamp)
        plan.deleteDataDirs.push(dataDir);
    }
  }

  // Status, counted over the pods that are not being deleted, as Kubernetes does.
  let replicas = 0;
  let ready = 0;
  let available = 0;
  let currentCount = 0;
  let updated = 0;
  let nextAvailable: number | undefined;
  for (const pod of byOrdinal.values()) {
    if (isTerminating(pod)) continue;
    replicas++;
    const hash = templateHashOf(pod);
    if (hash === current.hash) currentCount++;
    if (hash === update.hash) updated++;
    if (isReady(pod)) ready++;
    if (isAvailable(pod, minReadySeconds, nowMs)) available++;
    else {
      const from = availableFrom(pod, minReadySeconds);
      if (from !== undefined && from > nowMs) nextAvailable = Math.min(nextAvailable ?? from, from);
    }
  }
  // Once every replica runs the update revision and is ready, it is the current one.
  const rolledOut = updated === desired && ready === desired && replicas === desired;
  const currentRevision = rolledOut ? update.hash : current.hash;
  const complete =
    replicas === desired &&
    available === desired &&
    updated >= desired - partition &&
    plan.create.length === 0;
  plan.status = {
    observed_generation: set.metadata.generation,
    replicas,
    ready_replicas: ready,
    current_replicas: rolledOut ? updated : currentCount,
    updated_replicas: updated,
    available_replicas: available,
    current_revision: revisionName(setName, currentRevision),
    update_revision: revisionName(setName, update.hash),
    ready: `${ready}/${desired}`,
    selector: selectorString(set),
    ...(set.status?.collision_count === undefined ? {} : { collision_count: set.status.collision_count }),
    conditions: conditions(set, now, { complete, desired, available, updated, partition }),
  };
  if (nextAvailable !== undefined) plan.recheckAfterMs = nextAvailable - nowMs;
  return plan;
}

function conditions(
  set: SeerStatefulSet,
  now: Date,
  counts: { complete: boolean; desired: number; available: number; updated: number; partition: number },
): Condition<StatefulSetConditionType>[] {
  const previous = set.status?.conditions;
  const generation = set.metadata.generation;
  const { desired, available, updated, partition } = counts;
  const allAvailable = available >= desired;
  const toUpdate = desired - partition;
  return [
    transition(
      previous,
      {
        type: STATEFUL_SET_CONDITION.Progressing,
        status: CONDITION_STATUS.True,
        reason: counts.complete ? STATEFUL_SET_REASON.complete : STATEFUL_SET_REASON.progressing,
        message: counts.complete
          ? `every ordinal from ${partition} up (${toUpdate}) runs an available pod of the update revision`
          : `${updated} of ${desired} pods run the update revision, ${available} available`,
        observed_generation: generation,
      },
      now,
    ),
    transition(
      previous,
      {
        type: STATEFUL_SET_CONDITION.Available,
        status: allAvailable ? CONDITION_STATUS.True : CONDITION_STATUS.False,
        reason: allAvailable ? STATEFUL_SET_REASON.available : STATEFUL_SET_REASON.unavailable,
        message: `${available} of ${desired} pods are available`,
        observed_generation: generation,
      },
      now,
    ),
  ];
}
