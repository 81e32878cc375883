import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { errorMessage, isConflict, isNotFound } from '../../kube/errors.js';
import { LeaseClient, type Lease, type LeaseTerms } from '../../kube/leases.js';
import type { RestClient } from '../../kube/rest.js';

export interface LeaderElectorOptions {
  /** Only `request` is used, so tests can stand in a fake API server. */
  rest: Pick<RestClient, 'request'>;
  namespace: string;
  name: string;
  /** Unique per process: two processes with one identity would both believe they lead. */
  identity: string;
  /** How long standbys wait, after the lease last changed, before taking it over. */
  leaseDurationSeconds?: number;
  /** How long the leader keeps leading while renewals fail; less than the lease duration. */
  renewDeadlineSeconds?: number;
  /** How often the leader renews and standbys try to acquire. */
  retryPeriodSeconds?: number;
  /** While the Lease's namespace is missing, attempts wait this long, doubling up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger: Logger;
  /** A gauge set to 1 while this replica leads, 0 otherwise. */
  leaderGauge?: { set(value: number): void };
}

export interface LeaderCallbacks {
  /**
   * This replica became the leader. `signal` aborts the moment it stops being the leader; the work
   * must stop then. A returned promise is awaited by stop() before it releases the lease.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /**
   * This replica lost the lease: another replica holds it, or renewals failed for the renew deadline.
   * Not called by stop(), whose caller already knows (the signal still aborts).
   */
  onStoppedLeading(): void;
  /** Another replica (or this one) was seen holding the lease. */
  onNewLeader?(identity: string): void;
}

/** What one acquire-or-renew attempt found. */
type Attempt = 'done' | 'retry-at-once';

// Standbys spread their attempts a little so they do not hit the API server in lockstep.
const ACQUIRE_JITTER = 0.2;

/**
 * Lease-based leader election (coordination.k8s.io/v1), as client-go's leaderelection does it: the
 * leader renews the Lease every retry period; a standby takes it over only when it has seen the
 * Lease unchanged for its lease duration by its own clock, so clocks of other hosts never matter.
 * Writes carry the resourceVersion read, so of two replicas racing for the Lease only one wins.
 */
