// Names shared by the CRDs, the operator and the agent. crds/*.yaml is the source of truth; the unit
// tests check that these constants agree with it.

/** The API group of every Seer resource. */
export const SEER_GROUP = 'seer.io';
/** The only served (and stored) version. */
export const SEER_VERSION = 'v1alpha1';
/** The apiVersion field of every Seer object. */
export const SEER_API_VERSION = `${SEER_GROUP}/${SEER_VERSION}` as const;

export type SeerKind =
  | 'SeerPod'
  | 'SeerDeployment'
  | 'SeerDaemonSet'
  | 'SeerStatefulSet'
  | 'SeerComponent'
  | 'SeerNode'
  | 'SeerDataDir'
  | 'SeerCluster'
  | 'SeerAppSet';

export interface SeerResource {
  kind: SeerKind;
  listKind: `${SeerKind}List`;
  /** The resource name in URLs and RBAC rules. */
  plural: string;
  singular: string;
  /** The short name kubectl accepts, e.g. `kubectl get spod`. */
  shortName: string;
  namespaced: boolean;
}

/** The kinds, as their CRDs name them. All are in the kubectl category `seer`. */
export const SEER_RESOURCES = {
  SeerPod: {
    kind: 'SeerPod',
    listKind: 'SeerPodList',
    plural: 'seerpods',
    singular: 'seerpod',
    shortName: 'spod',
    namespaced: true,
  },
  SeerDeployment: {
    kind: 'SeerDeployment',
    listKind: 'SeerDeploymentList',
    plural: 'seerdeployments',
    singular: 'seerdeployment',
    shortName: 'sdeploy',
    namespaced: true,
  },
  SeerDaemonSet: {
    kind: 'SeerDaemonSet',
    listKind: 'SeerDaemonSetList',
    plural: 'seerdaemonsets',
    singular: 'seerdaemonset',
    shortName: 'sds',
    namespaced: true,
  },
  SeerStatefulSet: {
    kind: 'SeerStatefulSet',
    listKind: 'SeerStatefulSetList',
    plural: 'seerstatefulsets',
    singular: 'seerstatefulset',
    shortName: 'ssts',
    namespaced: true,
  },
  SeerComponent: {
    kind: 'SeerComponent',
    listKind: 'SeerComponentList',
    plural: 'seercomponents',
    singular: 'seercomponent',
    shortName: 'scomp',
    namespaced: true,
  },
  SeerNode: {
    kind: 'SeerNode',
    listKind: 'SeerNodeList',
    plural: 'seernodes',
    singular: 'seernode',
    shortName: 'snode',
    namespaced: false,
  },
  SeerDataDir: {
    kind: 'SeerDataDir',
    listKind: 'SeerDataDirList',
    plural: 'seerdatadirs',
    singular: 'seerdatadir',
    shortName: 'sdd',
    namespaced: true,
  },
  SeerCluster: {
    kind: 'SeerCluster',
    listKind: 'SeerClusterList',
    plural: 'seerclusters',
    singular: 'seercluster',
    shortName: 'scl',
    namespaced: false,
  },
  SeerAppSet: {
    kind: 'SeerAppSet',
    listKind: 'SeerAppSetList',
    plural: 'seerappsets',
    singular: 'seerappset',
    shortName: 'sas',
    namespaced: true,
  },
} as const satisfies Record<SeerKind, SeerResource>;

/** The kubectl category every Seer kind belongs to (`kubectl get seer`). */
export const SEER_CATEGORY = 'seer';

// Finalizers

/** On every bound SeerPod; the agent removes it once the pod's processes and directories are gone. */
export const AGENT_FINALIZER = 'seer.io/agent';
/**
 * On a SeerStatefulSet whose data_retention.when_deleted is delete: removed once its pods are gone and
 * its data dirs deleted.
 */
export const STATEFUL_SET_DATA_FINALIZER = 'seer.io/stateful-set-data';
/** On a SeerComponent while pods require it, so it cannot disappear under its dependents. */
export const COMPONENT_IN_USE_FINALIZER = 'seer.io/component-in-use';
/** On a placed SeerDataDir; the agent of its node removes it once the directory is gone. */
export const DATA_DIR_FINALIZER = 'seer.io/data-dir';

/**
 * On a SeerAppSet (in the hub) and on each SeerDeployment it made in a member: the hub removes it once
 * the member's copy and its pods are gone, since owner references cannot span clusters.
 */
export const APP_SET_FINALIZER = 'seer.io/app-set';

// Labels

/**
 * On a SeerPod: the node it is bound to, so pods can be listed per node by label as well. On a placed
 * SeerDataDir too: each agent watches those of its node by this label.
 */
