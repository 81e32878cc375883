// The shapes of Seer's objects, field for field as crds/*.yaml declares them. Fields the API server
// defaults are still optional here: objects written by hand or read from files may lack them.

import type { V1ListMeta, V1ObjectMeta } from '@kubernetes/client-node';
import type {
  CONDITION_STATUS,
  COMPONENT_CONDITION,
  DAEMON_SET_CONDITION,
  DEPLOYMENT_CONDITION,
  NODE_CONDITION,
  STATEFUL_SET_CONDITION,
  NODE_PHASE,
  POD_CONDITION,
  POD_PHASE,
  SEER_API_VERSION,
} from './names.js';

type ValueOf<T> = T[keyof T];

/** A Kubernetes quantity such as 500m, 2, 512Mi or 64Gi. */
export type Quantity = number | string;
/** A port number or the name of one of the container's ports. */
export type IntOrString = number | string;

export type ConditionStatus = ValueOf<typeof CONDITION_STATUS>;
export type PodConditionType = ValueOf<typeof POD_CONDITION>;
export type DeploymentConditionType = ValueOf<typeof DEPLOYMENT_CONDITION>;
export type DaemonSetConditionType = ValueOf<typeof DAEMON_SET_CONDITION>;
export type StatefulSetConditionType = ValueOf<typeof STATEFUL_SET_CONDITION>;
export type ComponentConditionType = ValueOf<typeof COMPONENT_CONDITION>;
export type NodeConditionType = ValueOf<typeof NODE_CONDITION>;
export type PodPhase = ValueOf<typeof POD_PHASE>;
export type NodePhase = ValueOf<typeof NODE_PHASE>;

export interface Condition<Type extends string = string> {
  type: Type;
  status: ConditionStatus;
  /** CamelCase word saying why the condition last changed. */
  reason?: string;
  message?: string;
  /** RFC 3339 time. */
  last_transition_time?: string;
  observed_generation?: number;
}

// Pod spec

export interface ContainerCommands {
  start?: string;
  stop?: string;
  reload?: string;
  restart?: string;
  /** Runs to completion before every start; its failure is a start failure. */
  pre_start?: string;
  /** Runs once the program has started; the container is ready only after it succeeded. */
  post_start?: string;
  /** Runs first whenever the program is stopped, within its grace period. */
  pre_stop?: string;
}

/** foreground: the start process is the program (systemd Type=simple); forking: it daemonizes. */
export type ContainerMode = 'foreground' | 'forking';
export type PortProtocol = 'tcp' | 'udp';
export type RestartPolicy = 'always' | 'on_failure' | 'never';

export interface ContainerPort {
  name: string;
  /** A host port: there is no network namespace. */
  container_port: number;
  protocol?: PortProtocol;
}

export interface EnvVar {
  name: string;
  value?: string;
}

export interface ResourceList {
  cpu?: Quantity;
  memory?: Quantity;
}

export interface ResourceLimits extends ResourceList {
  pids?: number;
}

export interface ResourceRequirements {
  requests?: ResourceList;
  /** Enforced with cgroup v2 where the host offers it. */
  limits?: ResourceLimits;
}

export interface ExecAction {
  command: string;
}

export interface HttpHeader {
  name: string;
  value: string;
}

export interface HttpGetAction {
  path?: string;
  port: IntOrString;
  scheme?: 'http' | 'https';
  host?: string;
  http_headers?: HttpHeader[];
}

export interface TcpSocketAction {
  port: IntOrString;
  host?: string;
}

/** Exactly one of exec, http_get and tcp_socket is set. */
export interface Probe {
  exec?: ExecAction;
  http_get?: HttpGetAction;
  tcp_socket?: TcpSocketAction;
  initial_delay_seconds?: number;
  period_seconds?: number;
  timeout_seconds?: number;
  success_threshold?: number;
  failure_threshold?: number;
}

