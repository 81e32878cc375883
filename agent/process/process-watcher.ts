import { closeSync, openSync, readSync } from 'node:fs';
import { groupExists, isRunning, liveGroups, readProcStat } from './proc.js';

/** How often the pass runs while someone waits for a process group to empty (a stop in progress). */
const STOPPING_INTERVAL_MS = 10;

const CLOSING_PARENTHESIS = 0x29;
const ZOMBIE = 0x5a; // 'Z'
const DEAD = 0x58; // 'X'

interface WatchedPid {
  pid: number;
  startTime: number | undefined;
  /**
   * /proc/<pid>/stat kept open: one pread per pass, and the file cannot name a later process with the
   * same pid. `gone` when the process had already ended; `by-path` when no descriptor was to be had
   * (EMFILE): the file is then opened on every pass and the start time compared.
   */
  fd: number | 'gone' | 'by-path';
  intervalMs: number;
  onGone: () => void;
}

interface GroupWait {
  pgid: number;
  deadline: number;
  resolve: (empty: boolean) => void;
}

/**
 * One periodic pass over every process the agent watches without being its parent, as kubelet's
 * PLEG relists its containers: daemons followed through a pid file and processes adopted from a
 * previous agent. No exit event ever comes for those, so each pass reads their /proc entries and
 * tells the owner of each one that is gone. The same pass serves stops waiting for a process group
 * to empty, at a faster cadence while one does. The timer runs only while something is watched.
 */
export class ProcessWatcher {
  private readonly watched = new Set<WatchedPid>();
  private readonly groupWaits = new Set<GroupWait>();
  private readonly buffer = Buffer.alloc(1024);
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;

  constructor(private readonly stoppingIntervalMs = STOPPING_INTERVAL_MS) {}

  /**
   * Calls `onGone` once, at the first pass that finds `pid` ended, a zombie, or (when `startTime` is
   * given) owned by another process. Passes run at least every `intervalMs`. Returns the function
   * that stops watching.
   */
  watch(pid: number, startTime: number | undefined, intervalMs: number, onGone: () => void): () => void {
    const entry: WatchedPid = { pid, startTime, fd: this.open(pid, startTime), intervalMs, onGone };
    this.watched.add(entry);
    this.schedule();
    return () => void this.forget(entry);
  }

  /** Resolves true once group `pgid` has no live member left, false after `timeoutMs`. */
  groupEmpty(pgid: number, timeoutMs: number): Promise<boolean> {
    if (!groupExists(pgid) || !liveGroups().has(pgid)) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.groupWaits.add({ pgid, deadline: Date.now() + timeoutMs, resolve });
      this.schedule();
    });
  }

  /** How many processes and group waits the pass serves (for tests). */
  get size(): number {
    return this.watched.size + this.groupWaits.size;
  }

  private open(pid: number, startTime: number | undefined): WatchedPid['fd'] {
    let fd: number;
    try {
      fd = openSync(`/proc/${pid}/stat`, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === 'ENOENT' || code === 'ESRCH' ? 'gone' : 'by-path';
    }
    // Opened after the pid was recorded: it is only ours if it still started at the recorded time.
    const stat = readProcStat(pid);
    if (!stat || (startTime !== undefined && stat.startTime !== startTime)) {
      closeSync(fd);
      return 'gone';
    }
    return fd;
  }

  /** False when `entry` was no longer watched. */
  private forget(entry: WatchedPid): boolean {
    if (!this.watched.delete(entry)) return false;
    if (typeof entry.fd === 'number') closeSync(entry.fd);
    if (this.size === 0) this.cancel();
    return true;
  }

  private isAlive(entry: WatchedPid): boolean {
    if (entry.fd === 'gone') return false;
    if (entry.fd === 'by-path') return isRunning(entry.pid, entry.startTime);
    let length: number;
    try {
      // Fails with ESRCH once the process has been reaped.
      length = readSync(entry.fd, this.buffer, 0, this.buffer.length, 0);
    } catch {
      return false;
    }
    // The state letter follows the command name, which is parenthesised and may contain ')' itself.
    const close = this.buffer.lastIndexOf(CLOSING_PARENTHESIS, length - 1);
    if (close < 0 || close + 2 >= length) return false;
    const state = this.buffer[close + 2];
    return state !== ZOMBIE && state !== DEAD;
  }

  private intervalMs(): number {
    let interval = this.groupWaits.size > 0 ? this.stoppingIntervalMs : Infinity;
    for (const entry of this.watched) interval = Math.min(interval, entry.intervalMs);
    return interval;
  }

  /** Arms the timer for the next pass, earlier if a new watch or group wait needs it sooner. */
  private schedule(): void {
    if (this.size === 0) return;
    const due = Date.now() + this.intervalMs();
    if (this.timer && this.timerDue <= due) return;
    this.cancel();
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pass();
      this.schedule();
    }, due - Date.now());
  }

  private cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private pass(): void {
    const gone = [...this.watched].filter((entry) => !this.isAlive(entry));
    for (const entry of gone) {
      // An earlier owner's reaction may have stopped watching this one already.
      if (!this.forget(entry)) continue;
      try {
        entry.onGone();
      } catch {
        // one owner's failure must not keep the others from hearing of their process
      }
    }
    if (this.groupWaits.size === 0) return;
    const now = Date.now();
    const waits = [...this.groupWaits];
    const pending = waits.filter((wait) => groupExists(wait.pgid));
    const live = pending.length > 0 ? liveGroups() : new Set<number>();
    for (const wait of waits) {
      const empty = !live.has(wait.pgid);
      if (!empty && now < wait.deadline) continue;
      this.groupWaits.delete(wait);
      wait.resolve(empty);
    }
  }
}

/** The agent's one watcher: every supervisor's non-child process is checked in the same pass. */
export const processWatcher = new ProcessWatcher();
