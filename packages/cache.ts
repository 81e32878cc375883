import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Got } from 'got';
import type { Logger } from 'pino';
import { BlobStore, type StoredBlob, type WriteOptions } from './blob-store.js';
import { PackageError } from './errors.js';
import type { Descriptor, OciClient } from './oci.js';
import {
  checkDigest,
  formatReference,
  parsePackageReference,
  type FileReference,
  type HttpReference,
  type OciReference,
  type PackageReference,
} from './reference.js';
import type { RegistryConfig } from './registry-config.js';
import { SingleFlight } from './single-flight.js';

/** The network side: got, the OCI client, transport and auth helpers, loaded on the first remote fetch. */
interface Remote {
  transport: typeof import('./transport.js');
  auth: typeof import('./registry-auth.js');
  http: Got;
  oci: OciClient;
  RequestError: typeof import('got').RequestError;
}

/** A verified package in the cache. */
export interface CachedPackage {
  /** `sha256:<hex>` of the .tar.gz: the package digest. */
  digest: string;
  /** The verified .tar.gz, read-only by convention: unpack reads it, nothing writes it. */
  path: string;
  size: number;
}

export interface PackageCacheOptions {
  dir: string;
  registries: RegistryConfig;
  logger?: Logger;
  /** The largest package (compressed) the cache downloads. */
  maxPackageBytes?: number;
}

export const DEFAULT_MAX_PACKAGE_BYTES = 8 * 1024 ** 3;

/** How long a blob is kept after its last use, whatever the limit: see collectGarbage. */
export const DEFAULT_GC_GRACE_MS = 5 * 60_000;

export interface GarbageCollectionOptions {
  /** Collect only when the blobs take more than this many bytes, and only down to it; 0 disables. */
  limitBytes: number;
  /** Digests of the packages this host's pods use: never removed. */
  inUse: Iterable<string>;
  /** Blobs used (fetched or stored) this recently are never removed. */
  graceMs?: number;
}

export interface GarbageCollectionResult {
  /** Digests removed, least recently used first. */
  removed: string[];
  freedBytes: number;
  /** What the blobs take afterwards: still over the limit when the rest is in use or recent. */
  remainingBytes: number;
}

/**
 * The host's content-addressed package cache (`${dir}/blobs/sha256/<hex>`). A package is downloaded
 * once per digest: a fetch pinned to a digest that is cached touches no network, and concurrent
 * fetches of the same digest, or of the same reference while its digest is unknown, share one
 * download. Every file in the cache was verified before it was renamed into place.
 *
 * file:// packages are copied into the cache as well rather than hashed where they are: the copy is
 * hashed while it is written, so the bytes unpacked are exactly the bytes verified, even if the
 * original file changes or disappears afterwards.
 *
 * A reference without a digest (an http URL, an OCI tag) is looked up again on every fetch, since
 * what it names can change; only an OCI blob already cached is not downloaded again.
 *
 * Nothing leaves the cache on its own: collectGarbage removes the least recently used blobs that no
 * pod uses when the cache is over its size limit (as kubelet's image garbage collection does).
 */