export const NODE_LABEL = 'seer.io/node';
/** On a SeerPod created by a deployment: the deployment's name (its default selector). */
export const DEPLOYMENT_LABEL = 'seer.io/deployment';
/** On a SeerPod created by a daemon set: the daemon set's name (its default selector). */
export const DAEMON_SET_LABEL = 'seer.io/daemon-set';
/** On a SeerPod created by a stateful set: the stateful set's name (its default selector). */
export const STATEFUL_SET_LABEL = 'seer.io/stateful-set';
/** On a SeerPod created by a stateful set: its ordinal, the number its name ends with. */
export const POD_ORDINAL_LABEL = 'seer.io/pod-ordinal';
/** On a SeerPod created from a template: the hash of that template, to tell old pods from new. */
export const TEMPLATE_HASH_LABEL = 'seer.io/template-hash';
/**
 * On a SeerPod of a deployment with the canary strategy: canary (the new template) or stable; with
 * blue_green: blue (odd revisions) or green (even revisions).
 */
export const ROLLOUT_GROUP_LABEL = 'seer.io/group';
/** On a SeerDeployment a SeerAppSet made in a member, and its pods: the app set's name. */
export const APP_SET_LABEL = 'seer.io/app-set';
/** On a SeerDeployment of an app set, and its pods: the pod set it runs. */
export const POD_SET_LABEL = 'seer.io/pod-set';
/** On a SeerDeployment of an app set, and its pods: the pod set's version. */
export const VERSION_LABEL = 'seer.io/version';
/** On a SeerDeployment of an app set: the SeerCluster (in the hub) the hub made it through. */
export const MEMBER_CLUSTER_LABEL = 'seer.io/member-cluster';
/** On a component instance pod: the SeerComponent it is an instance of. */
export const COMPONENT_LABEL = 'seer.io/component';

// Annotations

/** On a SeerPod: each new value asks the agent for one restart of its containers. */
export const RESTART_ANNOTATION = 'seer.io/restart-requested';
/** On a SeerPod: each new value asks the agent for one reload of its containers. */
export const RELOAD_ANNOTATION = 'seer.io/reload-requested';
/** On a SeerDeployment and its pods: the rollout revision number of the template. */
export const REVISION_ANNOTATION = 'seer.io/revision';
/** On a SeerDeployment: why the template last changed, recorded with the revision. */
export const CHANGE_CAUSE_ANNOTATION = 'seer.io/change-cause';

/** On a SeerDeployment: the template hash `seer rollout promote` (or auto_promote) promoted. */
export const PROMOTED_ANNOTATION = 'seer.io/promoted-template-hash';
/** On a SeerDeployment: the template hash `seer rollout abort` (or auto_revert) went back from. */
export const ABORTED_ANNOTATION = 'seer.io/aborted-template-hash';

/** On a SeerAppSet: the rollout revision `seer appset confirm` let go past the first wave. */
export const CONFIRMED_ANNOTATION = 'seer.io/confirmed-revision';
/**
 * On a SeerCluster: when `seer cluster forget` ran. App sets deleted before then stop waiting for
 * that member; what they made there is left in place.
 */
export const FORGOTTEN_ANNOTATION = 'seer.io/forgotten-at';

// Fields and environment

/** The field selector agents watch their own pods with: `spec.node_name=<node>`. */
export const NODE_NAME_FIELD = 'spec.node_name';
/** Where pods are deployed on a node unless the cluster sets another root. */
export const DEFAULT_ROOT_DIR = '/seer';
/** Where a node keeps its data directories, under its root, unless the agent is given another. */
export const DATA_ROOT_SUBDIR = 'data';

/** Environment variables the agent sets for every command of a container. */
export const CONTAINER_ENV = {
  /** The SeerPod's name. */
  podName: 'SEER_POD_NAME',
  /** The SeerPod's namespace. */
  podNamespace: 'SEER_NAMESPACE',
  /** The container's name within the pod. */
  containerName: 'SEER_CONTAINER_NAME',
  /** The absolute directory the container's package is unpacked in (also the commands' cwd). */
  containerDir: 'SEER_CONTAINER_DIR',
  /** The SeerNode the pod runs on. */
  nodeName: 'SEER_NODE_NAME',
  /** The node's first address, the pod's host_ip (Kubernetes' status.hostIP); unset when it has none. */
  nodeIp: 'SEER_NODE_IP',
  /** In the pods of a stateful set, set in the pod's spec: the pod's ordinal. */
  ordinal: 'SEER_ORDINAL',
  /** Followed by a port's name in upper case (dashes become underscores): its port number. */
  portPrefix: 'SEER_PORT_',
} as const;

// Namespaces

/** Where the operator's leader Lease and the node agents' ServiceAccounts live. */
export const SEER_NAMESPACE = 'seer-system';

// Node heartbeats

/** The namespace of the node heartbeat Leases (Kubernetes keeps its own node Leases there too). */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** The Lease a node's agent renews as its heartbeat. Prefixed so it never collides with a kubelet's. */
export function nodeLeaseName(nodeName: string): string {
  return `seer-node-${nodeName}`;
}

// Condition statuses, condition types and phases

