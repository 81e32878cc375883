import { everyContainer } from '../../api/pod-containers.js';
import type { ContainerCgroups } from '../process/cgroups.js';
import type { Logger } from 'pino';
import { hashOf } from '../../common/hashing.js';
import { AGENT_FINALIZER, RELOAD_ANNOTATION, RESTART_ANNOTATION } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { errorMessage } from '../../kube/errors.js';
import { objectKey } from '../../kube/keys.js';
import { WorkQueue } from '../../kube/workqueue.js';
import type { PackageCache } from '../../packages/cache.js';
import type { UnpackLimits } from '../../packages/unpack.js';
import {
  ContainerSupervisor,
  type ContainerStatus,
  type ProcessSpec,
  type SupervisorOptions,
} from '../process/index.js';
import {
  HookRunner,
  PodCannotRun,
  podHooks,
  PodNotReady,
  type HookContext,
  type HookEnvironment,
  type PodEntry,
  type PodHook,
} from './hooks/index.js';
import type { HostContainer } from '../endpoint/routes.js';
import type { SupervisedContainer } from '../metrics/agent-metrics.js';
import type { HostLayout } from './layout.js';
import { readAllPodRecords, writePodRecord, type PodRecord } from './pod-record.js';
import { podStatus } from './pod-status.js';
import type { PodStore } from './pod-store.js';
import { localDataDirs, type DataDirs } from './data-dirs.js';
import { StatusManager } from './status-manager.js';

export interface PodManagerOptions {
  store: PodStore;
  layout: HostLayout;
  packages: PackageCache;
  nodeName: string;
  hostIp?: string;
  logger: Logger;
  /** Told the number of pods running on this host whenever it changes. */
  onPodCount?: (count: number) => void;
  supervisor?: Omit<SupervisorOptions, 'logger'>;
  unpackLimits?: UnpackLimits;
  cgroups?: ContainerCgroups;
  /** The data dirs placed on this node; without a cluster, every claim is local. */
  dataDirs?: DataDirs;
  /** How often a pod waiting for a component is looked at again. */
  componentPollMs?: number;
  /** The steps of a pod's life on this host; podHooks() by default. */
  hooks?: (env: HookEnvironment) => PodHook[];
}

function specHash(pod: SeerPod): string {
  const { containers, init_containers, required_components } = pod.spec;
  return hashOf({ containers, init_containers, required_components }, 16);
}

/** A pod's record before any step: what to clean up should the agent die half-way. */
function newRecord(pod: SeerPod): PodRecord {
  return {
    uid: pod.metadata.uid ?? '',
    namespace: pod.metadata.namespace ?? 'default',
    name: pod.metadata.name ?? '',
    spec_hash: specHash(pod),
    containers: [],
    hooks_done: [],
    shared_files: [],
  };
}

function newEntry(key: string, record: PodRecord): PodEntry {
  return { key, record, supervisors: new Map(), timings: { pull_ms: 0, unpack_ms: 0, start_ms: 0 } };
}

/** How a container shows before its supervisor has it. */
const creating = (name: string): ContainerStatus => ({
  name,
  ready: false,
  started: false,
  restart_count: 0,
  state: { waiting: { reason: 'ContainerCreating' } },
});

/**
 * Makes this host run exactly the pods its store lists. Each pod goes through the hooks (hooks/):
 * directories, package, component config, processes; a pod that goes, or whose spec changes, is torn
 * down by their stops in reverse, and a deleted pod is let go (the finalizer) only then. Statuses go
 * to the status manager. One sync per pod at a time (the work queue's promise); a failed one is
 * retried with backoff.
 */
export class PodManager {
  /** Every pod this agent holds anything for: running, being prepared, or adopted. */
  private readonly pods = new Map<string, PodEntry>();
  private readonly runner: HookRunner;
  private readonly statuses: StatusManager;
  private readonly queue: WorkQueue;
  private readonly log: Logger;
  private reportedCount: number | undefined;

  constructor(private readonly options: PodManagerOptions) {
    this.log = options.logger;
    const env: HookEnvironment = {
      layout: options.layout,
      packages: options.packages,
      node: { name: options.nodeName, ip: options.hostIp },
      unpackLimits: options.unpackLimits,
      cgroups: options.cgroups,
      dataDirs: options.dataDirs ?? localDataDirs,
      logger: options.logger,
      pods: () => options.store.list(),
      supervisorsOf: (key) => {
        const entry = this.pods.get(key);
        return entry?.startTime ? entry.supervisors : undefined;
      },
      supervisor: (key, spec) => this.supervisor(key, spec),
    };
    this.runner = new HookRunner((options.hooks ?? podHooks)(env));
    this.statuses = new StatusManager(options.store);
    this.queue = new WorkQueue((key) => this.sync(key), {
      // Pod work is mostly waiting on the API server, the disk and child processes.
      workers: 16,
      baseRetryMs: 200,
      maxRetryMs: 30_000,
      onError: (key, error) =>
        this.log.warn({ pod: key, err: errorMessage(error) }, 'pod sync failed; retrying'),
    });
  }

