import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { RequestError, type Got } from 'got';
import type { Logger } from 'pino';
import { BlobStore, type StoredBlob, type WriteOptions } from './blob-store.js';
import { PackageError } from './errors.js';
import { OciClient, type Descriptor } from './oci.js';
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
import {
  assertTransportAllowed,
  configuredAuthorization,
  createHttpClient,
  errorDetail,
  openStream,
  statusError,
  transportError,
} from './transport.js';

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
 */
export class PackageCache {
  private readonly store: BlobStore;
  private readonly http: Got;
  private readonly oci: OciClient;
  private readonly flights = new SingleFlight<CachedPackage>();
  private readonly maxBytes: number;
  private prepared: Promise<void> | undefined;

  constructor(private readonly options: PackageCacheOptions) {
    this.store = new BlobStore(options.dir);
    this.http = createHttpClient(options.registries);
    this.oci = new OciClient({ registries: options.registries, logger: options.logger, http: this.http });
    this.maxBytes = options.maxPackageBytes ?? DEFAULT_MAX_PACKAGE_BYTES;
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
        const cached = await this.store.get(pin);
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
    const url = new URL(ref.url);
    assertTransportAllowed(this.options.registries, url);
    const authorization = configuredAuthorization(this.options.registries, url.host);
    let response;
    try {
      response = await openStream(this.http, url.href, { authorization }, signal);
    } catch (error) {
      throw transportError(error, text, signal);
    }
    if (response.statusCode !== 200)
      throw statusError(response.statusCode, text, await errorDetail(response));
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
    const { manifestDigest, layer } = await this.oci.resolvePackage(ref, signal);
    if (pin !== undefined && layer.digest !== pin) {
      throw new PackageError(
        'DigestMismatch',
        `${text}: digest mismatch: expected ${pin}, got ${layer.digest} (the package layer of manifest ` +
          `${manifestDigest}; package_digest pins the layer digest that "seer package push" prints)`,
      );
    }
    this.refuseOversize(text, layer.size);
    const cached = await this.store.get(layer.digest);
    if (cached) return cached;
    const pull = (blobSignal: AbortSignal) => this.pullBlob(ref, text, layer, blobSignal);
    // A pinned fetch already runs as the flight for this digest; an unpinned one joins (or starts)
    // that flight now that it knows the digest, so two tags of one package download it once.
    return pin !== undefined ? pull(signal) : this.flights.run(layer.digest, pull, signal);
  }

  private async pullBlob(ref: OciReference, text: string, layer: Descriptor, signal: AbortSignal) {
    const response = await this.oci.openBlob(ref, layer.digest, signal);
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
      if (error instanceof RequestError) {
        throw transportError(error, options.describe, options.signal);
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
