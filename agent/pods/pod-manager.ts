import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { AGENT_FINALIZER, COMPONENT_LABEL, RELOAD_ANNOTATION, RESTART_ANNOTATION } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { errorMessage } from '../../kube/errors.js';
import { objectKey } from '../../kube/keys.js';
import { WorkQueue } from '../../kube/workqueue.js';
import { applyPackageDefaults } from '../packages/metadata.js';
import { isPackageError } from '../packages/errors.js';
import type { PackageCache } from '../packages/cache.js';
import { unpackPackage, type UnpackLimits } from '../packages/unpack.js';
import { ContainerSupervisor, type ProcessSpec, type SupervisorOptions } from '../process/index.js';
import type { HostLayout } from './layout.js';
import { readAllPodRecords, writePodRecord, type PodRecord } from './pod-record.js';
import { podStatus, type Preparation } from './pod-status.js';
import type { PodStore } from './pod-store.js';
import { processSpec } from './process-spec.js';
import { removeSharedFiles, SharedFileConflictError, writeSharedFiles } from './shared-config.js';

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
  /** How often a pod waiting for a component is looked at again. */
  componentPollMs?: number;
}

/** A pod whose processes this agent runs (or ran before it restarted). */
interface PodRuntime {
  record: PodRecord;
  supervisors: Map<string, ContainerSupervisor>;
  startTime: string;
}

/** The pod waits for something else (a component instance): looked at again soon. */
class PodNotReady extends Error {
  constructor(readonly preparation: Preparation) {
    super(preparation.message);
  }
}

/** A refusal that only a change to the pod can fix (a file name conflict, no start command). */
class PodCannotRun extends Error {
  constructor(readonly preparation: Preparation) {
    super(preparation.message);
  }
}

