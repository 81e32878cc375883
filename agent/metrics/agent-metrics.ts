import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { ProcessTable, type TreeUsage } from '../process/process-tree.js';

/** A container as the agent supervises it: who it is, its main process (while one runs), its restarts. */
export interface SupervisedContainer {
  namespace: string;
  pod: string;
  container: string;
  pid?: number;
  restarts: number;
}

/** What the metrics are computed from, at each scrape. */
export interface MetricsSource {
  containers(): SupervisedContainer[];
  /** The package cache's verified packages and the bytes they take. */
  packageCache(): Promise<{ packages: number; bytes: number }>;
  /** Process usage for the containers' main pids; one /proc pass by default. */
  processUsage?(pids: number[]): Map<number, TreeUsage>;
}

const CONTAINER_LABELS = ['namespace', 'pod', 'container'] as const;

/** One pass over /proc, then each tree summed from it. */
function usageFromProc(pids: number[]): Map<number, TreeUsage> {
  const usage = new Map<number, TreeUsage>();
  if (pids.length === 0) return usage;
  const table = new ProcessTable();
  for (const pid of pids) {
    const tree = table.usage(pid);
    if (tree) usage.set(pid, tree);
  }
  return usage;
}

/**
 * The agent's Prometheus metrics, in a registry of its own: the agent process itself (prom-client's
 * defaults), and per container what its process tree (the main process and its live descendants)
 * uses, computed when scraped, so nothing runs between scrapes.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly cpu: Counter<(typeof CONTAINER_LABELS)[number]>;
  private readonly memory: Gauge<(typeof CONTAINER_LABELS)[number]>;
  private readonly fds: Gauge<(typeof CONTAINER_LABELS)[number]>;
  private readonly processes: Gauge<(typeof CONTAINER_LABELS)[number]>;
  private readonly startTime: Gauge<(typeof CONTAINER_LABELS)[number]>;
  private readonly restarts: Counter<(typeof CONTAINER_LABELS)[number]>;
  private readonly cacheBytes: Gauge;
  private readonly cachePackages: Gauge;

  constructor(private readonly source: MetricsSource) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const labelNames = CONTAINER_LABELS;
    this.cpu = new Counter({
      name: 'seer_container_cpu_seconds_total',
      help: 'CPU time (user and system) used by the live processes of the container',
      labelNames,
      registers,
    });
    this.memory = new Gauge({
      name: 'seer_container_memory_resident_bytes',
      help: 'Resident memory of the live processes of the container, summed',
      labelNames,
      registers,
    });
    this.fds = new Gauge({
      name: 'seer_container_open_fds',
      help: 'Open file descriptors of the live processes of the container, summed',
      labelNames,
      registers,
    });
    this.processes = new Gauge({
      name: 'seer_container_processes',
      help: 'Live processes of the container: its main process and their descendants',
      labelNames,
      registers,
    });
    this.startTime = new Gauge({
      name: 'seer_container_start_time_seconds',
      help: "Start time of the container's main process, in seconds since the epoch",
      labelNames,
      registers,
    });
    this.restarts = new Counter({
      name: 'seer_container_restarts_total',
      help: 'Automatic restarts of the container by its supervisor',
      labelNames,
      registers,
    });
    this.cacheBytes = new Gauge({
      name: 'seer_package_cache_bytes',
      help: "Bytes taken by the host's package cache",
      registers,
    });
    this.cachePackages = new Gauge({
      name: 'seer_package_cache_packages',
      help: "Packages in the host's package cache",
      registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics text, every value read now. */
  async render(): Promise<string> {
    const containers = this.source.containers();
    const pids = containers.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
    const usage = (this.source.processUsage ?? usageFromProc)(pids);
    const perContainer = [this.cpu, this.memory, this.fds, this.processes, this.startTime, this.restarts];
    // Containers that went since the last scrape must not keep their series.
    for (const metric of perContainer) metric.reset();
    for (const container of containers) {
      const labels = { namespace: container.namespace, pod: container.pod, container: container.container };
      this.restarts.inc(labels, container.restarts);
      const tree = container.pid === undefined ? undefined : usage.get(container.pid);
      if (!tree) continue;
      this.cpu.inc(labels, tree.cpuSeconds);
      this.memory.set(labels, tree.residentBytes);
      this.fds.set(labels, tree.openFds);
      this.processes.set(labels, tree.processes);
      this.startTime.set(labels, tree.startTimeSeconds);
    }
    const cache = await this.source.packageCache();
    this.cacheBytes.set(cache.bytes);
    this.cachePackages.set(cache.packages);
    return this.registry.metrics();
  }
}
