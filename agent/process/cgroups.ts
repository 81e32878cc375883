import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Per-container limits, in cgroup v2's own units. */
export interface CgroupLimits {
  /** memory.max, bytes. */
  memoryBytes?: number;
  /** cpu.max: this many millicores (quota per 100 ms period). */
  cpuMillis?: number;
  /** pids.max. */
  pids?: number;
}

const CONTROLLER: Record<keyof CgroupLimits, string> = {
  memoryBytes: 'memory',
  cpuMillis: 'cpu',
  pids: 'pids',
};
const PERIOD_US = 100_000;

/** The first cgroup v2 mount in /proc/self/mountinfo. */
export function cgroup2Mount(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.split(' ')[0] === 'cgroup2') return before?.split(' ')[4];
  }
  return undefined;
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The cgroup v2 directories of a host's containers: `<root>/<pod>.<container>`, one per container, so
 * that everything a container starts (a daemon that forks, a child that calls setsid) is found and
 * killed with it, as systemd does for a unit (KillMode=control-group), and so that its limits apply
 * to the whole tree. The root must be a cgroup this agent may manage; the processes in it outlive
 * the agent.
 */
export class ContainerCgroups {
  private constructor(readonly root: string) {}

  /**
   * `<cgroup2 mount>/seer` (or `root` when given) if the agent can create cgroups there; undefined
   * when the host has no writable cgroup v2.
   */
  static open(root?: string): ContainerCgroups | undefined {
    const mount = cgroup2Mount();
    const dir = root ?? (mount ? path.join(mount, 'seer') : undefined);
    if (!dir) return undefined;
    try {
      mkdirSync(dir, { recursive: true });
      if (!existsSync(path.join(dir, 'cgroup.procs'))) return undefined;
    } catch {
      return undefined;
    }
    return new ContainerCgroups(dir);
  }

  /** One node's containers: several agents (several nodes) may share a host's cgroups. */
  dir(node: string, pod: string, container: string): string {
    return path.join(this.root, node, `${pod}.${container}`);
  }
}

/** One container's cgroup: created before a run, joined by its first process, killed and removed after. */
export class ContainerCgroup {
  constructor(
    readonly dir: string,
    private readonly mount = cgroup2Mount() ?? '/sys/fs/cgroup',
  ) {}

  /** See joinPrelude. */
  prelude(): string {
    return joinPrelude(this.mount, this.dir);
  }

  /**
   * Creates the cgroup and writes the limits the host can enforce; resolves with what it cannot
   * ("memory, pids: not enabled in …") or undefined when every asked limit is in place.
   */
  prepare(limits: CgroupLimits = {}): string | undefined {
    mkdirSync(this.dir, { recursive: true });
    const asked = (Object.keys(limits) as (keyof CgroupLimits)[]).filter((key) => limits[key] !== undefined);
    if (asked.length === 0) return undefined;
    const parent = path.dirname(this.dir);
    const missing: string[] = [];
    for (const key of asked) {
      const controller = CONTROLLER[key];
      if (!read(path.join(parent, 'cgroup.subtree_control')).split(/\s+/).includes(controller)) {
        try {
          writeFileSync(path.join(parent, 'cgroup.subtree_control'), `+${controller}`);
        } catch {
          missing.push(controller);
          continue;
        }
      }
      const value = limits[key] ?? 0;
      try {
        if (key === 'memoryBytes') writeFileSync(path.join(this.dir, 'memory.max'), String(value));
        if (key === 'pids') writeFileSync(path.join(this.dir, 'pids.max'), String(value));
        if (key === 'cpuMillis')
          writeFileSync(
            path.join(this.dir, 'cpu.max'),
            `${Math.max(1000, Math.round((value * PERIOD_US) / 1000))} ${PERIOD_US}`,
          );
      } catch {
        missing.push(controller);
      }
    }
    if (missing.length === 0) return undefined;
    const available = read(path.join(parent, 'cgroup.controllers')).trim() || 'none';
    return `${missing.join(', ')} cannot be limited: not enabled for ${parent} (available: ${available})`;
  }

  /** Moves a process into the cgroup (its later children are born there). */
  join(pid: number): void {
    writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
  }

  /** The processes in it now. */
  members(): number[] {
    return read(path.join(this.dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
  }

  signal(signal: NodeJS.Signals): void {
    for (const pid of this.members()) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone meanwhile
      }
    }
  }

  /** Resolves true once nothing is left in it, false after `timeoutMs`. */
  async emptied(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.members().length > 0) {
      if (Date.now() >= deadline) return false;
      await sleep(10);
    }
    return true;
  }

  /** SIGKILLs everything in it (cgroup.kill where the kernel has it, else one by one) and waits until it is empty. */
  async kill(timeoutMs = 5000): Promise<boolean> {
    if (this.members().length === 0) return true;
    try {
      writeFileSync(path.join(this.dir, 'cgroup.kill'), '1');
    } catch {
      this.signal('SIGKILL');
    }
    return this.emptied(timeoutMs);
  }

  /** Removes the (empty) cgroup; one still in use stays. */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // not empty, or gone
    }
  }
}

/**
 * Shell lines that wait until the shell itself is in cgroup `dir` (the agent moves it right after
 * the spawn) before anything else runs, so that not even its first child starts outside it. Only
 * builtins: no process is forked while waiting.
 */
export function joinPrelude(mount: string, dir: string): string {
  const inside = `0::/${path.relative(mount, dir)}`;
  return [
    'seer_n=0',
    'while :; do',
    '  seer_in=no',
    `  while read -r seer_line; do [ "$seer_line" = '${inside}' ] && seer_in=yes; done < /proc/$$/cgroup`,
    '  [ $seer_in = yes ] && break',
    '  seer_n=$((seer_n+1)); [ $seer_n -gt 200000 ] && { echo "not moved into its cgroup" >&2; exit 126; }',
    'done',
    'unset seer_n seer_in seer_line',
  ].join('\n');
}
