import {
  APP_SET_CONDITION,
  APP_SET_FINALIZER,
  APP_SET_LABEL,
  APP_SET_PHASE,
  CONFIRMED_ANNOTATION,
  MEMBER_CLUSTER_LABEL,
  POD_SET_LABEL,
  ROLLOUT_GROUP_LABEL,
  SEER_API_VERSION,
  VERSION_LABEL,
} from '../../api/names.js';
import type { ConditionUpdate } from '../../api/conditions.js';
import type {
  AppSetCluster,
  AppSetClusterStatus,
  AppSetConditionType,
  AppSetPhase,
  AppSetPodSet,
  SeerAppSet,
  SeerAppSetStatus,
  SeerDeployment,
} from '../../api/types.js';
import { hashOf } from '../../common/hashing.js';
import { rolloutProgress } from '../../workloads/rollout-progress.js';

/** On a member's SeerDeployment: the hash of the template and settings the hub gave it. */
export const POD_SET_HASH_ANNOTATION = 'seer.io/pod-set-hash';

/** A member cluster as the app set controller sees it in this reconcile. */
export interface MemberView {
  name: string;
  /** The SeerCluster's phase, or Unknown when there is no such SeerCluster. */
  phase: string;
  /** The app set's deployments in the member, from its cache; undefined until that cache is filled. */
  deployments: SeerDeployment[] | undefined;
}

/** One SeerDeployment the app set wants in a member. */
export interface WantedDeployment {
  cluster: string;
  podSet: string;
  /** Created or updated now; a held deployment keeps its template and only follows replicas. */
  deployment: SeerDeployment;
  hash: string;
}

export interface AppSetPlan {
  /** Per member: deployments to create, and existing ones to update (template, or replicas only). */
  creates: WantedDeployment[];
  /** A template update replaces the spec (and our labels); otherwise only replicas change. */
  updates: { cluster: string; current: SeerDeployment; wanted: WantedDeployment; template: boolean }[];
  /** Member deployments of the app set that nothing in the topology wants any more. */
  deletes: { cluster: string; deployment: SeerDeployment }[];
  /** The status without conditions, which the controller writes with their transition times. */
  status: Omit<SeerAppSetStatus, 'conditions'>;
  conditions: ConditionUpdate<AppSetConditionType>[];
}

/** The pod sets' replicas: as given, and the rest of spec.replicas shared among those without. */
export function podSetReplicas(appSet: SeerAppSet): Map<string, number> {
  const podSets = appSet.spec.cluster_topology.clusters.flatMap((c) =>
    c.pod_sets.map((p) => ({ key: `${c.name}/${p.name}`, replicas: p.replicas })),
  );
  const given = podSets.reduce((sum, p) => sum + (p.replicas ?? 0), 0);
  const open = podSets.filter((p) => p.replicas === undefined);
  const rest = Math.max(0, appSet.spec.replicas - given);
  const replicas = new Map<string, number>();
  let index = 0;
  for (const p of podSets) {
    if (p.replicas !== undefined) replicas.set(p.key, p.replicas);
    else replicas.set(p.key, Math.floor(rest / open.length) + (index++ < rest % open.length ? 1 : 0));
  }
  return replicas;
}

function groupOf(podSet: AppSetPodSet): string | undefined {
  return podSet.meta?.[ROLLOUT_GROUP_LABEL];
}

/** The SeerDeployment a pod set of the app set should be in its member. */
export function wantedDeployment(
  appSet: SeerAppSet,
  cluster: AppSetCluster,
  podSet: AppSetPodSet,
  replicas: number,
): WantedDeployment {
  const name = appSet.metadata.name ?? '';
  const selector = { [APP_SET_LABEL]: name, [POD_SET_LABEL]: podSet.name };
  const labels = {
    ...cluster.meta,
    ...podSet.meta,
    ...selector,
    [VERSION_LABEL]: podSet.version,
    [MEMBER_CLUSTER_LABEL]: cluster.name,
  };
  const { template } = appSet.spec;
  const [first, ...others] = template.spec.containers;
  // A package of its own has a digest of its own: the template's would not match it.
  const containers =
    first && podSet.package
      ? [{ ...first, package: podSet.package, package_digest: undefined }, ...others]
      : template.spec.containers;
  const spec: SeerDeployment['spec'] = {
    replicas,
    selector: { match_labels: selector },
    template: {
      metadata: { ...template.metadata, labels: { ...template.metadata?.labels, ...labels } },
      spec: { ...template.spec, containers },
    },
    ...(appSet.spec.update_strategy?.min_ready_seconds === undefined
      ? {}
      : { min_ready_seconds: appSet.spec.update_strategy.min_ready_seconds }),
  };
  // Replicas are left out: a change of replicas alone is no new version to roll out.
  const hash = hashOf({ template: spec.template, min_ready_seconds: spec.min_ready_seconds, labels }, 10);
  const deployment: SeerDeployment = {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    metadata: {
      name: podSet.name,
      namespace: appSet.metadata.namespace,
      labels,
      annotations: { [POD_SET_HASH_ANNOTATION]: hash },
      finalizers: [APP_SET_FINALIZER],
    },
    spec,
  };
  return { cluster: cluster.name, podSet: podSet.name, deployment, hash };
}