export interface Container {
  name: string;
  package: string;
  package_digest?: string;
  commands?: ContainerCommands;
  mode?: ContainerMode;
  pid_file?: string;
  ports?: ContainerPort[];
  env?: EnvVar[];
  resources?: ResourceRequirements;
  liveness_probe?: Probe;
  readiness_probe?: Probe;
  stop_timeout_seconds?: number;
  restart_policy?: RestartPolicy;
  /** Automatic restarts allowed within restart_window_seconds before the container is given up on. */
  max_restarts?: number;
  restart_window_seconds?: number;
  user?: string;
  /** Absolute directory to deploy into instead of ${ROOT_DIR}/pod/{pod}/container/{container}. */
  deployment_dir?: string;
  /** Relative to the container directory: where dependents write their config files. */
  sharing_dir?: string;
  /** Directories kept on the node across pods (SeerDataDirs), linked into the container directory. */
  data_dirs?: DataDirMount[];
}

/** A container's claim on a SeerDataDir: where in its directory the data appears. */
export interface DataDirMount {
  /** The SeerDataDir's name, in the pod's namespace. */
  name: string;
  /** Relative to the container directory. */
  path: string;
  size?: Quantity;
}

export interface RequiredComponent {
  name: string;
  /** File name to content, written into the component's sharing_dir. */
  config?: Record<string, string>;
}

/** The pod spec of templates (SeerDeployment, SeerDaemonSet, SeerStatefulSet, SeerComponent). */
export interface PodSpec {
  containers: Container[];
  /** Run once each, in order, to completion, before the containers start. */
  init_containers?: Container[];
  required_components?: RequiredComponent[];
  node_selector?: Record<string, string>;
  anti_affinity?: AntiAffinityTerm[];
}

/** Keeps a pod off nodes running a pod (of its namespace) whose labels contain all of these. */
export interface AntiAffinityTerm {
  match_labels: Record<string, string>;
}

export interface SeerPodSpec extends PodSpec {
  node_name?: string;
}

export interface PodTemplateMetadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface PodTemplate {
  metadata?: PodTemplateMetadata;
  spec: PodSpec;
}

// Pod status

export interface ContainerStateWaiting {
  reason?: string;
  message?: string;
}

export interface ContainerStateRunning {
  pid?: number;
  started_at?: string;
}

export interface ContainerStateTerminated {
  exit_code?: number;
  signal?: number;
  reason?: string;
  message?: string;
  started_at?: string;
  finished_at?: string;
}

/** At most one of waiting, running and terminated is set. */
export interface ContainerState {
  waiting?: ContainerStateWaiting;
  running?: ContainerStateRunning;
  terminated?: ContainerStateTerminated;
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  started?: boolean;
  restart_count?: number;
  package_digest?: string;
  pid?: number;
  state?: ContainerState;
  last_state?: ContainerState;
  /** Why the container's resource limits are not (all) enforced on its host. */
  resources_message?: string;
}

export interface SeerPodStatus {
  phase?: PodPhase;
  reason?: string;
  message?: string;
  node_name?: string;
  host_ip?: string;
  start_time?: string;
  /** Ready containers out of all, e.g. "2/3". */
  ready?: string;
  restarts?: number;
  observed_generation?: number;
  conditions?: Condition<PodConditionType>[];
  container_statuses?: ContainerStatus[];
}

// Deployment

export type DeploymentStrategyType = 'rolling_update' | 'recreate' | 'canary' | 'blue_green';

export interface CanaryParams {
  /** Pods of the new template before promotion; or percent of replicas (rounded up). */
  replicas?: number;
  percent?: number;
  auto_promote?: boolean;
  auto_revert?: boolean;
}

export interface RollingUpdateParams {
  /** A number of pods or a percentage such as "25%". */
  max_surge?: IntOrString;
  max_unavailable?: IntOrString;
}

export interface DeploymentStrategy {
  type?: DeploymentStrategyType;
  rolling_update?: RollingUpdateParams;
  canary?: CanaryParams;
}

export interface LabelSelector {
  match_labels?: Record<string, string>;
}

export interface SeerDeploymentSpec {
  replicas?: number;
  /** Absent: pods labelled seer.io/deployment=<name>. */
  selector?: LabelSelector;
  template: PodTemplate;
  strategy?: DeploymentStrategy;
  min_ready_seconds?: number;
  paused?: boolean;
  revision_history_limit?: number;
  progress_deadline_seconds?: number;
}