  async start(): Promise<void> {
    const { store } = this.options;
    store.on('changed', (key) => {
      const pod = store.get(key);
      if (!pod || pod.metadata.deletionTimestamp) this.pods.get(key)?.abort?.abort();
      this.queue.add(key);
    });
    await store.start();
    await this.adoptFromDisk();
    for (const pod of store.list()) this.queue.add(objectKey(pod));
    for (const key of this.pods.keys()) this.queue.add(key);
    this.queue.start();
  }

  /** Stops working but leaves every process running, for the next agent to adopt. */
  async stop(): Promise<void> {
    for (const entry of this.pods.values()) entry.abort?.abort();
    await this.queue.shutDown();
    await this.options.store.stop();
    for (const entry of this.pods.values()) {
      for (const supervisor of entry.supervisors.values()) supervisor.detach();
    }
  }

  /** The pods whose containers were handed to supervisors (or adopted). */
  get podCount(): number {
    return [...this.pods.values()].filter((entry) => entry.startTime !== undefined).length;
  }

  /** Every container handed to a supervisor (or adopted), with its main process while one runs. */
  supervisedContainers(): SupervisedContainer[] {
    return [...this.pods.values()].flatMap((entry) =>
      [...entry.supervisors.values()].map((supervisor) => {
        const status = supervisor.status();
        return {
          namespace: entry.record.namespace,
          pod: entry.record.name,
          container: status.name,
          pid: status.pid,
          restarts: status.restart_count,
        };
      }),
    );
  }

  /** One container this host runs, if its pod got that far: its process spec and its status now. */
  hostContainer(namespace: string, pod: string, container: string): HostContainer | undefined {
    const supervisor = this.pods.get(`${namespace}/${pod}`)?.supervisors.get(container);
    return supervisor && { spec: supervisor.spec, status: supervisor.status() };
  }

  /**
   * The package digests this host's pods use, or are about to: those fetched for the pods running,
   * adopted or still being prepared, and the pins of the pods bound here. The package cache never
   * removes these.
   */
  digestsInUse(): Set<string> {
    const digests = new Set<string>();
    for (const entry of this.pods.values()) {
      for (const container of entry.record.containers) digests.add(container.digest);
    }
    for (const pod of this.options.store.list()) {
      for (const container of everyContainer(pod.spec)) {
        if (container.package_digest) digests.add(container.package_digest);
      }
    }
    return digests;
  }

  /**
   * Takes over what a previous agent left on this host, without restarting anything: each record
   * becomes the pod's entry, and the hooks it completed re-attach (the processes are adopted). The
   * first sync of each pod then carries on from there.
   */
  private async adoptFromDisk(): Promise<void> {
    for (const record of await readAllPodRecords(this.options.layout)) {
      // A record from an agent before hooks: containers with a process had gone through every step.
      if (!Array.isArray((record as Partial<PodRecord>).hooks_done)) {
        record.hooks_done = record.containers.some((c) => c.process) ? this.runner.names : [];
      }
      const entry = newEntry(`${record.namespace}/${record.name}`, record);
      await this.runner.restore(this.context(entry));
      this.pods.set(entry.key, entry);
    }
    this.reportPodCount();
  }

  private supervisor(key: string, spec: ProcessSpec): ContainerSupervisor {
    const supervisor = new ContainerSupervisor(spec, {
      ...this.options.supervisor,
      logger: this.log.child({ pod: key }),
    });
    supervisor.on('status', () => this.queue.add(key));
    return supervisor;
  }

  private context(entry: PodEntry): HookContext {
    return { entry, save: () => writePodRecord(this.options.layout, entry.record) };
  }

