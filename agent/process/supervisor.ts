import { EventEmitter } from 'node:events';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { DEFAULT_BACKOFF, DueRestart, RestartBackoff, type BackoffSettings } from './backoff.js';
import { processEnvironment } from './environment.js';
import { executionContext } from './execution-context.js';
import { adoptRunning, planAdoption, recordedProcessAlive, type Adoption } from './adoption.js';
import {
  describeCommandResult,
  launchForeground,
  launchForking,
  runCommand,
  StartFailure,
  type CommandContext,
  type Launched,
} from './launch.js';
import { fileSize, logPaths, logTail, previousLogPaths, type LogPaths } from './log-files.js';
import {
  DEFAULT_LOG_ROTATION,
  keepPreviousRun,
  LogRotator,
  type LogRotationSettings,
} from './log-rotation.js';
import { ContainerCgroup } from './cgroups.js';
import { runHook } from './lifecycle-hooks.js';
import { ProbeWorker } from './probe-worker.js';
import type { ProbeResult, ProbeTarget } from './probes.js';
import { killGroupRemnants } from './proc.js';
import { processWatcher } from './process-watcher.js';
import {
  replacedState,
  restartedDaemon,
  RestartCommandWindow,
  runRestartCommand,
} from './restart-command.js';
import { RestartLimit } from './restart-limit.js';
import type { ProcessSpec } from './spec.js';
import { readStateFile, writeStateFile, type PersistedContainer } from './state-file.js';
import {
  TerminatedReason,
  WaitingReason,
  type ContainerState,
  type ContainerStateTerminated,
  type ContainerStatus,
} from './status.js';
import {
  afterExit,
  afterStartFailure,
  persistedPhase,
  restartEvent,
  restoreEvent,
  transition,
  TRANSITIONS,
  type Phase,
  type SupervisorEvent,
} from './supervisor-states.js';
import { terminatedState, type ExitCause } from './termination.js';
import { WatchedProcess, type ExitInfo } from './watched-process.js';

export interface SupervisorOptions {
  logger?: Logger;
  backoff?: Partial<BackoffSettings>;
  logRotation?: Partial<LogRotationSettings>;
  /** Forking mode: bound on the start command's exit plus the pid file naming a live process. Default 60 s. */
  startTimeoutMs?: number;
  /** Bound on reload and restart commands. Default 60 s. */
  commandTimeoutMs?: number;
  /** How often, at least, a process that is not our child (daemon, adopted) is checked. Default 50 ms. */
  pollIntervalMs?: number;
}

const SIGKILL_WAIT_MS = 10_000;

/** What a transition changes in the reported state besides the phase. */
interface StateChange {
  state?: ContainerState;
  lastState?: ContainerState;
}

