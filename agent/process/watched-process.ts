import type { ChildProcess } from 'node:child_process';
import { isRunning, readProcStat, sendSignal } from './proc.js';
import { processWatcher } from './process-watcher.js';

/**
 * Where the supervised process came from: `child` is ours (exit code known); `daemon` forked away
 * from our start command; `adopted` was started by a previous agent. Only a child's exit code can be known.
 */
export type ProcessOrigin = 'child' | 'daemon' | 'adopted';

export interface ExitInfo {
  /** False when the process was not our child: the exit code and signal are then unknown. */
  known: boolean;
  code?: number;
  signal?: NodeJS.Signals;
  /** When the exit was noticed. */
  at: Date;
}

/** One supervised process and the promise of its end. */
export class WatchedProcess {
  readonly exited: Promise<ExitInfo>;
  private resolveExit!: (exit: ExitInfo) => void;
  private gone = false;
  private unwatch: () => void = () => {};

  private constructor(
    readonly pid: number,
    /** /proc/<pid>/stat field 22; undefined if the process was gone before it could be read. */
    readonly startTime: number | undefined,
    readonly startedAt: Date,
    readonly origin: ProcessOrigin,
    /** The process leads its own group, so signals and clean-up reach everything it started. */
    readonly signalsGroup: boolean,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  /** A child we spawned detached (so it leads its own group): its exit event carries the status. */
  static ofChild(child: ChildProcess & { pid: number }, startedAt: Date): WatchedProcess {
    const watched = new WatchedProcess(
      child.pid,
      readProcStat(child.pid)?.startTime,
      startedAt,
      'child',
      true,
    );
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      watched.finish({ known: true, code: code ?? undefined, signal: signal ?? undefined, at: new Date() });
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
    else child.once('exit', onExit);
    watched.unwatch = () => {
      child.off('exit', onExit);
      child.unref();
    };
    return watched;
  }

  /**
   * A process that is not our child: no exit event ever comes, so the agent's process watcher looks
   * for it in /proc at least every `intervalMs`; a changed start time means the pid is someone else's.
   */
  static polled(
    pid: number,
    startTime: number | undefined,
    startedAt: Date,
    origin: Exclude<ProcessOrigin, 'child'>,
    signalsGroup: boolean,
    intervalMs: number,
  ): WatchedProcess {
    const watched = new WatchedProcess(pid, startTime, startedAt, origin, signalsGroup);
    watched.unwatch = processWatcher.watch(pid, startTime, intervalMs, () =>
      watched.finish({ known: false, at: new Date() }),
    );
    return watched;
  }

  isRunning(): boolean {
    return !this.gone && isRunning(this.pid, this.startTime);
  }

  /** Signals the process (its whole group when `group` and it leads one); never a pid it no longer owns. */
  signal(signal: NodeJS.Signals, group = this.signalsGroup): boolean {
    if (!this.isRunning()) return false;
    return sendSignal(this.pid, signal, group && this.signalsGroup);
  }

  /** Treats the process as gone although it is not (it survived SIGKILL, stuck in the kernel). */
  abandon(): void {
    this.finish({ known: false, at: new Date() });
  }

  /** Stops watching and leaves the process alone (agent shutdown). */
  release(): void {
    this.unwatch();
  }

  private finish(exit: ExitInfo): void {
    if (this.gone) return;
    this.gone = true;
    this.unwatch();
    this.resolveExit(exit);
  }
}