/** The status of any condition. */
export const CONDITION_STATUS = { True: 'True', False: 'False', Unknown: 'Unknown' } as const;

/** SeerPod condition types. */
export const POD_CONDITION = {
  /** Bound to a node. */
  PodScheduled: 'PodScheduled',
  /** Every package is pulled and unpacked, and the required components are in place. */
  PackagesReady: 'PackagesReady',
  /** Every container is running and passes its readiness probe. */
  ContainersReady: 'ContainersReady',
  /** The pod can do its work. */
  Ready: 'Ready',
} as const;

/** SeerDeployment condition types. */
export const DEPLOYMENT_CONDITION = {
  /** A rollout is moving forward or has finished; False after progress_deadline_seconds without progress. */
  Progressing: 'Progressing',
  /** At least replicas minus max_unavailable pods are available. */
  Available: 'Available',
  /** Pods could not be created. */
  ReplicaFailure: 'ReplicaFailure',
} as const;

/** SeerDaemonSet condition types. */
export const DAEMON_SET_CONDITION = {
  /** Every node that should run the pod runs one of the current template, or a rolling update is under way. */
  Progressing: 'Progressing',
  /** Every node that should run the pod has an available one. */
  Available: 'Available',
  /** Pods could not be created. */
  PodFailure: 'PodFailure',
} as const;

/** SeerStatefulSet condition types. */
export const STATEFUL_SET_CONDITION = {
  /** Pods are being created, replaced or removed, or every ordinal runs an available pod of the update revision. */
  Progressing: 'Progressing',
  /** Every ordinal has an available pod. */
  Available: 'Available',
  /** Pods could not be created. */
  PodFailure: 'PodFailure',
} as const;

/** SeerComponent condition types. */
export const COMPONENT_CONDITION = {
  /** At least one pod requires the component. */
  InUse: 'InUse',
  /** Every instance of the component is ready. */
  Ready: 'Ready',
} as const;

/** SeerNode condition types. */
export const NODE_CONDITION = {
  /** The node's agent is healthy; Unknown once its heartbeat Lease expires. */
  Ready: 'Ready',
} as const;

export const CLUSTER_CONDITION = {
  /** The hub reaches the member's API server with its kubeconfig. */
  Reachable: 'Reachable',
} as const;

/** SeerCluster phases, as the hub sees each member. */
export const CLUSTER_PHASE = {
  Reachable: 'Reachable',
  /** The last check did not reach the member's API server. */
  Unreachable: 'Unreachable',
  /** The kubeconfig Secret is missing or cannot be used. */
  Invalid: 'Invalid',
} as const;

/** SeerAppSet condition types. */
export const APP_SET_CONDITION = {
  /** Every cluster the topology names is a known, reachable SeerCluster. */
  ClustersReady: 'ClustersReady',
  /** The pod sets' replicas add up to spec.replicas. */
  ReplicasMatch: 'ReplicasMatch',
  /** Every member's deployments run the wanted version and are available. */
  Available: 'Available',
  /** While the app set is deleted: which members still hold its objects. */
  Terminating: 'Terminating',
} as const;

/** SeerAppSet phases, the STATUS column. */
export const APP_SET_PHASE = {
  /** Every pod set runs its wanted version, all replicas available. */
  Running: 'Running',
  /** Deployments are being created, updated or are not all available yet. */
  Progressing: 'Progressing',
  /** The first wave (the canary clusters, or the upgraded group) is done; seer appset confirm goes on. */
  WaitingForConfirm: 'WaitingForConfirm',
  /** spec.update_strategy.paused: members' templates are left as they are. */
  Paused: 'Paused',
  /** Deleted; the members' deployments are being removed. */
  Terminating: 'Terminating',
} as const;

/** The Secret data key a SeerCluster's kubeconfig is under by default. */
export const KUBECONFIG_SECRET_KEY = 'kubeconfig';

/** SeerPod phases, as for Kubernetes pods. */
export const POD_PHASE = {
  /** Accepted, but not every container has started yet. */
  Pending: 'Pending',
  /** Bound, and every container has started at least once. */
  Running: 'Running',
  /** Every container exited with status 0 and will not restart. */
  Succeeded: 'Succeeded',
  /** Every container stopped and at least one failed. */
  Failed: 'Failed',
  /** The node's agent has not reported for too long. */
  Unknown: 'Unknown',
} as const;

/** SeerNode phases. */
export const NODE_PHASE = {
  /** The agent is healthy and heartbeating. */
  Ready: 'Ready',
  /** The agent reports a problem. */
  NotReady: 'NotReady',
  /** The agent's heartbeat stopped. */
  Unknown: 'Unknown',
} as const;

/** SeerDataDir phases (absent until the node's agent has made the directory). */
export const DATA_DIR_PHASE = {
  /** The directory exists on its node. */
  Ready: 'Ready',
  /** Deleted: waiting for the pods on the node that use it to go before it is removed. */
  Releasing: 'Releasing',
} as const;
