import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/<pid>/stat the supervisor needs. */
export interface ProcStat {
  /** One letter: R, S, D, Z (zombie), X (dead) … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Field 22: clock ticks after boot when the process started; a reused pid has a different one. */
  startTime: number;
  /** Fields 14 and 15, utime + stime: CPU time used, in clock ticks. */
  cpuTicks: number;
}

export function readProcStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is parenthesised and may contain spaces and parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(fields[n - 3]);
  return {
    state: fields[0] ?? '?',
    ppid: field(4),
    pgrp: field(5),
    session: field(6),
    startTime: field(22),
    cpuTicks: field(14) + field(15),
  };
}

/** True while `pid` exists, is not a zombie, and (when given) is still the process that started at `startTime`. */
export function isRunning(pid: number, startTime?: number): boolean {
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** Sends `signal` to the process group led by `pid` (when `group`), else to `pid`; false when nothing was there. */
export function sendSignal(pid: number, signal: NodeJS.Signals, group: boolean): boolean {
  if (group) {
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      // no such group any more: fall back to the process itself
    }
  }
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGKILLs what is left of the process group `pgid` once its leader is gone (a crashed server's
 * workers would otherwise hold its port). Skipped when the id now leads an unrelated group: a group id
 * cannot be reused while the old group has members, so a new leader means the old group is empty.
 */
export function killGroupRemnants(pgid: number, leaderStartTime: number | undefined): void {
  const current = readProcStat(pgid);
  if (current && current.startTime !== leaderStartTime && current.pgrp === pgid) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // nothing left
  }
}

/** False when nothing at all is left in group `pgid`, not even a zombie (one syscall, no /proc scan). */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The process groups that have a live (non-zombie) member, found by one scan of /proc. */
export function liveGroups(): Set<number> {
  const groups = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.state !== 'Z' && stat.state !== 'X') groups.add(stat.pgrp);
  }
  return groups;
}