export interface SeerDeploymentStatus {
  observed_generation?: number;
  replicas?: number;
  ready_replicas?: number;
  updated_replicas?: number;
  available_replicas?: number;
  unavailable_replicas?: number;
  /** The pods' label selector in string form, for the scale subresource. */
  selector?: string;
  collision_count?: number;
  /** Canary and blue_green: the template hash last rolled out to every replica. */
  stable_template_hash?: string;
  conditions?: Condition<DeploymentConditionType>[];
}

// Daemon set

export type DaemonSetUpdateStrategyType = 'rolling' | 'on_delete';

export interface DaemonSetUpdateStrategy {
  type?: DaemonSetUpdateStrategyType;
  /** A number of nodes or a percentage of desired_number_scheduled such as "10%" (rounded up). */
  max_unavailable?: IntOrString;
}

export interface SeerDaemonSetSpec {
  /** Absent: pods labelled seer.io/daemon-set=<name>. */
  selector?: LabelSelector;
  template: PodTemplate;
  /** Labels a SeerNode must carry to run the pod; absent or empty: every node. */
  node_selector?: Record<string, string>;
  update_strategy?: DaemonSetUpdateStrategy;
  min_ready_seconds?: number;
}

export interface SeerDaemonSetStatus {
  observed_generation?: number;
  /** Nodes that should run the pod. */
  desired_number_scheduled?: number;
  /** Nodes that should run the pod and run one. */
  current_number_scheduled?: number;
  /** Nodes that should run the pod and have a ready one. */
  number_ready?: number;
  /** Nodes that run a pod of the current template. */
  updated_number_scheduled?: number;
  /** Nodes that should run the pod and have one ready for min_ready_seconds. */
  number_available?: number;
  /** Nodes that should run the pod and have none available. */
  number_unavailable?: number;
  /** Nodes that run the pod but should not. */
  number_misscheduled?: number;
  conditions?: Condition<DaemonSetConditionType>[];
}

// Stateful set

export type PodManagementPolicy = 'ordered_ready' | 'parallel';
export type StatefulSetUpdateStrategyType = 'rolling_update' | 'on_delete';
export type DataRetention = 'retain' | 'delete';

export interface StatefulSetUpdateStrategy {
  type?: StatefulSetUpdateStrategyType;
  rolling_update?: {
    /** Ordinals below it keep the current revision. At most replicas. */
    partition?: number;
  };
}

export interface StatefulSetDataRetention {
  when_deleted?: DataRetention;
  when_scaled?: DataRetention;
}

export interface SeerStatefulSetSpec {
  replicas?: number;
  /** Absent: pods labelled seer.io/stateful-set=<name>. */
  selector?: LabelSelector;
  /** Its containers' data_dirs are the claim template: claim N becomes N-<name>-<ordinal>. */
  template: PodTemplate;
  pod_management_policy?: PodManagementPolicy;
  update_strategy?: StatefulSetUpdateStrategy;
  revision_history_limit?: number;
  min_ready_seconds?: number;
  data_retention?: StatefulSetDataRetention;
}

export interface SeerStatefulSetStatus {
  observed_generation?: number;
  replicas?: number;
  ready_replicas?: number;
  /** Pods of current_revision. */
  current_replicas?: number;
  /** Pods of update_revision. */
  updated_replicas?: number;
  available_replicas?: number;
  /** ControllerRevision names. */
  current_revision?: string;
  update_revision?: string;
  /** Ready pods out of spec.replicas, e.g. "2/3". */
  ready?: string;
  /** For kubectl scale. */
  selector?: string;
  collision_count?: number;
  conditions?: Condition<StatefulSetConditionType>[];
}

// Component

export interface SeerComponentSpec {
  template: PodTemplate;
}

export interface SeerComponentStatus {
  observed_generation?: number;
  instances?: number;
  dependents?: number;
  nodes?: string[];
  conditions?: Condition<ComponentConditionType>[];
}

// Node

export interface SeerNodeSpec {
  /** Cordoned: no new pods are scheduled there. */
  unschedulable?: boolean;
}

export interface NodeResources {
  cpu?: Quantity;
  memory?: Quantity;
  pods?: Quantity;
}

export type NodeAddressType = 'Hostname' | 'InternalIP' | 'ExternalIP';

export interface NodeAddress {
  type: NodeAddressType;
  address: string;
}

