import type { ContainerCgroups } from '../../process/cgroups.js';
import type { Logger } from 'pino';
import type { SeerPod } from '../../../api/types.js';
import type { PackageCache } from '../../../packages/cache.js';
import type { UnpackLimits } from '../../../packages/unpack.js';
import type { ContainerSupervisor, ProcessSpec } from '../../process/index.js';
import type { DataDirs } from '../data-dirs.js';
import type { HostLayout } from '../layout.js';
import type { PodRecord } from '../pod-record.js';
import type { Preparation } from '../pod-status.js';

/** Everything this agent holds about one pod on its host: the one record per pod. */
export interface PodEntry {
  /** namespace/name */
  readonly key: string;
  /** What is on disk about the pod, each hook's progress included (see pod-record.ts). */
  record: PodRecord;
  /** The supervisors of its containers, by container name, once the processes hook made them. */
  readonly supervisors: Map<string, ContainerSupervisor>;
  /** When its containers were handed to supervisors, or adopted by this agent. */
  startTime?: string;
  /** Why its containers do not run yet: the step under way, or the one that failed. */
  preparing?: Preparation;
  /** Aborts the prestart under way (the pod was deleted meanwhile). */
  abort?: AbortController;
  /** Milliseconds spent pulling, unpacking and starting, logged once the containers start. */
  readonly timings: { pull_ms: number; unpack_ms: number; start_ms: number };
}

/** What a hook is given while it restores or stops a pod: the entry, and a way to persist it. */
export interface HookContext {
  readonly entry: PodEntry;
  /** Writes the entry's record to disk, so that the next agent knows what this hook made. */
  save(): Promise<void>;
}

/** What a hook is given while it brings a pod one step further. */
export interface PrestartContext extends HookContext {
  /** The pod as the store has it now. */
  readonly pod: SeerPod;
  /** Aborted when the pod is deleted: stop waiting and give up. */
  readonly signal: AbortSignal;
  /** Has the pod's status written now (a step that takes a while says so meanwhile). */
  reportStatus(): void;
}

/**
 * One step of a pod's life on this host, in the shape of Nomad's task runner hooks. The pod manager
 * runs every hook's prestart in order, each once (its completion is kept in the pod's record), and on
 * teardown every hook's stop in reverse order, whatever step the pod reached.
 */
export interface PodHook {
  /** Recorded in the pod's record once the prestart has completed; never rename one. */
  readonly name: string;
  /**
   * Brings the pod one step further. Idempotent: after a failure (or an agent restart half-way) it
   * runs again with whatever it already made. Throws PodNotReady to wait, PodCannotRun to refuse.
   */
  prestart?(context: PrestartContext): Promise<void>;
  /** After an agent restart, re-attaches to what the completed prestart left running. */
  restore?(context: HookContext): Promise<void>;
  /**
   * Undoes the step, working from the record alone (the pod may be gone from the API server).
   * Idempotent, and run even when the prestart never ran or failed half-way.
   */
  stop?(context: HookContext): Promise<void>;
}

/** What hooks may use of the agent. */
export interface HookEnvironment {
  layout: HostLayout;
  packages: PackageCache;
  node: { name: string; ip?: string };
  unpackLimits?: UnpackLimits;
  /** Where containers' cgroups go; none on a host without a writable cgroup v2. */
  cgroups?: ContainerCgroups;
  /** The data dirs placed on this node. */
  dataDirs: DataDirs;
  logger: Logger;
  /** The pods bound to this host, as the store lists them (component instances among them). */
  pods(): SeerPod[];
  /** The supervisors of a pod on this host, by pod key, once its containers were handed to them. */
  supervisorsOf(key: string): ReadonlyMap<string, ContainerSupervisor> | undefined;
  /** A new supervisor for one of a pod's containers; its status changes make the pod sync again. */
  supervisor(key: string, spec: ProcessSpec): ContainerSupervisor;
}

/** The pod waits for something else (a component instance): looked at again soon. */
export class PodNotReady extends Error {
  constructor(readonly preparation: Preparation) {
    super(preparation.message);
  }
}

/** A refusal that only a change to the pod can fix (a file name conflict, no start command). */
export class PodCannotRun extends Error {
  constructor(readonly preparation: Preparation) {
    super(preparation.message);
  }
}

/** A step failed in a way a retry may fix (an init container's exit): retried with back-off. */
export class PodStepFailed extends Error {
  constructor(readonly preparation: Preparation) {
    super(preparation.message);
  }
}