function specHash(pod: SeerPod): string {
  const { containers, required_components } = pod.spec;
  return createHash('sha256')
    .update(JSON.stringify({ containers, required_components }))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Makes this host run exactly the pods its store lists: pull, unpack, wire required components, start
 * and supervise the containers, report status, and — when a pod is deleted or no longer bound here —
 * stop its processes, remove its directories and files, and only then let it go (the finalizer).
 * One reconcile per pod at a time; a failed one is retried with backoff.
 */
export class PodManager {
  private readonly runtimes = new Map<string, PodRuntime>();
  /** Why a pod without a runtime is not running yet (pulling, waiting for a component…). */
  private readonly preparing = new Map<string, Preparation>();
  /** Digests fetched for pods without a runtime yet, until they start or go (see digestsInUse). */
  private readonly deploying = new Map<string, Set<string>>();
  private readonly inFlight = new Map<string, AbortController>();
  private readonly statusWrites = new Map<string, Promise<void>>();
  private readonly queue: WorkQueue;
  private readonly log: Logger;

  constructor(private readonly options: PodManagerOptions) {
    this.log = options.logger;
    this.queue = new WorkQueue((key) => this.reconcile(key), {
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
      if (!pod || pod.metadata.deletionTimestamp) this.inFlight.get(key)?.abort();
      this.queue.add(key);
    });
    await store.start();
    await this.adoptFromDisk();
    for (const pod of store.list()) this.queue.add(objectKey(pod));
    for (const key of this.runtimes.keys()) this.queue.add(key);
    this.queue.start();
  }

  /** Stops working but leaves every process running, for the next agent to adopt. */
  async stop(): Promise<void> {
    for (const controller of this.inFlight.values()) controller.abort();
    await this.queue.shutDown();
    await this.options.store.stop();
    for (const runtime of this.runtimes.values()) {
      for (const supervisor of runtime.supervisors.values()) supervisor.detach();
    }
  }

  get podCount(): number {
    return this.runtimes.size;
  }

  /**
   * The package digests this host's pods use, or are about to: those of the pods running (or adopted),
   * those already fetched for pods still being deployed, and the pins of the pods bound here. The
   * package cache never removes these.
   */
  digestsInUse(): Set<string> {
    const digests = new Set<string>();
    for (const runtime of this.runtimes.values()) {
      for (const container of runtime.record.containers) digests.add(container.digest);
    }
    for (const fetched of this.deploying.values()) for (const digest of fetched) digests.add(digest);
    for (const pod of this.options.store.list()) {
      for (const container of pod.spec.containers) {
        if (container.package_digest) digests.add(container.package_digest);
      }
    }
    return digests;
  }

  /** Re-attaches to what a previous agent left running, without restarting anything. */
  private async adoptFromDisk(): Promise<void> {
    for (const record of await readAllPodRecords(this.options.layout)) {
      const key = `${record.namespace}/${record.name}`;
      const runtime: PodRuntime = { record, supervisors: new Map(), startTime: new Date().toISOString() };
      for (const container of record.containers) {
        if (!container.process) continue;
        const supervisor = this.supervisor(key, container.process);
        runtime.supervisors.set(container.name, supervisor);
        const adopted = await supervisor.adopt();
        this.log.info({ pod: key, container: container.name, adopted }, 'took over from the previous agent');
      }
      this.runtimes.set(key, runtime);
    }
    this.options.onPodCount?.(this.runtimes.size);
  }

  private supervisor(key: string, spec: ProcessSpec): ContainerSupervisor {
    const supervisor = new ContainerSupervisor(spec, {
      ...this.options.supervisor,
      logger: this.log.child({ pod: key }),
    });
    supervisor.on('status', () => this.queue.add(key));
    return supervisor;
  }

  private async reconcile(key: string): Promise<void> {
    const pod = this.options.store.get(key);
    const runtime = this.runtimes.get(key);
    const gone = !pod || !!pod.metadata.deletionTimestamp || pod.metadata.uid !== runtime?.record.uid;
    if (runtime && (gone || runtime.record.spec_hash !== specHash(pod))) {
      await this.tearDown(key, runtime);
    }
    if (!pod) {
      this.forgetPreparation(key);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      this.forgetPreparation(key);
      if (!this.runtimes.has(key)) await this.removeLeftovers(pod);
      await this.options.store.removeFinalizer(pod);
      this.log.info({ pod: key }, 'pod deleted: host cleaned up, finalizer removed');
      return;
    }
    if (!pod.metadata.finalizers?.includes(AGENT_FINALIZER)) await this.options.store.addFinalizer(pod);

    let current = this.runtimes.get(key);
    if (!current) {
      try {
        current = await this.prepareAndStart(key, pod);
      } catch (error) {
        await this.writeStatus(key, pod, undefined);
        // Waiting is not failing: look again soon, without the growing backoff of a failure.
        if (error instanceof PodNotReady) this.queue.addAfter(key, this.options.componentPollMs ?? 500);
        // Only a change to the pod can fix this; its next event brings it back.
        else if (!(error instanceof PodCannotRun)) throw error;
        return;
      }
    }
    await this.actOnRequests(key, pod, current);
    await this.writeStatus(key, pod, current);
  }

  /** Pulls and unpacks every package, wires the required components, then starts the containers. */
  private async prepareAndStart(key: string, pod: SeerPod): Promise<PodRuntime> {
    const { layout, packages, nodeName, hostIp } = this.options;
    const name = pod.metadata.name ?? '';
    const abort = new AbortController();
    this.inFlight.set(key, abort);
    // Kept across attempts: a pod waiting for a component keeps the packages it already unpacked.
    const fetchedDigests = this.deploying.get(key) ?? new Set<string>();
    this.deploying.set(key, fetchedDigests);
    let slowPull: NodeJS.Timeout | undefined;
    const record: PodRecord = {
      uid: pod.metadata.uid ?? '',
      namespace: pod.metadata.namespace ?? 'default',
      name,
      spec_hash: specHash(pod),
      containers: [],
      restart_requested: pod.metadata.annotations?.[RESTART_ANNOTATION],
      reload_requested: pod.metadata.annotations?.[RELOAD_ANNOTATION],
      shared_files: [],
    };
    try {
      // Written first, so an agent that dies half-way still knows what to clean up.
      await writePodRecord(layout, record);
      // Tell people about a pull only when it takes a while: a cached package is ready at once.
      slowPull = setTimeout(() => void this.writeStatus(key, pod, undefined).catch(() => undefined), 250);
      const specs = [];
      const timings = { pull_ms: 0, unpack_ms: 0, start_ms: 0 };
      let mark = performance.now();
      const lap = (stage: keyof typeof timings) => {
        const now = performance.now();
        timings[stage] += Math.round(now - mark);
        mark = now;
      };
      for (const container of pod.spec.containers) {
        const directory = layout.containerDir(name, container);
        this.setPreparing(key, 'Pulling', `pulling ${container.package}`);
        const fetched = await packages.fetch(container.package, {
          digest: container.package_digest,
          signal: abort.signal,
        });
        fetchedDigests.add(fetched.digest);
        lap('pull_ms');
        this.setPreparing(key, 'Unpacking', `unpacking ${container.package} into ${directory}`);
        const metadata = await unpackPackage(fetched.path, directory, this.options.unpackLimits);
        lap('unpack_ms');
        record.containers.push({ name: container.name, directory, digest: fetched.digest });
        await writePodRecord(layout, record);
        const effective = applyPackageDefaults(container, metadata);
        try {
          specs.push(processSpec(pod, effective, layout, { name: nodeName, ip: hostIp }, directory));
        } catch (error) {
          throw new PodCannotRun({ reason: 'InvalidContainer', message: errorMessage(error) });
        }
      }
      clearTimeout(slowPull);
      record.shared_files = await this.wireComponents(pod);
      const runtime: PodRuntime = { record, supervisors: new Map(), startTime: new Date().toISOString() };
      await mkdir(layout.logDir(name), { recursive: true });
      for (const spec of specs) {
        const entry = record.containers.find((c) => c.name === spec.name);
        if (entry) entry.process = spec;
      }
      await writePodRecord(layout, record);
      this.forgetPreparation(key);
      this.runtimes.set(key, runtime);
      this.options.onPodCount?.(this.runtimes.size);
      for (const spec of specs) {
        const supervisor = this.supervisor(key, spec);
        runtime.supervisors.set(spec.name, supervisor);
        await supervisor.start();
      }
      lap('start_ms');
      this.log.info({ pod: key, ...timings }, 'pod started');
      return runtime;
    } catch (error) {
      if (error instanceof PodNotReady || error instanceof PodCannotRun) {
        this.preparing.set(key, error.preparation);
      } else if (isPackageError(error)) {
        this.preparing.set(key, { reason: error.reason, message: error.message });
      } else if (!abort.signal.aborted) {
        this.preparing.set(key, { reason: 'PrepareFailed', message: errorMessage(error) });
      }
      throw error;
    } finally {
      clearTimeout(slowPull);
      this.inFlight.delete(key);
    }
  }

  private setPreparing(key: string, reason: string, message: string): void {
    this.preparing.set(key, { reason, message });
  }

  /** The pod started, or is gone: no longer being deployed. */
  private forgetPreparation(key: string): void {
    this.preparing.delete(key);
    this.deploying.delete(key);
  }

  /**
   * For each required component: wait until its instance on this node runs and is ready, write this
   * pod's config files into the instance's sharing_dir, and reload the instance.
   */
  private async wireComponents(pod: SeerPod): Promise<PodRecord['shared_files']> {
    const written: PodRecord['shared_files'] = [];
    for (const required of pod.spec.required_components ?? []) {
      const instance = this.options.store
        .list()
        .find(
          (p) =>
            p.metadata.namespace === pod.metadata.namespace &&
            p.metadata.labels?.[COMPONENT_LABEL] === required.name &&
            !p.metadata.deletionTimestamp,
        );
      const instanceRuntime = instance && this.runtimes.get(objectKey(instance));
      const ready =
        instanceRuntime &&
        [...instanceRuntime.supervisors.values()].every((s) => s.status().ready && s.status().started);
      if (!instance || !instanceRuntime || !ready) {
        await removeSharedFiles(this.options.layout, pod.metadata.uid ?? '', written);
        throw new PodNotReady({
          reason: 'WaitingForComponent',
          message: instance
            ? `waiting for component ${required.name} (pod ${instance.metadata.name}) to be running and ready on this node`
            : `waiting for an instance of component ${required.name} on this node`,
        });
      }
      if (!required.config || Object.keys(required.config).length === 0) continue;
      try {
        const files = await writeSharedFiles(this.options.layout, pod, instance, required.config);
        written.push(...files);
        for (const container of new Set(files.map((f) => f.container))) {
          await instanceRuntime.supervisors.get(container)?.reload();
        }
      } catch (error) {
        await removeSharedFiles(this.options.layout, pod.metadata.uid ?? '', written);
        const reason = error instanceof SharedFileConflictError ? 'ConfigConflict' : 'ComponentConfigFailed';
        throw new PodCannotRun({ reason, message: errorMessage(error) });
      }
    }
    return written;
  }

  /** Restart and reload requests: each new annotation value is acted on once. */
  private async actOnRequests(key: string, pod: SeerPod, runtime: PodRuntime): Promise<void> {
    const annotations = pod.metadata.annotations ?? {};
    const restart = annotations[RESTART_ANNOTATION];
    const reload = annotations[RELOAD_ANNOTATION];
    if (restart !== undefined && restart !== runtime.record.restart_requested) {
      runtime.record.restart_requested = restart;
      await writePodRecord(this.options.layout, runtime.record);
      this.log.info({ pod: key, value: restart }, 'restart requested');
      await Promise.all([...runtime.supervisors.values()].map((s) => s.restart()));
    }
    if (reload !== undefined && reload !== runtime.record.reload_requested) {
      runtime.record.reload_requested = reload;
      await writePodRecord(this.options.layout, runtime.record);
      this.log.info({ pod: key, value: reload }, 'reload requested');
      await Promise.all([...runtime.supervisors.values()].map((s) => s.reload()));
    }
  }

  /** Stops the pod's processes, removes its config files from components, then its directories. */
  private async tearDown(key: string, runtime: PodRuntime): Promise<void> {
    const { layout } = this.options;
    await Promise.all([...runtime.supervisors.values()].map((s) => s.stop('pod removed from this node')));
    await this.removeComponentFiles(runtime.record);
    for (const container of runtime.record.containers)
      await rm(container.directory, { recursive: true, force: true });
    await rm(layout.podDir(runtime.record.name), { recursive: true, force: true });
    this.runtimes.delete(key);
    this.options.onPodCount?.(this.runtimes.size);
    this.log.info({ pod: key }, 'pod stopped and removed from this host');
  }

  private async removeComponentFiles(record: PodRecord): Promise<void> {
    if (record.shared_files.length === 0) return;
    await removeSharedFiles(this.options.layout, record.uid, record.shared_files);
    const reloads = new Set(
      record.shared_files.map((f) => `${record.namespace}/${f.instance}\0${f.container}`),
    );
    for (const entry of reloads) {
      const [instanceKey = '', container = ''] = entry.split('\0');
      const supervisor = this.runtimes.get(instanceKey)?.supervisors.get(container);
      try {
        await supervisor?.reload();
      } catch (error) {
        this.log.warn({ instance: instanceKey, err: errorMessage(error) }, 'component reload failed');
      }
    }
  }

  /** A deleted pod this agent never started (or whose record was lost): remove what may be on disk. */
  private async removeLeftovers(pod: SeerPod): Promise<void> {
    const { layout } = this.options;
    const name = pod.metadata.name ?? '';
    for (const container of pod.spec.containers) {
      if (container.deployment_dir) await rm(container.deployment_dir, { recursive: true, force: true });
    }
    await rm(layout.podDir(name), { recursive: true, force: true });
  }

  /** Writes are chained per pod, so an older status can never land after a newer one. */
  private writeStatus(key: string, pod: SeerPod, runtime: PodRuntime | undefined): Promise<void> {
    const write = (this.statusWrites.get(key) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.writeStatusNow(key, pod, runtime));
    this.statusWrites.set(key, write);
    void write
      .finally(() => {
        if (this.statusWrites.get(key) === write) this.statusWrites.delete(key);
      })
      .catch(() => undefined);
    return write;
  }

  private async writeStatusNow(key: string, pod: SeerPod, runtime: PodRuntime | undefined): Promise<void> {
    // Compared with what the API server has (the newest cached copy), not with what this agent last
    // wrote: someone else may have changed it meanwhile (the operator marks pods of a lost node Unknown).
    const previous = (this.options.store.get(key) ?? pod).status;
    const containers = runtime
      ? [...runtime.supervisors.values()].map((s) => s.status())
      : pod.spec.containers.map((c) => ({
          name: c.name,
          ready: false,
          started: false,
          restart_count: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        }));
    const digests = Object.fromEntries((runtime?.record.containers ?? []).map((c) => [c.name, c.digest]));
    const status = podStatus({
      pod: { ...pod, status: previous },
      nodeName: this.options.nodeName,
      hostIp: this.options.hostIp,
      startTime: runtime?.startTime,
      preparing: runtime ? undefined : this.preparing.get(key),
      containers,
      digests,
    });
    if (JSON.stringify(status) === JSON.stringify(previous)) return;
    // A merge patch keeps fields it does not mention: clear the ones this status no longer has.
    const cleared = Object.keys(previous ?? {}).filter((field) => !(field in status));
    const patch = { ...status, ...Object.fromEntries(cleared.map((field) => [field, null])) };
    await this.options.store.writeStatus(pod, patch);
  }
}
