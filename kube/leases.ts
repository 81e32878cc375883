import { isNotFound } from './errors.js';
import { Informer } from './informer.js';
import { MERGE_PATCH, type RestClient } from './rest.js';
import { microTime } from './time.js';

export const LEASE_API_VERSION = 'coordination.k8s.io/v1';

/** A coordination.k8s.io/v1 Lease's spec; the times are MicroTime (RFC 3339 with microseconds). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion?: typeof LEASE_API_VERSION;
  kind?: 'Lease';
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * What a write sets. The write itself stamps the times: renewTime is always now, and acquireTime is
 * now unless the terms keep an earlier one.
 */
export type LeaseTerms = Omit<LeaseSpec, 'renewTime'>;

export interface LeaseRequestOptions {
  /** Give up on the request after this long. */
  timeoutMs?: number;
}

export function leasesPath(namespace: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
}

export function leasePath(namespace: string, name: string): string {
  return `${leasesPath(namespace)}/${encodeURIComponent(name)}`;
}

function stamped(terms: LeaseTerms, now = microTime()): LeaseSpec {
  return { ...terms, acquireTime: terms.acquireTime ?? now, renewTime: now };
}

/**
 * The Leases of one namespace: read, create, update (optimistic concurrency by resourceVersion) and
 * renew — the writes a node heartbeat and a leader election make. Only `request` is used, so tests
 * can stand in a fake API server.
 */
export class LeaseClient {
  constructor(
    private readonly rest: Pick<RestClient, 'request'>,
    readonly namespace: string,
  ) {}

  /** The Lease, or undefined when it does not exist. */
  async get(name: string, options: LeaseRequestOptions = {}): Promise<Lease | undefined> {
    try {
      return await this.rest.request<Lease>('GET', leasePath(this.namespace, name), options);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Creates the Lease with these terms. Fails with 409 when it exists already, and with 404 when its
   * namespace does not.
   */
  create(name: string, terms: LeaseTerms, options: LeaseRequestOptions = {}): Promise<Lease> {
    return this.rest.request<Lease>('POST', leasesPath(this.namespace), {
      ...options,
      body: {
        apiVersion: LEASE_API_VERSION,
        kind: 'Lease',
        metadata: { name, namespace: this.namespace },
        spec: stamped(terms),
      } satisfies Lease,
    });
  }

  /**
   * Replaces the Lease's spec by these terms; fails with 409 when the Lease changed since `lease`
   * (its resourceVersion) was read.
   */
  update(lease: Lease, terms: LeaseTerms, options: LeaseRequestOptions = {}): Promise<Lease> {
    return this.rest.request<Lease>('PUT', leasePath(this.namespace, lease.metadata.name ?? ''), {
      ...options,
      body: { ...lease, spec: stamped(terms) },
    });
  }

  /**
   * A heartbeat: sets the holder, the duration and renewTime by a merge patch, whatever else the
   * Lease holds; creates the Lease (acquired now) when there is none.
   */
  async renew(
    name: string,
    terms: { holderIdentity: string; leaseDurationSeconds: number },
    options: LeaseRequestOptions = {},
  ): Promise<Lease> {
    const now = microTime();
    try {
      return await this.rest.request<Lease>('PATCH', leasePath(this.namespace, name), {
        ...options,
        body: { spec: { ...terms, renewTime: now } },
        contentType: MERGE_PATCH,
      });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return await this.create(name, terms, options);
    }
  }
}

/** A cache of the namespace's Leases, kept current by list + watch. */
export function leaseInformer(
  rest: RestClient,
  namespace: string,
  options: { onError?: (error: unknown) => void } = {},
): Informer<Lease> {
  return new Informer<Lease>({ client: rest, path: leasesPath(namespace), onError: options.onError });
}