  private async sync(key: string): Promise<void> {
    const { store } = this.options;
    const pod = store.get(key);
    const known = this.pods.get(key);
    if (
      known &&
      (!pod ||
        !!pod.metadata.deletionTimestamp ||
        pod.metadata.uid !== known.record.uid ||
        known.record.spec_hash !== specHash(pod))
    ) {
      await this.tearDown(known);
    }
    if (!pod) {
      this.statuses.forget(key);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      await this.removeLeftovers(pod);
      await store.removeFinalizer(pod);
      this.statuses.forget(key);
      this.log.info({ pod: key }, 'pod deleted: host cleaned up, finalizer removed');
      return;
    }
    if (!pod.metadata.finalizers?.includes(AGENT_FINALIZER)) await store.addFinalizer(pod);

    const entry = this.pods.get(key) ?? (await this.track(key, pod));
    await this.actOnRequests(entry, pod);
    const abort = new AbortController();
    entry.abort = abort;
    try {
      await this.runner.prestart({
        ...this.context(entry),
        pod,
        signal: abort.signal,
        reportStatus: () => void this.publishStatus(entry, pod).catch(() => undefined),
      });
    } catch (error) {
      await this.publishStatus(entry, pod);
      // Waiting is not failing: look again soon, without the growing backoff of a failure.
      if (error instanceof PodNotReady) this.queue.addAfter(key, this.options.componentPollMs ?? 500);
      // Only a change to the pod can fix this; its next event brings it back.
      else if (!(error instanceof PodCannotRun)) throw error;
      return;
    } finally {
      entry.abort = undefined;
      this.reportPodCount();
    }
    await this.publishStatus(entry, pod);
  }

  /** A new entry for a pod seen for the first time, its record written before any step. */
  private async track(key: string, pod: SeerPod): Promise<PodEntry> {
    const entry = newEntry(key, newRecord(pod));
    await writePodRecord(this.options.layout, entry.record);
    this.pods.set(key, entry);
    return entry;
  }

  /**
   * Restart and reload requests: each new annotation value is acted on once. Until the containers
   * run, the values are only noted: starting them satisfies any request made before.
   */
  private async actOnRequests(entry: PodEntry, pod: SeerPod): Promise<void> {
    const { record } = entry;
    const annotations = pod.metadata.annotations ?? {};
    const restart = annotations[RESTART_ANNOTATION];
    const reload = annotations[RELOAD_ANNOTATION];
    if (entry.startTime === undefined) {
      record.restart_requested = restart;
      record.reload_requested = reload;
      return;
    }
    const supervisors = [...entry.supervisors.values()];
    if (restart !== undefined && restart !== record.restart_requested) {
      record.restart_requested = restart;
      await writePodRecord(this.options.layout, record);
      this.log.info({ pod: entry.key, value: restart }, 'restart requested');
      await Promise.all(supervisors.map((s) => s.restart()));
    }
    if (reload !== undefined && reload !== record.reload_requested) {
      record.reload_requested = reload;
      await writePodRecord(this.options.layout, record);
      this.log.info({ pod: entry.key, value: reload }, 'reload requested');
      await Promise.all(supervisors.map((s) => s.reload()));
    }
  }

  /** The hooks' stops in reverse, from whatever step the pod reached; then the pod is forgotten. */
  private async tearDown(entry: PodEntry): Promise<void> {
    entry.abort?.abort();
    await this.runner.stop(this.context(entry));
    this.pods.delete(entry.key);
    this.reportPodCount();
    this.log.info({ pod: entry.key }, 'pod stopped and removed from this host');
  }

  /**
   * A deleted pod: whatever its record (if any) did not cover, such as a deployment_dir of a pod this
   * agent never prepared. The stops run on what the spec says would be there.
   */
  private async removeLeftovers(pod: SeerPod): Promise<void> {
    const record = newRecord(pod);
    record.containers = everyContainer(pod.spec).map((container) => ({
      name: container.name,
      directory: this.options.layout.containerDir(record.name, container),
      digest: container.package_digest ?? '',
    }));
    await this.runner.stop(this.context(newEntry(objectKey(pod), record)));
  }

  /** Hands the pod's status, as this host sees it now, to the status manager. */
  private publishStatus(entry: PodEntry, pod: SeerPod): Promise<void> {
    const started = entry.startTime !== undefined;
    const status = podStatus({
      pod: { ...pod, status: this.statuses.current(pod) },
      nodeName: this.options.nodeName,
      hostIp: this.options.hostIp,
      startTime: entry.startTime,
      preparing: started ? undefined : entry.preparing,
      containers: started
        ? [...entry.supervisors.values()].map((s) => s.status())
        : pod.spec.containers.map((c) => creating(c.name)),
      digests: started ? Object.fromEntries(entry.record.containers.map((c) => [c.name, c.digest])) : {},
    });
    return this.statuses.set(pod, status);
  }

  private reportPodCount(): void {
    const count = this.podCount;
    if (count === this.reportedCount) return;
    this.reportedCount = count;
    this.options.onPodCount?.(count);
  }
}