export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly leases: LeaseClient;

  private leading = false;
  private term: AbortController | undefined;
  private work: Promise<void> | undefined;
  private renewDeadline: NodeJS.Timeout | undefined;
  /** The Lease as last read or written. */
  private lease: Lease | undefined;
  /** When (monotonic ms) the Lease was last seen to change: the start of its expiry by our clock. */
  private observedAt = 0;
  private reportedLeader: string | undefined;
  private callbacks: LeaderCallbacks | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  /** The last create found no namespace, and nothing since showed it exists. */
  private namespaceMissing = false;

  constructor(private readonly options: LeaderElectorOptions) {
    const lease = options.leaseDurationSeconds ?? 15;
    const renew = options.renewDeadlineSeconds ?? 10;
    const retry = options.retryPeriodSeconds ?? 2;
    if (!(renew < lease))
      throw new RangeError(
        `renewDeadlineSeconds (${renew}) must be less than leaseDurationSeconds (${lease})`,
      );
    if (!(retry > 0 && retry * (1 + ACQUIRE_JITTER) < renew))
      throw new RangeError(
        `retryPeriodSeconds (${retry}) must be positive and well below renewDeadlineSeconds (${renew})`,
      );
    if (!options.identity) throw new RangeError('identity must not be empty');
    this.leaseDurationMs = lease * 1000;
    this.renewDeadlineMs = renew * 1000;
    this.retryPeriodMs = retry * 1000;
    this.initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.leases = new LeaseClient(options.rest, options.namespace);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Why this replica cannot campaign at the moment, for readiness; undefined while it can. */
  get blockedBy(): string | undefined {
    return this.namespaceMissing ? `namespace "${this.options.namespace}" does not exist` : undefined;
  }

  /**
   * Campaigns for the lease until stop(). After losing it this replica is a standby again and may
   * lead another term later. A missing namespace does not end it: it retries with backoff until the
   * namespace appears.
   */
  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run() was already called');
    this.callbacks = callbacks;
    this.options.leaderGauge?.set(0);
    this.running = this.campaign();
    return this.running;
  }

  /** Stops campaigning; if leading, stops leading and releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running?.catch(() => undefined);
  }

  private async campaign(): Promise<void> {
    const { logger, identity } = this.options;
    logger.info(
      { lease: `${this.options.namespace}/${this.options.name}`, identity },
      'campaigning for leadership',
    );
    let backoffMs = this.initialBackoffMs;
    try {
      while (!this.stopping.signal.aborted) {
        const attempt = await this.tryAcquireOrRenew();
        if (attempt === 'retry-at-once' && !this.stopping.signal.aborted) await this.tryAcquireOrRenew();
        let pause = this.leading
          ? this.retryPeriodMs
          : this.retryPeriodMs * (1 + Math.random() * ACQUIRE_JITTER);
        if (this.namespaceMissing) {
          // Nothing changes until someone creates the namespace: ask less and less often.
          pause = backoffMs;
          backoffMs = Math.min(this.maxBackoffMs, backoffMs * 2);
          logger.warn(
            { namespace: this.options.namespace, retryInSeconds: pause / 1000 },
            `cannot create the leader lease: namespace "${this.options.namespace}" does not exist; ` +
              `create it (kubectl create namespace ${this.options.namespace}) or install the Helm chart`,
          );
        } else {
          backoffMs = this.initialBackoffMs;
        }
        await sleep(pause, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    } catch (error) {
      if (this.leading) this.stopLeading(errorMessage(error));
      throw error;
    }
    this.stopLeading('stopping', { notify: false });
    await this.work;
    await this.release();
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { name, identity, logger } = this.options;
    // The renew deadline counts from before the request: the API server may record it any time after.
    const startedAt = performance.now();
    const timeoutMs = this.renewDeadlineMs;
    let current: Lease | undefined;
    try {
      current = await this.leases.get(name, { timeoutMs });
      if (current) this.namespaceMissing = false;
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'could not read the leader lease');
      return 'done';
    }

    if (!current) {
      try {
        const created = await this.leases.create(name, this.heldTerms(undefined), { timeoutMs });
        this.namespaceMissing = false;
        this.acquired(created, startedAt);
      } catch (error) {
        // A create finds nothing only when the namespace itself is missing; a conflict shows it exists.
        if (isNotFound(error)) this.namespaceMissing = true;
        else if (isConflict(error)) this.namespaceMissing = false;
        else logger.warn({ err: errorMessage(error) }, 'could not create the leader lease');
      }
      return 'done';
    }

    this.observe(current);
    const holder = current.spec?.holderIdentity;
    if (holder && holder !== identity) {
      if (this.leading) this.stopLeading(`the lease is now held by ${holder}`);
      const durationMs = (current.spec?.leaseDurationSeconds ?? 0) * 1000 || this.leaseDurationMs;
      if (performance.now() < this.observedAt + durationMs) return 'done';
    }

    try {
      const updated = await this.leases.update(current, this.heldTerms(current.spec), { timeoutMs });
      this.acquired(updated, startedAt);
      return 'done';
    } catch (error) {
      if (isConflict(error)) {
        // Someone wrote the Lease since we read it: read it again now, a leader must know at once.
        return this.leading ? 'retry-at-once' : 'done';
      }
      logger.warn(
        { err: errorMessage(error) },
        this.leading ? 'could not renew the leader lease' : 'could not acquire the leader lease',
      );
      return 'done';
    }
  }

  /**
   * The terms that make this replica the holder, keeping the history when it already was: its
   * acquireTime stays, and a new holder counts one more transition. (The write stamps renewTime, and
   * acquireTime when none is kept.)
   */
  private heldTerms(previous: Lease['spec']): LeaseTerms {
    const renewing = previous?.holderIdentity === this.options.identity;
    const transitions = previous?.leaseTransitions ?? 0;
    return {
      holderIdentity: this.options.identity,
      // The API field is whole seconds; rounding up keeps standbys waiting at least as long.
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: renewing ? previous?.acquireTime : undefined,
      leaseTransitions: previous && !renewing ? transitions + 1 : transitions,
    };
  }

  /** Restarts the expiry clock whenever the Lease changes, and reports a new holder. */
  private observe(lease: Lease): void {
    if (lease.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) {
      this.lease = lease;
      this.observedAt = performance.now();
    }
    const holder = lease.spec?.holderIdentity;
    if (holder && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.options.logger.info({ leader: holder }, 'new leader observed');
      try {
        this.callbacks?.onNewLeader?.(holder);
      } catch (error) {
        this.options.logger.error({ err: errorMessage(error) }, 'onNewLeader failed');
      }
    }
  }

  /** Our write went through: lead (if not already) until renewals fail for the renew deadline. */
  private acquired(lease: Lease, startedAt: number): void {
    this.observe(lease);
    clearTimeout(this.renewDeadline);
    const remainingMs = startedAt + this.renewDeadlineMs - performance.now();
    // A write that took longer than the deadline proves nothing about now: standbys may be taking over.
    if (remainingMs <= 0) {
      this.stopLeading(`renewing the lease took over ${this.renewDeadlineMs / 1000}s`);
      return;
    }
    // A timer rather than a check after each attempt: a request that hangs must not extend the term.
    this.renewDeadline = setTimeout(
      () => this.stopLeading(`could not renew the lease for ${this.renewDeadlineMs / 1000}s`),
      remainingMs,
    );
    if (!this.leading) this.startLeading();
  }

  private startLeading(): void {
    this.leading = true;
    this.options.leaderGauge?.set(1);
    this.options.logger.info({ identity: this.options.identity }, 'started leading');
    const term = new AbortController();
    this.term = term;
    this.work = (async () => {
      try {
        await this.callbacks?.onStartedLeading(term.signal);
      } catch (error) {
        this.options.logger.error({ err: errorMessage(error) }, 'onStartedLeading failed');
      }
    })();
  }

  private stopLeading(reason: string, { notify } = { notify: true }): void {
    if (!this.leading) return;
    this.leading = false;
    clearTimeout(this.renewDeadline);
    this.options.leaderGauge?.set(0);
    const log = notify ? this.options.logger.warn : this.options.logger.info;
    log.call(this.options.logger, { identity: this.options.identity, reason }, 'stopped leading');
    this.term?.abort(new Error(`stopped leading: ${reason}`));
    if (!notify) return;
    try {
      this.callbacks?.onStoppedLeading();
    } catch (error) {
      this.options.logger.error({ err: errorMessage(error) }, 'onStoppedLeading failed');
    }
  }

  /** Empties the holder so a standby takes over on its next attempt instead of waiting for expiry. */
  private async release(): Promise<void> {
    const lease = this.lease;
    if (!lease || lease.spec?.holderIdentity !== this.options.identity) return;
    try {
      this.lease = await this.leases.update(
        lease,
        { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: lease.spec?.leaseTransitions ?? 0 },
        { timeoutMs: this.renewDeadlineMs },
      );
      this.options.logger.info('released the leader lease');
    } catch (error) {
      // A conflict means another replica already wrote the Lease: there is nothing left to release.
      if (!isConflict(error))
        this.options.logger.warn({ err: errorMessage(error) }, 'could not release the leader lease');
    }
  }
}
