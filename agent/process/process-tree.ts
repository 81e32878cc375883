import { readdirSync, readFileSync } from 'node:fs';
import { readProcStat } from './proc.js';

/**
 * Clock ticks per second of /proc's time fields (USER_HZ): fixed at 100 by the kernel's ABI on every
 * architecture Linux runs on, whatever the internal tick rate.
 */
const USER_HZ = 100;

/** One process as a single read of its /proc/<pid>/stat tells it. */
interface ProcessEntry {
  ppid: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** Clock ticks after boot when it started. */
  startTicks: number;
}

/** What a process and its live descendants use, summed. */
export interface TreeUsage {
  processes: number;
  cpuSeconds: number;
  residentBytes: number;
  openFds: number;
  /** When the tree's root started, in seconds since the epoch. */
  startTimeSeconds: number;
}

function bootTimeSeconds(): number {
  const line = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
  return Number(line?.[1] ?? 0);
}

function readEntry(pid: number): ProcessEntry | undefined {
  const stat = readProcStat(pid);
  // Zombies hold no memory or descriptors, and their time went to the parent's children fields.
  if (!stat || stat.state === 'Z' || stat.state === 'X') return undefined;
  return { ppid: stat.ppid, cpuTicks: stat.cpuTicks, startTicks: stat.startTime };
}

/** VmRSS from /proc/<pid>/status, in bytes: the kernel's own count, whatever the page size. */
function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/**
 * Every live process on the host, read in one pass over /proc, with the parent → children map:
 * the usage of any number of process trees is then summed without scanning /proc again. Memory and
 * descriptors are read only for the processes of a tree asked about.
 */
export class ProcessTable {
  private readonly entries = new Map<number, ProcessEntry>();
  private readonly children = new Map<number, number[]>();
  private readonly bootTime: number;

  constructor() {
    this.bootTime = bootTimeSeconds();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      const entry = readEntry(pid);
      if (!entry) continue;
      this.entries.set(pid, entry);
      const siblings = this.children.get(entry.ppid);
      if (siblings) siblings.push(pid);
      else this.children.set(entry.ppid, [pid]);
    }
  }

  /** The pids of `root` and its live descendants; empty when `root` is not running. */
  tree(root: number): number[] {
    if (!this.entries.has(root)) return [];
    const pids: number[] = [];
    const pending = [root];
    for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
      pids.push(pid);
      pending.push(...(this.children.get(pid) ?? []));
    }
    return pids;
  }

  /** The usage of `root`'s tree, undefined when `root` is not running. */
  usage(root: number): TreeUsage | undefined {
    const rootEntry = this.entries.get(root);
    if (!rootEntry) return undefined;
    const usage: TreeUsage = {
      processes: 0,
      cpuSeconds: 0,
      residentBytes: 0,
      openFds: 0,
      startTimeSeconds: this.bootTime + rootEntry.startTicks / USER_HZ,
    };
    for (const pid of this.tree(root)) {
      usage.processes += 1;
      usage.cpuSeconds += (this.entries.get(pid)?.cpuTicks ?? 0) / USER_HZ;
      usage.residentBytes += residentBytes(pid);
      usage.openFds += openFds(pid);
    }
    return usage;
  }
}

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills `root` and every descendant, including those in other process groups or sessions (a
 * shell's jobs, daemons that setsid). Each one found is stopped first, so that none can fork or
 * be reparented away before the rest are found; once a pass over /proc finds no new one, all are
 * SIGKILLed. Returns how many processes were killed.
 */
export function killProcessTree(root: number): number {
  const stopped = new Set<number>();
  for (let pass = 0; pass < 20; pass += 1) {
    const found = new ProcessTable().tree(root).filter((pid) => !stopped.has(pid));
    if (found.length === 0) break;
    for (const pid of found) if (signal(pid, 'SIGSTOP')) stopped.add(pid);
  }
  for (const pid of stopped) signal(pid, 'SIGKILL');
  return stopped.size;
}