export interface NodeInfo {
  hostname?: string;
  os?: string;
  arch?: string;
  kernel_version?: string;
  agent_version?: string;
}

export interface SeerNodeStatus {
  phase?: NodePhase;
  capacity?: NodeResources;
  allocatable?: NodeResources;
  addresses?: NodeAddress[];
  node_info?: NodeInfo;
  root_dir?: string;
  pods?: number;
  /** The agent's HTTPS endpoint (pod logs), when it serves one; null in a merge patch removes it. */
  endpoint?: NodeEndpoint | null;
  conditions?: Condition<NodeConditionType>[];
}

/** Where and how to reach a node agent's HTTPS endpoint. */
export interface NodeEndpoint {
  port: number;
  /** PEM certificates a client trusts to verify the endpoint's serving certificate. */
  ca_certificates: string;
}

// The kinds

/** One or more containers that run together on one node. */
export interface SeerPod {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerPod';
  metadata: V1ObjectMeta;
  spec: SeerPodSpec;
  status?: SeerPodStatus;
}

/** Replicas of a pod template, replaced by rolling updates. */
export interface SeerDeployment {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerDeployment';
  metadata: V1ObjectMeta;
  spec: SeerDeploymentSpec;
  status?: SeerDeploymentStatus;
}

/** One pod of a template on every node that matches its node selector. */
export interface SeerDaemonSet {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerDaemonSet';
  metadata: V1ObjectMeta;
  spec: SeerDaemonSetSpec;
  status?: SeerDaemonSetStatus;
}

/** Pods with stable names and data, started in order and updated from the highest ordinal down. */
export interface SeerStatefulSet {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerStatefulSet';
  metadata: V1ObjectMeta;
  spec: SeerStatefulSetSpec;
  status?: SeerStatefulSetStatus;
}

/** A shared dependency: one instance per node that has a dependent pod. */
export interface SeerComponent {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerComponent';
  metadata: V1ObjectMeta;
  spec: SeerComponentSpec;
  status?: SeerComponentStatus;
}

/** A host running an agent (cluster-scoped). */
export interface SeerNode {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerNode';
  metadata: V1ObjectMeta;
  spec: SeerNodeSpec;
  status?: SeerNodeStatus;
}

export interface SeerDataDirSpec {
  /** The node holding the directory; set once, by the scheduler or by hand. */
  node_name?: string;
  size?: Quantity;
}

export type DataDirPhase = 'Ready' | 'Releasing';

export interface SeerDataDirStatus {
  phase?: DataDirPhase;
  path?: string;
  message?: string;
}

/** Data on one node that outlives pods; claimed through data_dirs. */
export interface SeerDataDir {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerDataDir';
  metadata: V1ObjectMeta;
  spec?: SeerDataDirSpec;
  status?: SeerDataDirStatus;
}

export interface SeerPodList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerPodList';
  metadata: V1ListMeta;
  items: SeerPod[];
}

export interface SeerDeploymentList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerDeploymentList';
  metadata: V1ListMeta;
  items: SeerDeployment[];
}

export interface SeerDaemonSetList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerDaemonSetList';
  metadata: V1ListMeta;
  items: SeerDaemonSet[];
}

export interface SeerStatefulSetList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerStatefulSetList';
  metadata: V1ListMeta;
  items: SeerStatefulSet[];
}

export interface SeerComponentList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerComponentList';
  metadata: V1ListMeta;
  items: SeerComponent[];
}

export interface SeerNodeList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerNodeList';
  metadata: V1ListMeta;
  items: SeerNode[];
}

/** Where a member cluster's kubeconfig is kept. */
export interface SecretKeyRef {
  name: string;
  /** seer-system when empty. */
  namespace?: string;
  /** kubeconfig when empty. */
  key?: string;
}

export interface SeerClusterSpec {
  kubeconfig_secret: SecretKeyRef;
  meta?: Record<string, string>;
}

export type ClusterPhase = 'Reachable' | 'Unreachable' | 'Invalid';
export type ClusterConditionType = 'Reachable';

export interface SeerClusterStatus {
  phase?: ClusterPhase;
  server?: string;
  last_heartbeat_time?: string;
  seer_version?: string;
  nodes?: string;
  node_count?: number;
  ready_node_count?: number;
  observed_generation?: number;
  conditions?: Condition<ClusterConditionType>[];
}