function isUpdated(current: SeerDeployment, wanted: WantedDeployment): boolean {
  return current.metadata.annotations?.[POD_SET_HASH_ANNOTATION] === wanted.hash;
}

/** Sorts versions as people number them: v9 before v10. */
function byVersion(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

/**
 * What the app set controller does in one pass over the members: level-triggered, from the app set
 * and the members' caches alone. A version change goes first to the first wave (the canary clusters,
 * or the pod sets of the upgraded group), waits there for every pod to be available (and, with
 * need_waiting_for_confirm, for `seer appset confirm`), then to the other clusters one at a time.
 * Unreachable members are left alone and reported; nothing is deleted because a member is away.
 */
export function planAppSet(appSet: SeerAppSet, members: MemberView[]): AppSetPlan {
  const strategy = appSet.spec.update_strategy ?? {};
  const upgradeType = strategy.upgrade_type ?? 'canary';
  const canaryClusters = new Set(strategy.canary_clusters ?? []);
  const replicas = podSetReplicas(appSet);
  const byName = new Map(members.map((m) => [m.name, m]));
  const generation = appSet.metadata.generation;

  const wanted = appSet.spec.cluster_topology.clusters.flatMap((cluster) =>
    cluster.pod_sets.map((podSet) => ({
      wanted: wantedDeployment(appSet, cluster, podSet, replicas.get(`${cluster.name}/${podSet.name}`) ?? 0),
      firstWave:
        upgradeType === 'canary' ? canaryClusters.has(cluster.name) : groupOf(podSet) === upgradeType,
    })),
  );
  const revision = hashOf(
    wanted.map((w) => `${w.wanted.cluster}/${w.wanted.podSet}/${w.wanted.hash}`).sort(),
    10,
  );
  const currentOf = (w: WantedDeployment) =>
    byName.get(w.cluster)?.deployments?.find((d) => d.metadata.name === w.podSet);
  const isDone = (w: WantedDeployment) => {
    const current = currentOf(w);
    return (
      current !== undefined &&
      isUpdated(current, w) &&
      (current.spec.replicas ?? 1) === w.deployment.spec.replicas &&
      rolloutProgress(current).state === 'done'
    );
  };
  const isOutdated = (w: WantedDeployment) => {
    const current = currentOf(w);
    return current !== undefined && !isUpdated(current, w);
  };

  // Which outdated deployments may take their new template now.
  const firstWave = wanted.filter((w) => w.firstWave).map((w) => w.wanted);
  const rest = wanted.filter((w) => !w.firstWave).map((w) => w.wanted);
  const restOutdated = rest.some(isOutdated);
  const firstWaveDone = firstWave.every(isDone);
  const confirmed =
    !strategy.need_waiting_for_confirm ||
    firstWave.length === 0 ||
    appSet.metadata.annotations?.[CONFIRMED_ANNOTATION] === revision;
  const waitingForConfirm = restOutdated && firstWaveDone && !confirmed;
  const mayUpdate = new Set<WantedDeployment>(strategy.paused ? [] : firstWave);
  if (!strategy.paused && firstWaveDone && confirmed) {
    // Cluster by cluster, in topology order: the next starts once the one before is done.
    for (const cluster of appSet.spec.cluster_topology.clusters) {
      const ofCluster = rest.filter((w) => w.cluster === cluster.name);
      for (const w of ofCluster) mayUpdate.add(w);
      if (!ofCluster.every(isDone)) break;
    }
  }

  const plan: AppSetPlan = { creates: [], updates: [], deletes: [], status: {}, conditions: [] };
  const { conditions } = plan;
  const away: string[] = [];
  const unknown: string[] = [];
  const clusters: AppSetClusterStatus[] = [];
  for (const cluster of appSet.spec.cluster_topology.clusters) {
    const member = byName.get(cluster.name);
    const phase = member?.phase ?? 'Unknown';
    if (!member || phase === 'Unknown') unknown.push(cluster.name);
    else if (phase !== 'Reachable' || !member.deployments) away.push(`${cluster.name} (${phase})`);
    const writable = phase === 'Reachable' && member?.deployments !== undefined;
    const podSets = wanted.filter((w) => w.wanted.cluster === cluster.name).map((w) => w.wanted);
    const status: AppSetClusterStatus = {
      name: cluster.name,
      phase,
      replicas: 0,
      available_replicas: 0,
      pod_sets: [],
    };
    for (const w of podSets) {
      const current = currentOf(w);
      const desired = w.deployment.spec.replicas ?? 0;
      status.replicas = (status.replicas ?? 0) + desired;
      status.available_replicas =
        (status.available_replicas ?? 0) + (current?.status?.available_replicas ?? 0);
      status.pod_sets?.push({
        name: w.podSet,
        version: current?.metadata.labels?.[VERSION_LABEL],
        replicas: current?.spec.replicas ?? 0,
        available_replicas: current?.status?.available_replicas ?? 0,
        updated_replicas: current && isUpdated(current, w) ? (current.status?.updated_replicas ?? 0) : 0,
        updated: current !== undefined && isUpdated(current, w),
      });
      if (!writable) continue;
      if (!current) plan.creates.push(w);
      else if (current.metadata.deletionTimestamp) continue;
      else if (!isUpdated(current, w) && mayUpdate.has(w)) {
        plan.updates.push({ cluster: cluster.name, current, wanted: w, template: true });
      } else if ((current.spec.replicas ?? 1) !== desired) {
        plan.updates.push({ cluster: cluster.name, current, wanted: w, template: false });
      }
    }
    clusters.push(status);
  }
  for (const member of members) {
    if (member.phase !== 'Reachable') continue;
    for (const deployment of member.deployments ?? []) {
      const isWanted = wanted.some(
        (w) => w.wanted.cluster === member.name && w.wanted.podSet === deployment.metadata.name,
      );
      if (!isWanted && !deployment.metadata.deletionTimestamp)
        plan.deletes.push({ cluster: member.name, deployment });
    }
  }

  const total = clusters.reduce((sum, c) => sum + (c.replicas ?? 0), 0);
  const available = clusters.reduce((sum, c) => sum + (c.available_replicas ?? 0), 0);
  const versions = new Set(clusters.flatMap((c) => c.pod_sets?.flatMap((p) => p.version ?? []) ?? []));
  // A member away or unknown may run anything: its last cached state proves nothing.
  const everyDone =
    wanted.every((w) => isDone(w.wanted)) &&
    plan.deletes.length === 0 &&
    away.length === 0 &&
    unknown.length === 0;

  conditions.push(
    unknown.length > 0
      ? {
          type: APP_SET_CONDITION.ClustersReady,
          status: 'False',
          reason: 'UnknownCluster',
          message: `cluster_topology names ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not a SeerCluster; the other clusters proceed`,
        }
      : away.length > 0
        ? {
            type: APP_SET_CONDITION.ClustersReady,
            status: 'False',
            reason: 'ClusterUnreachable',
            message: `not reachable: ${away.join(', ')}; nothing is changed there until it is back`,
          }
        : {
            type: APP_SET_CONDITION.ClustersReady,
            status: 'True',
            reason: 'AllReachable',
            message: 'every cluster is reachable',
          },
  );
  conditions.push(
    total === appSet.spec.replicas
      ? {
          type: APP_SET_CONDITION.ReplicasMatch,
          status: 'True',
          reason: 'ReplicasMatch',
          message: `the pod sets run ${total} replicas`,
        }
      : {
          type: APP_SET_CONDITION.ReplicasMatch,
          status: 'False',
          reason: 'PodSetReplicasMismatch',
          message: `the pod sets' replicas add up to ${total}, spec.replicas is ${appSet.spec.replicas}; the pod sets' replicas are used`,
        },
  );
  conditions.push(
    everyDone
      ? {
          type: APP_SET_CONDITION.Available,
          status: 'True',
          reason: 'Running',
          message: 'every pod set runs its version, all replicas available',
        }
      : {
          type: APP_SET_CONDITION.Available,
          status: 'False',
          reason: waitingForConfirm ? 'WaitingForConfirm' : 'Progressing',
          message: waitingForConfirm
            ? `the first wave runs revision ${revision}; seer appset confirm ${appSet.metadata.name ?? ''} rolls it to the other clusters`
            : `${available} of ${total} replicas available`,
        },
  );
  const phase: AppSetPhase =
    strategy.paused && !everyDone
      ? APP_SET_PHASE.Paused
      : everyDone
        ? APP_SET_PHASE.Running
        : waitingForConfirm
          ? APP_SET_PHASE.WaitingForConfirm
          : APP_SET_PHASE.Progressing;
  plan.status = {
    observed_generation: generation,
    phase,
    replicas: total,
    available_replicas: available,
    unavailable_replicas: Math.max(0, total - available),
    updated_replicas: clusters.reduce(
      (sum, c) => sum + (c.pod_sets?.reduce((s, p) => s + (p.updated_replicas ?? 0), 0) ?? 0),
      0,
    ),
    version: [...versions].sort(byVersion).join('/') || undefined,
    revision,
    clusters,
  };
  return plan;
}