let silentLogger: Logger | undefined;

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Number((ms / 1000).toFixed(1))}s`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs one container's process on this host and keeps it running according to its restart policy,
 * probes and requests (stop, reload, restart). Emits 'status' whenever the observable status changes.
 *
 * All state changes go through one queue, so a stop requested during a restart waits for it and then
 * stops the new process; every change of phase goes through `enter()` and the table in
 * supervisor-states.ts. A requested restart does not count in `restart_count`, which counts what the
 * restart policy did (as in Kubernetes, where it signals trouble).
 */
export class ContainerSupervisor extends EventEmitter<{ status: [ContainerStatus] }> {
  private readonly logger: Logger;
  private readonly logs: LogPaths;
  private readonly backoff: RestartBackoff;
  private readonly restartLimit: RestartLimit;
  private readonly cgroup: ContainerCgroup | undefined;
  /** Why the requested limits are not (all) enforced here; undefined when they are, or none were asked. */
  private limitsMessage: string | undefined;
  private readonly rotator: LogRotator;
  private readonly logRotation: LogRotationSettings;
  private readonly startTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly pollIntervalMs: number;

  private phase: Phase = 'idle';
  private run: WatchedProcess | undefined;
  /** Whether the supervised pid is the program itself rather than a shell running it. */
  private execs = true;
  private stderrOffset = 0;
  /** Set by whoever ends the process on purpose, read when its exit arrives. */
  private exitCause: ExitCause | undefined;
  private readonly restartWindow = new RestartCommandWindow();
  private state: ContainerState = { waiting: { reason: WaitingReason.ContainerCreating } };
  private lastState: ContainerState | undefined;
  private restartCount = 0;
  private ready = false;
  /** The run whose post_start command has not finished yet: not ready until it has. */
  private postStarting: WatchedProcess | undefined;
  private readonly dueRestart = new DueRestart();
  private probes: ProbeWorker[] = [];
  private context: CommandContext | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private lastEmitted = '';
  private detached = false;

  constructor(
    readonly spec: ProcessSpec,
    options: SupervisorOptions = {},
  ) {
    super();
    silentLogger ??= pino({ level: 'silent' });
    this.logger = (options.logger ?? silentLogger).child({ container: spec.name });
    this.logs = logPaths(spec.log_dir, spec.name);
    this.backoff = new RestartBackoff({ ...DEFAULT_BACKOFF, ...options.backoff });
    this.restartLimit = new RestartLimit(spec.restart_limit);
    this.cgroup = spec.cgroup_dir ? new ContainerCgroup(spec.cgroup_dir) : undefined;
    this.logRotation = { ...DEFAULT_LOG_ROTATION, ...options.logRotation };
    this.rotator = new LogRotator([this.logs.stdout, this.logs.stderr], this.logRotation, this.logger);
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 60_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 50;
  }

  /**
   * Starts the process and supervises it from now on; does nothing while it runs or a restart is due.
   * On a fresh supervisor whose state file names a live process, that process is adopted instead of
   * starting a second one.
   */
  start(): Promise<void> {
    return this.serial(async () => {
      if (this.run || this.phase === 'starting' || this.phase === 'backoff') return;
      await this.startNow();
    });
  }

  /**
   * Takes over from a previous agent using the state file. A process still running (same pid, same
   * start time) is watched again without a restart; one that ended meanwhile is reported and the
   * restart policy applies; a due restart is carried out. True only if a live process was adopted.
   */
  adopt(): Promise<boolean> {
    return this.serial(async () => {
      if (this.run || this.phase === 'starting' || this.phase === 'backoff') return this.phase === 'running';
      const saved = await this.readSaved();
      if (!saved) return false;
      this.detached = false;
      this.restore(saved);
      return this.takeOver(planAdoption(saved));
    });
  }

  /**
   * The stop sequence: the stop command if any, then SIGTERM to the process group, then SIGKILL once
   * the grace period (`stop_timeout_seconds`) is over. No restart follows. Resolves when the process is gone.
   */
  stop(message = 'stopped by the agent'): Promise<void> {
    return this.serial(async () => {
      this.dueRestart.cancel();
      let state: ContainerState | undefined;
      if (this.run) {
        await this.stopRun(this.run, message);
      } else if (this.phase === 'backoff' || this.phase === 'starting') {
        state = {
          terminated: { reason: TerminatedReason.Stopped, message, finished_at: new Date().toISOString() },
        };
      }
      if (this.cgroup && !this.detached) {
        // Also after a run that ended by itself: nothing of it stays, not even the empty cgroup.
        await this.cgroup.kill(SIGKILL_WAIT_MS);
        this.cgroup.remove();
      }
      if (this.phase === 'idle') return;
      this.enter('stopped', { state });
    });
  }

  /** The reload command if there is one, else SIGHUP to the main process. Rejects if it is not running. */
  async reload(): Promise<void> {
    const run = this.run;
    if (!run || this.phase !== 'running') throw new Error(`container ${this.spec.name} is not running`);
    const command = this.spec.commands.reload;
    if (command) {
      const since = fileSize(this.logs.stderr);
      const result = await runCommand(command, await this.commandContext(), this.commandTimeoutMs);
      if (result.timedOut || result.code !== 0) {
        const tail = logTail(this.logs.stderr, since);
        throw new Error(
          `${describeCommandResult('reload', result, this.commandTimeoutMs)}${tail ? `: ${tail}` : ''}`,
        );
      }
      return;
    }
    // A shell running a compound command would die of SIGHUP and leave its program behind: then the group gets it.
    if (!run.signal('SIGHUP', !this.execs)) throw new Error(`container ${this.spec.name} is not running`);
  }

  /**
   * The restart command if there is one (in forking mode the pid file is read again afterwards), else
   * the stop sequence and a new start. Not counted in `restart_count`. Starts the container if it is not running.
   */
  restart(): Promise<void> {
    return this.serial(async () => {
      this.dueRestart.cancel();
      const command = this.spec.commands.restart;
      const run = this.run;
      if (command && run) {
        await this.restartWithCommand(run, command);
        return;
      }
      if (run) await this.stopRun(run, 'restarted on request');
      await this.startNow();
    });
  }

  status(): ContainerStatus {
    const status: ContainerStatus = {
      name: this.spec.name,
      ready: this.ready && this.run !== undefined && this.postStarting === undefined,
      started: this.run !== undefined,
      restart_count: this.restartCount,
      state: structuredClone(this.state),
    };
    if (this.run) status.pid = this.run.pid;
    if (this.lastState) status.last_state = structuredClone(this.lastState);
    if (this.limitsMessage) status.resources_message = this.limitsMessage;
    return status;
  }

  /** Stops watching without touching the process (agent shutdown); a later `adopt()` takes over. */
  detach(): void {
    this.detached = true;
    this.dueRestart.cancel();
    this.stopProbes();
    this.rotator.stop();
    this.run?.release();
    // What the next agent adopts: the state file as of now.
    if (this.phase !== 'idle') this.persist();
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async commandContext(): Promise<CommandContext> {
    if (this.context) return this.context;
    try {
      this.context = { ...(await executionContext(this.spec)), logs: this.logs };
    } catch (error) {
      throw new StartFailure('StartError', errorMessage(error));
    }
    return this.context;
  }

  /** Each run writes new log files; the last run's are kept beside them (kubectl logs --previous). */
  private async keepPreviousLogs(): Promise<void> {
    await this.rotator.settle();
    const previous = previousLogPaths(this.spec.log_dir, this.spec.name);
    for (const stream of ['stdout', 'stderr'] as const) {
      try {
        await keepPreviousRun(this.logs[stream], previous[stream], this.logRotation.maxFiles);
      } catch (error) {
        this.logger.warn({ err: error, file: this.logs[stream] }, "could not keep the previous run's log");
      }
    }
  }

  private async launch(asRestart: boolean): Promise<void> {
    this.dueRestart.cancel();
    if (asRestart) this.restartCount += 1;
    this.ready = false;
    await this.keepPreviousLogs();
    if (this.spec.mode === 'forking') {
      this.enter('launch-daemon', { state: { waiting: { reason: WaitingReason.Starting } } });
    } else {
      this.enter('launch');
    }
    let launched: Launched;
    try {
      const context = await this.commandContext();
      const preStart = this.spec.commands.pre_start;
      if (preStart) {
        const failure = await runHook('pre_start', preStart, context, this.commandTimeoutMs);
        if (failure) throw new StartFailure('PreStartError', failure);
      }
      const launchContext = { ...context, cgroup: await this.cleanCgroup() };
      if (this.spec.mode === 'forking') {
        if (!this.spec.pid_file) throw new StartFailure('StartError', 'forking mode needs a pid_file');
        launched = await launchForking(this.spec.commands.start, launchContext, {
          pidFile: path.resolve(context.directory, this.spec.pid_file),
          timeoutMs: this.startTimeoutMs,
          pollIntervalMs: this.pollIntervalMs,
        });
      } else {
        launched = await launchForeground(this.spec.commands.start, launchContext);
      }
    } catch (error) {
      this.startFailed(error);
      return;
    }
    this.execs = launched.execs;
    this.stderrOffset = launched.stderrOffset;
    this.logger.info({ pid: launched.process.pid, restart_count: this.restartCount }, 'process started');
    this.attach(launched.process);
  }

  /**
   * The container's cgroup, emptied of anything a previous run left and with its limits written;
   * undefined without cgroups on this host.
   */
  private async cleanCgroup(): Promise<ContainerCgroup | undefined> {
    if (!this.cgroup) {
      this.limitsMessage = this.spec.limits
        ? 'resource limits need a writable cgroup v2, which this host does not offer'
        : undefined;
      return undefined;
    }
    await this.cgroup.kill(SIGKILL_WAIT_MS);
    try {
      this.limitsMessage = this.cgroup.prepare(this.spec.limits);
    } catch (error) {
      throw new StartFailure('StartError', `cannot create cgroup ${this.cgroup.dir}: ${errorMessage(error)}`);
    }
    if (this.limitsMessage) this.logger.warn({ cgroup: this.cgroup.dir }, this.limitsMessage);
    return this.cgroup;
  }

  /** Watches `run` as the container's process from now on (its exit handled by onExit, its probes started). */
  private attach(run: WatchedProcess, lastState?: ContainerState): void {
    this.run = run;
    if (this.detached) {
      // Launched while the agent shut down: recorded for the next agent, not watched here.
      this.enter('run', { state: this.runningState(run), lastState });
      run.release();
      return;
    }
    void run.exited.then((exit) => this.onExit(run, exit));
    this.startProbes(run);
    const postStart = this.spec.commands.post_start;
    if (postStart) this.postStarting = run;
    this.enter('run', { state: this.runningState(run), lastState });
    if (postStart) void this.postStart(run, postStart);
  }

  /** Runs post_start for `run`; its failure stops the run, and the restart policy applies. */
  private async postStart(run: WatchedProcess, command: string): Promise<void> {
    const failure = await runHook('post_start', command, await this.commandContext(), this.commandTimeoutMs);
    if (this.postStarting !== run) return;
    this.postStarting = undefined;
    if (!failure) {
      this.notify();
      return;
    }
    this.logger.warn({ pid: run.pid, hook: failure }, 'post_start failed; stopping');
    void this.serial(() => this.killFor(run, { kind: 'post-start', message: failure, steps: [] }));
  }

  private runningState(run: WatchedProcess): ContainerState {
    return { running: { pid: run.pid, started_at: run.startedAt.toISOString() } };
  }

  private async startNow(): Promise<void> {
    this.detached = false;
    if (this.phase === 'idle') {
      const saved = await this.readSaved();
      if (saved) {
        this.restore(saved);
        if (saved.phase === 'running' && recordedProcessAlive(saved)) {
          await this.takeOver(adoptRunning(saved));
          return;
        }
        this.state = saved.state;
      }
    }
    if (this.state.terminated) this.lastState = this.state;
    this.backoff.reset();
    await this.launch(false);
  }

  private async readSaved(): Promise<PersistedContainer | undefined> {
    try {
      return await readStateFile(this.spec.state_file);
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot read the state file; starting afresh');
      return undefined;
    }
  }

  /** What outlives a process: counts, the last termination, the backoff sequence. */
  private restore(saved: PersistedContainer): void {
    this.restartCount = saved.restart_count;
    this.restartLimit.restore(saved.recent_restarts);
    this.lastState = saved.last_state;
    this.backoff.failures = saved.backoff.failures;
    this.execs = saved.execs ?? true;
  }

  /** Does what adoption found: watch the live process, report the ended one, restart, or stay settled. */
  private async takeOver(adoption: Adoption): Promise<boolean> {
    switch (adoption.kind) {
      case 'alive': {
        try {
          await this.commandContext();
        } catch (error) {
          this.logger.warn({ err: error }, 'cannot resolve the user: commands and exec probes will fail');
        }
        this.stderrOffset = fileSize(this.logs.stderr);
        this.logger.info({ pid: adoption.pid, restart_count: this.restartCount }, 'adopted running process');
        this.attach(
          WatchedProcess.polled(
            adoption.pid,
            adoption.startTime,
            adoption.startedAt,
            'adopted',
            adoption.signalsGroup,
            this.pollIntervalMs,
          ),
        );
        return true;
      }
      case 'gone':
        if (adoption.pid !== undefined && adoption.killGroup)
          killGroupRemnants(adoption.pid, adoption.startTime);
        this.logger.info({ pid: adoption.pid }, 'process exited while the agent was not watching');
        this.afterTermination(adoption.terminated, undefined, false);
        return false;
      case 'due':
        this.scheduleRestart(adoption.delayMs, { state: adoption.state });
        return false;
      case 'settled':
        this.enter(restoreEvent(adoption.phase), { state: adoption.state });
        return false;
    }
  }

  private onExit(run: WatchedProcess, exit: ExitInfo): void {
    if (run !== this.run) return;
    this.run = undefined;
    this.postStarting = undefined;
    this.stopProbes();
    this.ready = false;
    // Whatever the process started and left in its group goes with it, as a container's processes would.
    if (run.signalsGroup) killGroupRemnants(run.pid, run.startTime);
    // And what left its group (setsid): the cgroup holds it. A stop gives it its grace period first.
    if (this.cgroup && !this.detached && this.phase !== 'stopping') void this.cgroup.kill(SIGKILL_WAIT_MS);
    let cause: ExitCause = this.exitCause ?? { kind: 'exited' };
    this.exitCause = undefined;
    if (cause.kind === 'exited' && this.restartWindow.covers()) cause = { kind: 'restart-command' };
    const terminated = terminatedState(exit, run, cause, () => logTail(this.logs.stderr, this.stderrOffset));
    this.logger.info({ pid: run.pid, ...terminated }, 'process ended');
    if (this.phase === 'stopping') {
      // stop() or restart() is waiting for this exit and decides what follows.
      this.enter('end-while-stopping', { state: { terminated } });
      return;
    }
    if (cause.kind === 'restart-command') {
      this.enter('end-for-restart-command', {
        lastState: { terminated },
        state: { waiting: { reason: WaitingReason.Starting, message: 'restarting on request' } },
      });
      // In forking mode the running restart() picks the new daemon from the pid file.
      if (this.spec.mode === 'foreground') void this.serial(() => this.relaunchAfterRestartCommand());
      return;
    }
    const succeeded = cause.kind === 'exited' && exit.known && exit.code === 0 && !exit.signal;
    this.afterTermination(terminated, exit.at.getTime() - run.startedAt.getTime(), succeeded);
  }

  private async relaunchAfterRestartCommand(): Promise<void> {
    if (this.phase === 'starting' && !this.run && !this.detached) await this.launch(false);
  }

  /** Applies the restart policy; an exit code nobody could observe counts as a failure. */
  private afterTermination(
    terminated: ContainerStateTerminated,
    ranMs: number | undefined,
    succeeded: boolean,
  ): void {
    const next = afterExit(this.spec.restart_policy, succeeded, () => this.backoff.next(ranMs));
    if (next.event === 'finish') {
      this.enter('finish', { state: { terminated } });
      return;
    }
    if (!this.restartLimit.allow()) {
      const message = `${terminated.message ?? terminated.reason ?? 'ended'}; ${this.restartLimit.describe()}`;
      this.logger.warn({ message }, 'restart limit reached');
      this.enter('finish', {
        state: { terminated: { ...terminated, reason: TerminatedReason.RestartLimitReached, message } },
      });
      return;
    }
    this.scheduleRestart(next.delayMs, { lastState: { terminated }, state: { terminated } });
  }

  private startFailed(error: unknown): void {
    const failure =
      error instanceof StartFailure ? error : new StartFailure('StartError', errorMessage(error));
    this.logger.warn({ reason: failure.reason, message: failure.message }, 'process could not be started');
    // A user that cannot be resolved now may exist at the next attempt.
    if (this.spec.user) this.context = undefined;
    const next = afterStartFailure(this.spec.restart_policy, () => this.backoff.next(undefined));
    if (next.event === 'give-up') {
      this.enter('give-up', { state: { waiting: { reason: failure.reason, message: failure.message } } });
      return;
    }
    if (!this.restartLimit.allow()) {
      const message = `${failure.reason}: ${failure.message}; ${this.restartLimit.describe()}`;
      this.logger.warn({ message }, 'restart limit reached');
      this.enter('give-up', { state: { waiting: { reason: WaitingReason.RestartLimitReached, message } } });
      return;
    }
    this.scheduleRestart(next.delayMs, {
      lastState: {
        terminated: {
          reason: failure.reason,
          message: failure.message,
          finished_at: new Date().toISOString(),
        },
      },
    });
  }

  /** Enters `backoff`; the restart follows at once or, in CrashLoopBackOff, after `delayMs`. */
  private scheduleRestart(delayMs: number, change: StateChange = {}): void {
    if (restartEvent(delayMs) === 'restart-now') {
      this.dueRestart.schedule(0, undefined);
      // Straight to the new process: no intermediate status for the pod-sync layer to publish.
      this.enter('restart-now', change);
      if (!this.detached) void this.serial(() => this.restartAfterBackoff());
      return;
    }
    const message = `back-off ${formatDelay(delayMs)} restarting failed container ${this.spec.name}`;
    this.dueRestart.schedule(
      delayMs,
      this.detached ? undefined : () => void this.serial(() => this.restartAfterBackoff()),
    );
    this.enter('back-off', {
      ...change,
      state: { waiting: { reason: WaitingReason.CrashLoopBackOff, message } },
    });
  }

  private async restartAfterBackoff(): Promise<void> {
    if (this.phase !== 'backoff' || this.detached) return;
    await this.launch(true);
  }

  private startProbes(run: WatchedProcess): void {
    const context = this.context;
    const target: ProbeTarget = {
      directory: context?.directory ?? path.resolve(this.spec.directory),
      env: context?.env ?? processEnvironment(this.spec.env, undefined),
      identity: context?.identity,
      ports: this.spec.ports,
    };
    if (this.spec.user && !context?.identity) {
      target.unavailable = `user "${this.spec.user}" cannot be resolved`;
    }
    const { readiness_probe: readiness, liveness_probe: liveness } = this.spec;
    this.ready = !readiness;
    if (readiness) {
      this.probes.push(
        new ProbeWorker(readiness, target, false, (ok, result) => {
          if (this.run !== run) return;
          this.logger.info({ ready: ok, probe: result.message }, 'readiness changed');
          this.ready = ok;
          // Readiness is not a phase and not in the state file: only the status changes.
          this.notify();
        }),
      );
    }
    if (liveness) {
      this.probes.push(
        new ProbeWorker(liveness, target, true, (ok, result) => {
          if (!ok) void this.serial(() => this.killForLiveness(run, result));
        }),
      );
    }
    for (const probe of this.probes) probe.start();
  }

  private stopProbes(): void {
    for (const probe of this.probes) probe.stop();
    this.probes = [];
  }

  private async killForLiveness(run: WatchedProcess, result: ProbeResult): Promise<void> {
    if (run !== this.run || this.phase !== 'running' || this.detached) return;
    const threshold = this.spec.liveness_probe?.failure_threshold ?? 3;
    this.logger.warn({ pid: run.pid, probe: result.message }, 'liveness probe failed; restarting');
    await this.killFor(run, {
      kind: 'liveness',
      message: `liveness probe failed ${threshold} time${threshold === 1 ? '' : 's'} in a row: ${result.message}`,
      steps: [],
    });
  }

  /** Runs the stop sequence on a run that failed a check; its exit then goes to the restart policy. */
  private async killFor(
    run: WatchedProcess,
    cause: Extract<ExitCause, { kind: 'liveness' | 'post-start' }>,
  ): Promise<void> {
    if (run !== this.run || this.phase !== 'running' || this.detached) return;
    this.exitCause = cause;
    this.stopProbes();
    this.ready = false;
    this.enter(cause.kind === 'liveness' ? 'liveness-failed' : 'post-start-failed');
    await this.terminate(run, cause.steps);
  }

  private async stopRun(run: WatchedProcess, message: string): Promise<void> {
    const cause: ExitCause = { kind: 'stopped', message, steps: [] };
    this.exitCause = cause;
    this.stopProbes();
    this.ready = false;
    this.enter('stop');
    await this.terminate(run, cause.steps);
  }

  /** Resolves true once the exit has been handled by onExit, false after `ms`. */
  private waitGone(run: WatchedProcess, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, ms));
      // Registered after onExit's handler (attach), so the exit is fully handled when this runs.
      void run.exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Stop command, SIGTERM to the group, SIGKILL at the end of the grace period; `steps` records what
   * was done. Returns once the group's last member is gone too, so that its ports are free again.
   */
  private async terminate(run: WatchedProcess, steps: string[]): Promise<void> {
    const deadline = Date.now() + this.spec.stop_timeout_seconds * 1000;
    await this.endProcess(run, steps);
    if (this.detached) return;
    if (run.signalsGroup) await processWatcher.groupEmpty(run.pid, SIGKILL_WAIT_MS);
    if (this.cgroup) {
      // What escaped the group (a daemon's setsid child) gets SIGTERM and the rest of the grace period, as
      // systemd's KillMode=control-group, then SIGKILL.
      this.cgroup.signal('SIGTERM');
      await this.cgroup.emptied(deadline - Date.now());
      await this.cgroup.kill(SIGKILL_WAIT_MS);
      this.cgroup.remove();
    }
  }

  private async endProcess(run: WatchedProcess, steps: string[]): Promise<void> {
    const graceMs = this.spec.stop_timeout_seconds * 1000;
    const began = Date.now();
    const preStop = this.spec.commands.pre_stop;
    if (preStop) {
      steps.push('pre_stop');
      const failure = await runHook('pre_stop', preStop, await this.commandContext(), graceMs);
      if (failure) this.logger.warn({ hook: failure }, 'pre_stop failed; stopping all the same');
      // It may have ended the program itself.
      if (await this.waitGone(run, 0)) return;
    }
    const stopCommand = this.spec.commands.stop;
    if (stopCommand) {
      steps.push('stop command');
      try {
        const left = Math.max(0, began + graceMs - Date.now());
        const result = await runCommand(stopCommand, await this.commandContext(), left);
        if (result.timedOut || result.code !== 0) {
          this.logger.warn(describeCommandResult('stop', result, left));
        }
      } catch (error) {
        this.logger.warn({ err: error }, 'stop command could not run');
      }
      // The first half of the grace period belongs to the stop command's own (possibly graceful) shutdown.
      if (await this.waitGone(run, began + graceMs / 2 - Date.now())) return;
    }
    if (this.detached) return;
    steps.push('SIGTERM');
    run.signal('SIGTERM');
    this.cgroup?.signal('SIGTERM');
    if (await this.waitGone(run, began + graceMs - Date.now())) return;
    if (this.detached) return;
    steps.push(`SIGKILL after the ${graceMs / 1000} s grace period`);
    run.signal('SIGKILL');
    if (await this.waitGone(run, SIGKILL_WAIT_MS)) return;
    this.logger.error({ pid: run.pid }, 'process survived SIGKILL (stuck in the kernel); no longer tracked');
    run.abandon();
    await this.waitGone(run, 0);
  }

  /** restart() with a restart command: the process may go on, end (started again), or be replaced (forking). */
  private async restartWithCommand(run: WatchedProcess, command: string): Promise<void> {
    const context = await this.commandContext();
    const foreground = this.spec.mode === 'foreground';
    const failure = await runRestartCommand(
      command,
      context,
      this.commandTimeoutMs,
      this.restartWindow,
      foreground ? this.spec.stop_timeout_seconds * 1000 : undefined,
    );
    if (!foreground && this.spec.pid_file) {
      await this.followPidFile(run, path.resolve(context.directory, this.spec.pid_file));
    }
    if (failure) throw failure;
  }

  /** After a forking restart command: supervise whatever process the pid file names now. */
  private async followPidFile(previous: WatchedProcess, pidFile: string): Promise<void> {
    let found;
    try {
      found = await restartedDaemon(pidFile, this.startTimeoutMs);
    } catch (error) {
      if (!this.run) this.startFailed(error);
      return;
    }
    const current = this.run;
    if (current && current.pid === found.pid && current.startTime === found.startTime) return;
    let lastState: ContainerState | undefined;
    if (current) {
      current.release();
      this.run = undefined;
      this.stopProbes();
      lastState = replacedState(previous, found.pid);
    }
    this.attach(
      WatchedProcess.polled(
        found.pid,
        found.startTime,
        new Date(),
        'daemon',
        found.leadsGroup,
        this.pollIntervalMs,
      ),
      lastState,
    );
  }

  /**
   * The one place the phase changes: the table says whether `event` may happen now, the next phase
   * and what follows; the state file and the status listeners learn of it here.
   */
  private enter(event: SupervisorEvent, change: StateChange = {}): void {
    let next = transition(this.phase, event);
    if (!next) {
      // A path the table does not know of: carried out all the same, and reported to be looked at.
      this.logger.error({ phase: this.phase, event }, 'supervisor transition outside its table');
      next = TRANSITIONS[event];
    }
    this.phase = next.to;
    if (change.lastState) this.lastState = change.lastState;
    if (change.state) this.state = change.state;
    if (next.logs === 'rotate' && !this.detached) this.rotator.start();
    else if (next.logs === 'stop-rotating') this.rotator.stop();
    if (next.persist) this.persist();
    if (next.notify === true || (next.notify === 'unless-detached' && !this.detached)) this.notify();
  }

  private persist(): void {
    const run = this.run;
    const phase = persistedPhase(this.phase);
    const saved: PersistedContainer = {
      version: 1,
      name: this.spec.name,
      phase,
      restart_count: this.restartCount,
      state: this.state,
      backoff: { failures: this.backoff.failures },
    };
    const recent = this.restartLimit.recent();
    if (recent.length > 0) saved.recent_restarts = recent;
    if (run) {
      saved.pid = run.pid;
      saved.proc_start_time = run.startTime;
      saved.signals_group = run.signalsGroup;
      saved.execs = this.execs;
      saved.started_at = run.startedAt.toISOString();
    }
    if (this.lastState) saved.last_state = this.lastState;
    if (phase === 'backoff') saved.backoff.next_restart_at = (this.dueRestart.at ?? new Date()).toISOString();
    try {
      writeStateFile(this.spec.state_file, saved);
    } catch (error) {
      this.logger.error({ err: error, file: this.spec.state_file }, 'cannot write the state file');
    }
  }

  private notify(): void {
    const status = this.status();
    const text = JSON.stringify(status);
    if (text === this.lastEmitted) return;
    this.lastEmitted = text;
    try {
      this.emit('status', status);
    } catch (error) {
      this.logger.error({ err: error }, 'a status listener threw');
    }
  }
}