/** A member Seer meta cluster, as the hub reaches it (cluster-scoped). */
export interface SeerCluster {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerCluster';
  metadata: V1ObjectMeta;
  spec: SeerClusterSpec;
  status?: SeerClusterStatus;
}

export interface SeerClusterList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerClusterList';
  metadata: V1ListMeta;
  items: SeerCluster[];
}

// App set (the hub)

export type AppSetUpgradeType = 'canary' | 'blue' | 'green';

export interface AppSetUpdateStrategy {
  /**
   * Which deployments take a new version first: canary = those in canary_clusters; blue or green =
   * the pod sets of that group in every cluster. The rest follow cluster by cluster.
   */
  upgrade_type?: AppSetUpgradeType;
  /** Seconds a member's updated pods must be available before the next cluster goes. */
  min_ready_seconds?: number;
  canary_clusters?: string[];
  /** Stop after the first wave until `seer appset confirm`. */
  need_waiting_for_confirm?: boolean;
  /** Leave every member's templates as they are (replicas still follow). */
  paused?: boolean;
}

export interface AppSetPodSet {
  /** The SeerDeployment's name in the member; unique within its cluster. */
  name: string;
  replicas?: number;
  version: string;
  /** Replaces the package of the template's first container. */
  package?: string;
  /** Labels of the deployment and its pods (seer.io/group here sets the group). */
  meta?: Record<string, string>;
}

export interface AppSetCluster {
  /** A SeerCluster in the hub. */
  name: string;
  meta?: Record<string, string>;
  pod_sets: AppSetPodSet[];
}

export interface SeerAppSetSpec {
  replicas: number;
  /** The members' deployments' pod template; pod sets override version, package and labels. */
  template: PodTemplate;
  service_name?: string;
  update_strategy?: AppSetUpdateStrategy;
  cluster_topology: { clusters: AppSetCluster[] };
}

export interface AppSetPodSetStatus {
  name: string;
  /** The version the member's deployment runs (its label), which may lag the spec's in a rollout. */
  version?: string;
  replicas?: number;
  available_replicas?: number;
  updated_replicas?: number;
  /** The deployment's template is the one the spec wants. */
  updated?: boolean;
}

export interface AppSetClusterStatus {
  name: string;
  /** Reachable, Unreachable, Invalid or Unknown (no such SeerCluster). */
  phase?: string;
  replicas?: number;
  available_replicas?: number;
  pod_sets?: AppSetPodSetStatus[];
}

export type AppSetPhase = 'Running' | 'Progressing' | 'WaitingForConfirm' | 'Paused' | 'Terminating';
export type AppSetConditionType = 'ClustersReady' | 'ReplicasMatch' | 'Available' | 'Terminating';

export interface SeerAppSetStatus {
  observed_generation?: number;
  phase?: AppSetPhase;
  /** The pod sets' replicas together. */
  replicas?: number;
  available_replicas?: number;
  unavailable_replicas?: number;
  updated_replicas?: number;
  /** The versions the members run, oldest first: v3, or v3/v4 during a rollout. */
  version?: string;
  /** The hash of everything the members should run; `seer appset confirm` confirms it. */
  revision?: string;
  clusters?: AppSetClusterStatus[];
  conditions?: Condition<AppSetConditionType>[];
}

/** One application's pod sets across member clusters (namespaced, in the hub). */
export interface SeerAppSet {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerAppSet';
  metadata: V1ObjectMeta;
  spec: SeerAppSetSpec;
  status?: SeerAppSetStatus;
}

export interface SeerAppSetList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerAppSetList';
  metadata: V1ListMeta;
  items: SeerAppSet[];
}

export interface SeerDataDirList {
  apiVersion: typeof SEER_API_VERSION;
  kind: 'SeerDataDirList';
  metadata: V1ListMeta;
  items: SeerDataDir[];
}

export type AnySeerObject =
  | SeerPod
  | SeerDeployment
  | SeerDaemonSet
  | SeerStatefulSet
  | SeerComponent
  | SeerNode
  | SeerDataDir
  | SeerCluster
  | SeerAppSet;