export class PackageCache {
  private readonly store: BlobStore;
  private remote: Promise<Remote> | undefined;
  private readonly flights = new SingleFlight<CachedPackage>();
  private readonly maxBytes: number;
  private prepared: Promise<void> | undefined;
  private collecting: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: PackageCacheOptions) {
    this.store = new BlobStore(options.dir);
    this.maxBytes = options.maxPackageBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
  }

  /**
   * got and the OCI client cost about 20 MB of memory once loaded: an agent that only runs cached or
   * file:// packages never loads them.
   */
  private loadRemote(): Promise<Remote> {
    this.remote ??= (async () => {
      const [transport, auth, { OciClient: Client }, { RequestError }] = await Promise.all([
        import('./transport.js'),
        import('./registry-auth.js'),
        import('./oci.js'),
        import('got'),
      ]);
      const http = transport.createHttpClient(this.options.registries);
      const oci = new Client({ registries: this.options.registries, logger: this.options.logger, http });
      return { transport, auth, http, oci, RequestError };
    })();
    return this.remote;
  }

  /**
   * Returns the verified package for `reference`, downloading it if needed. `digest` pins the
   * package digest (the pod's package_digest); content with another digest is refused with
   * DigestMismatch. Throws PackageError.
   */
  async fetch(
    reference: string,
    options: { digest?: string; signal?: AbortSignal } = {},
  ): Promise<CachedPackage> {
    const { digest: pin, signal } = options;
    const ref = parsePackageReference(reference);
    if (pin !== undefined) checkDigest(reference, pin);
    try {
      signal?.throwIfAborted();
      await this.prepare();
      if (pin !== undefined) {
        const cached = await this.store.use(pin);
        if (cached) {
          this.options.logger?.debug({ reference, digest: pin }, 'package already cached');
          return cached;
        }
      }
      // Digests and references cannot collide as keys: a reference key has a prefix.
      const key = pin ?? `reference ${formatReference(ref)}`;
      return await this.flights.run(
        key,
        (flightSignal) => this.download(ref, reference, pin, flightSignal),
        signal,
      );
    } catch (error) {
      if (signal?.aborted) {
        throw new PackageError('Aborted', `${reference}: the fetch was aborted`, { cause: error });
      }
      if (error instanceof PackageError) throw error;
      throw new PackageError('CacheFailed', `${reference}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * When the blobs take more than `limitBytes`, removes blobs not in `inUse` and not used within
   * `graceMs`, least recently used first, until they fit. The grace period protects a package fetched
   * for a pod that has not recorded it yet. Collections run one after another, never at once.
   */
  /** How many packages the cache holds and the bytes they take. */
  async usage(): Promise<{ packages: number; bytes: number }> {
    const blobs = await this.store.list();
    return { packages: blobs.length, bytes: blobs.reduce((sum, blob) => sum + blob.size, 0) };
  }

  collectGarbage(options: GarbageCollectionOptions): Promise<GarbageCollectionResult> {
    const run = this.collecting.then(() => this.collectNow(options));
    this.collecting = run.catch(() => undefined);
    return run;
  }

  private async collectNow(options: GarbageCollectionOptions): Promise<GarbageCollectionResult> {
    const { limitBytes, graceMs = DEFAULT_GC_GRACE_MS } = options;
    const blobs = await this.store.list();
    const result: GarbageCollectionResult = {
      removed: [],
      freedBytes: 0,
      remainingBytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
    };
    if (limitBytes <= 0 || result.remainingBytes <= limitBytes) return result;
    const inUse = new Set(options.inUse);
    const unusedSince = Date.now() - graceMs;
    const candidates = blobs
      .filter((blob) => !inUse.has(blob.digest) && blob.lastUsedMs < unusedSince)
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    for (const blob of candidates) {
      if (result.remainingBytes <= limitBytes) break;
      // 0: a fetch used it since it was listed (it stays), or it is gone already.
      const freed = await this.store.remove(blob.digest, unusedSince);
      if (freed === 0) continue;
      result.removed.push(blob.digest);
      result.freedBytes += freed;
      result.remainingBytes -= freed;
      this.options.logger?.debug(
        { digest: blob.digest, size: freed, last_used: new Date(blob.lastUsedMs).toISOString() },
        'removed an unused package from the cache',
      );
    }
    return result;
  }

  private prepare(): Promise<void> {
    this.prepared ??= this.store.prepare().catch((error: unknown) => {
      this.prepared = undefined;
      throw error;
    });
    return this.prepared;
  }

  private async download(
    ref: PackageReference,
    text: string,
    pin: string | undefined,
    signal: AbortSignal,
  ): Promise<CachedPackage> {
    const started = Date.now();
    const stored =
      ref.kind === 'file'
        ? await this.copyFile(ref, text, pin, signal)
        : ref.kind === 'http'
          ? await this.downloadUrl(ref, text, pin, signal)
          : await this.pullOci(ref, text, pin, signal);
    this.options.logger?.info(
      { reference: text, digest: stored.digest, size: stored.size, ms: Date.now() - started },
      'package ready in the cache',
    );
    return stored;
  }

  private async copyFile(ref: FileReference, text: string, pin: string | undefined, signal: AbortSignal) {
    let size: number;
    try {
      const info = await stat(ref.path);
      if (!info.isFile()) throw new PackageError('PackageRejected', `${text}: not a regular file`);
      size = info.size;
    } catch (error) {
      if (error instanceof PackageError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new PackageError(
        'PackageNotFound',
        `${text}: cannot read ${ref.path} (${code ?? String(error)})`,
      );
    }
    this.refuseOversize(text, size);
    const source = createReadStream(ref.path, { highWaterMark: 1024 * 1024 });
    return this.store.write(source, { describe: text, expectedDigest: pin, maxBytes: this.maxBytes, signal });
  }

  private async downloadUrl(ref: HttpReference, text: string, pin: string | undefined, signal: AbortSignal) {
    const { transport, auth, http } = await this.loadRemote();
    const url = new URL(ref.url);
    transport.assertTransportAllowed(this.options.registries, url);
    const authorization = auth.configuredAuthorization(this.options.registries, url.host);
    let response;
    try {
      response = await transport.openStream(http, url.href, { authorization }, signal);
    } catch (error) {
      throw transport.transportError(error, text, signal);
    }
    if (response.statusCode !== 200)
      throw transport.statusError(response.statusCode, text, await transport.errorDetail(response));
    const announced = Number(response.headers['content-length'] ?? Number.NaN);
    if (Number.isFinite(announced)) {
      try {
        this.refuseOversize(text, announced);
      } catch (error) {
        response.stream.destroy();
        throw error;
      }
    }
    return this.storeFrom(response.stream, {
      describe: text,
      expectedDigest: pin,
      maxBytes: this.maxBytes,
      signal,
    });
  }

  private async pullOci(ref: OciReference, text: string, pin: string | undefined, signal: AbortSignal) {
    const { oci } = await this.loadRemote();
    const { manifestDigest, layer } = await oci.resolvePackage(ref, signal);
    if (pin !== undefined && layer.digest !== pin) {
      throw new PackageError(
        'DigestMismatch',
        `${text}: digest mismatch: expected ${pin}, got ${layer.digest} (the package layer of manifest ` +
          `${manifestDigest}; package_digest pins the layer digest that "seer package push" prints)`,
      );
    }
    this.refuseOversize(text, layer.size);
    const cached = await this.store.use(layer.digest);
    if (cached) return cached;
    const pull = (blobSignal: AbortSignal) => this.pullBlob(ref, text, layer, blobSignal);
    // A pinned fetch already runs as the flight for this digest; an unpinned one joins (or starts)
    // that flight now that it knows the digest, so two tags of one package download it once.
    return pin !== undefined ? pull(signal) : this.flights.run(layer.digest, pull, signal);
  }

  private async pullBlob(ref: OciReference, text: string, layer: Descriptor, signal: AbortSignal) {
    const { oci } = await this.loadRemote();
    const response = await oci.openBlob(ref, layer.digest, signal);
    return this.storeFrom(response.stream, {
      describe: text,
      expectedDigest: layer.digest,
      expectedSize: layer.size,
      maxBytes: this.maxBytes,
      signal,
    });
  }

  private async storeFrom(stream: Readable, options: WriteOptions): Promise<StoredBlob> {
    try {
      return await this.store.write(stream, options);
    } catch (error) {
      if (error instanceof PackageError) throw error;
      // A connection lost mid-body surfaces as got's RequestError; anything else is the local disk.
      const remote = this.remote && (await this.remote);
      if (remote && error instanceof remote.RequestError) {
        throw remote.transport.transportError(error, options.describe, options.signal);
      }
      throw error;
    } finally {
      stream.destroy();
    }
  }

  private refuseOversize(text: string, size: number): void {
    if (size > this.maxBytes) {
      throw new PackageError(
        'PackageTooLarge',
        `${text}: the package is ${size} bytes, more than the ${this.maxBytes} bytes this agent accepts`,
      );
    }
  }
}
