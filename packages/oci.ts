import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Got } from 'got';
import type { Logger } from 'pino';
import { PackageError } from './errors.js';
import { formatReference, isSha256Digest, type OciReference } from './reference.js';
import { RegistryAuth } from './registry-auth.js';
import type { RegistryConfig } from './registry-config.js';
import {
  baseUrlFor,
  createHttpClient,
  errorDetail,
  openStream,
  readCapped,
  registryErrorDetail,
  statusError,
  transportError,
  type StreamResponse,
} from './transport.js';

export const SEER_ARTIFACT_TYPE = 'application/vnd.seer.package.v1';
export const SEER_LAYER_MEDIA_TYPE = 'application/vnd.seer.package.layer.v1.tar+gzip';
export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
/** The OCI "empty" config blob: the two bytes `{}`. */
export const OCI_EMPTY_BLOB = Buffer.from('{}');

// A package pushed by another tool as a one-layer gzip'd tar is accepted too.
const PACKAGE_LAYER_MEDIA_TYPES = new Set([
  SEER_LAYER_MEDIA_TYPE,
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);
const MANIFEST_ACCEPT = `${OCI_MANIFEST_MEDIA_TYPE}, ${OCI_INDEX_MEDIA_TYPE}`;
// Registries must accept manifests of at least 4 MiB; nothing a package needs comes close.
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ResolvedPackage {
  /** The digest of the image manifest the reference resolved to. */
  manifestDigest: string;
  /** The package tarball; its digest is the package digest. */
  layer: Descriptor;
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Seer's OCI artifact: an image manifest with `artifactType: application/vnd.seer.package.v1`, the
 * empty config (`application/vnd.oci.empty.v1+json`, the 2-byte `{}` blob) and one layer
 * `application/vnd.seer.package.layer.v1.tar+gzip`, the package tarball. distribution 2.8.2 (Debian's
 * docker-registry) accepts this as it is: it checks that the config and layer blobs exist but not
 * their media types, and it stores and serves the manifest bytes unchanged, so `artifactType`
 * survives although 2.8.2 itself does not know the field (it predates OCI 1.1 and its referrers API).
 */
export function packageManifest(layer: Descriptor, annotations?: Record<string, string>): Buffer {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    artifactType: SEER_ARTIFACT_TYPE,
    config: {
      mediaType: OCI_EMPTY_MEDIA_TYPE,
      digest: sha256Digest(OCI_EMPTY_BLOB),
      size: OCI_EMPTY_BLOB.length,
    },
    layers: [{ mediaType: SEER_LAYER_MEDIA_TYPE, digest: layer.digest, size: layer.size }],
  };
  if (annotations && Object.keys(annotations).length > 0) manifest.annotations = annotations;
  return Buffer.from(JSON.stringify(manifest));
}

/**
 * A client of the OCI distribution API for Seer packages: resolves references to the package layer,
 * streams blobs, pushes blobs and manifests. Every request goes through RegistryAuth, which answers
 * the registry's 401 challenges.
 */
export class OciClient {
  private readonly http: Got;
  private readonly auth: RegistryAuth;

  constructor(
    private readonly options: { registries: RegistryConfig; logger?: Logger; http?: Got; userAgent?: string },
  ) {
    this.http = options.http ?? createHttpClient(options.registries, options.userAgent);
    this.auth = new RegistryAuth({ registries: options.registries, http: this.http, logger: options.logger });
  }

  private url(ref: OciReference, path: string): string {
    return `${baseUrlFor(this.options.registries, ref.registry)}/v2/${ref.repository}/${path}`;
  }

  /** Resolves a reference (through an index if the registry returns one) to the package layer. */
  async resolvePackage(ref: OciReference, signal?: AbortSignal): Promise<ResolvedPackage> {
    const what = formatReference(ref);
    let resolved = await this.fetchManifest(ref, ref.digest ?? ref.tag ?? 'latest', signal);
    if (resolved.mediaType === OCI_INDEX_MEDIA_TYPE) {
      const chosen = chooseFromIndex(resolved.document, what);
      resolved = await this.fetchManifest(ref, chosen.digest, signal);
      if (resolved.mediaType === OCI_INDEX_MEDIA_TYPE) {
        throw new PackageError(
          'PackageRejected',
          `${what}: the index points to another index, not to a package`,
        );
      }
    }
    if (resolved.mediaType !== OCI_MANIFEST_MEDIA_TYPE) {
      throw new PackageError(
        'PackageRejected',
        `${what}: not a Seer package (manifest media type ${resolved.mediaType || 'missing'})`,
      );
    }
    return { manifestDigest: resolved.digest, layer: packageLayer(resolved.document, what) };
  }

  /** Fetches a manifest by tag or digest and checks its digest when it was asked for by digest. */
  async fetchManifest(
    ref: OciReference,
    tagOrDigest: string,
    signal?: AbortSignal,
  ): Promise<{ digest: string; mediaType: string; bytes: Buffer; document: Record<string, unknown> }> {
    const what = `${ref.registry}/${ref.repository}${isSha256Digest(tagOrDigest) ? '@' : ':'}${tagOrDigest}`;
    const response = await this.auth.send(ref, 'pull', what, signal, (authorization) =>
      openStream(
        this.http,
        this.url(ref, `manifests/${tagOrDigest}`),
        { accept: MANIFEST_ACCEPT, authorization },
        signal,
      ),
    );
    if (response.statusCode !== 200) {
      throw statusError(response.statusCode, `${what}: manifest`, await errorDetail(response));
    }
    const bytes = await readCapped(response.stream, MAX_MANIFEST_BYTES, `${what}: manifest`).catch(
      (error) => {
        throw transportError(error, `${what}: manifest`, signal);
      },
    );
    const digest = sha256Digest(bytes);
    if (isSha256Digest(tagOrDigest) && digest !== tagOrDigest) {
      throw new PackageError(
        'DigestMismatch',
        `${what}: the registry returned a manifest whose digest is ${digest}, expected ${tagOrDigest}`,
      );
    }
    let document: unknown;
    try {
      document = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new PackageError('PackageRejected', `${what}: the manifest is not valid JSON`);
    }
    if (typeof document !== 'object' || document === null || Array.isArray(document)) {
      throw new PackageError('PackageRejected', `${what}: the manifest is not a JSON object`);
    }
    const record = document as Record<string, unknown>;
    const contentType =
      String(response.headers['content-type'] ?? '')
        .split(';')[0]
        ?.trim() ?? '';
    const mediaType = typeof record.mediaType === 'string' ? record.mediaType : contentType;
    return { digest, mediaType, bytes, document: record };
  }

  /** Opens a blob for streaming; the caller verifies its digest while reading it. */
  async openBlob(ref: OciReference, digest: string, signal?: AbortSignal): Promise<StreamResponse> {
    const what = `${ref.registry}/${ref.repository}@${digest}`;
    const response = await this.auth.send(ref, 'pull', what, signal, (authorization) =>
      openStream(this.http, this.url(ref, `blobs/${digest}`), { authorization }, signal),
    );
    if (response.statusCode !== 200) {
      throw statusError(response.statusCode, `${what}: blob`, await errorDetail(response));
    }
    return response;
  }

  async hasBlob(ref: OciReference, digest: string, signal?: AbortSignal): Promise<boolean> {
    const what = `${ref.registry}/${ref.repository}@${digest}`;
    const response = await this.auth.send(ref, 'pull,push', what, signal, (authorization) =>
      this.http.head(this.url(ref, `blobs/${digest}`), { headers: headers({ authorization }), signal }),
    );
    if (response.statusCode === 200) return true;
    if (response.statusCode === 404) return false;
    throw statusError(response.statusCode, `${what}: blob`);
  }

  /**
   * Uploads a blob unless the repository has it already: POST to open an upload, then one PUT with
   * the whole content (the monolithic upload every distribution registry supports).
   */
  async pushBlob(
    ref: OciReference,
    blob: { digest: string; size: number; open(): Readable | Buffer },
    options: { onProgress?(sent: number): void; signal?: AbortSignal } = {},
  ): Promise<'uploaded' | 'exists'> {
    const { signal } = options;
    const what = `${ref.registry}/${ref.repository}@${blob.digest}`;
    if (await this.hasBlob(ref, blob.digest, signal)) {
      options.onProgress?.(blob.size);
      return 'exists';
    }
    const started = await this.auth.send(ref, 'pull,push', what, signal, (authorization) =>
      this.http.post(this.url(ref, 'blobs/uploads/'), {
        headers: headers({ authorization, 'content-length': '0' }),
        responseType: 'buffer',
        signal,
      }),
    );
    if (started.statusCode !== 202 || !started.headers.location) {
      throw statusError(
        started.statusCode,
        `${what}: starting the upload`,
        registryErrorDetail(started.body),
      );
    }
    const uploadUrl = new URL(started.headers.location, this.url(ref, ''));
    uploadUrl.searchParams.set('digest', blob.digest);
    const finished = await this.auth.send(ref, 'pull,push', what, signal, (authorization) => {
      // A fresh body for each attempt: a stream cannot be sent twice.
      const request = this.http.put(uploadUrl, {
        body: blob.open(),
        headers: headers({
          authorization,
          'content-type': 'application/octet-stream',
          'content-length': String(blob.size),
        }),
        responseType: 'buffer',
        signal,
      });
      request.on('uploadProgress', (progress) => options.onProgress?.(progress.transferred));
      return request;
    });
    if (finished.statusCode !== 201) {
      throw statusError(finished.statusCode, `${what}: uploading`, registryErrorDetail(finished.body));
    }
    return 'uploaded';
  }

  /** Puts a manifest under a tag and checks the registry stored the bytes it was given. */
  async pushManifest(ref: OciReference, tag: string, bytes: Buffer, mediaType: string, signal?: AbortSignal) {
    const what = `${ref.registry}/${ref.repository}:${tag}`;
    const digest = sha256Digest(bytes);
    const response = await this.auth.send(ref, 'pull,push', what, signal, (authorization) =>
      this.http.put(this.url(ref, `manifests/${tag}`), {
        body: bytes,
        headers: headers({ authorization, 'content-type': mediaType }),
        responseType: 'buffer',
        signal,
      }),
    );
    if (response.statusCode !== 201) {
      throw statusError(
        response.statusCode,
        `${what}: pushing the manifest`,
        registryErrorDetail(response.body),
      );
    }
    const stored = response.headers['docker-content-digest'];
    if (typeof stored === 'string' && stored !== digest) {
      throw new PackageError(
        'RegistryError',
        `${what}: the registry stored the manifest as ${stored}, not ${digest}`,
      );
    }
    return digest;
  }
}

function headers(values: Record<string, string | undefined>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) result[key] = value;
  return result;
}

function chooseFromIndex(index: Record<string, unknown>, what: string): Descriptor {
  const manifests = Array.isArray(index.manifests) ? (index.manifests as Descriptor[]) : [];
  const candidates = manifests.filter(
    (m) =>
      typeof m === 'object' &&
      m !== null &&
      m.mediaType === OCI_MANIFEST_MEDIA_TYPE &&
      isSha256Digest(m.digest),
  );
  const seer = candidates.filter((m) => m.artifactType === SEER_ARTIFACT_TYPE);
  const chosen = seer.length === 1 ? seer[0] : candidates.length === 1 ? candidates[0] : undefined;
  if (!chosen) {
    throw new PackageError(
      'PackageRejected',
      `${what}: the reference is an index of ${manifests.length} manifests and none is marked as the Seer package`,
    );
  }
  return chosen;
}

function packageLayer(manifest: Record<string, unknown>, what: string): Descriptor {
  if (manifest.schemaVersion !== 2) {
    throw new PackageError(
      'PackageRejected',
      `${what}: unsupported manifest schemaVersion ${String(manifest.schemaVersion)}`,
    );
  }
  if (manifest.artifactType !== undefined && manifest.artifactType !== SEER_ARTIFACT_TYPE) {
    throw new PackageError(
      'PackageRejected',
      `${what}: artifact type ${String(manifest.artifactType)} is not a Seer package`,
    );
  }
  const layers = Array.isArray(manifest.layers) ? (manifest.layers as unknown[]) : [];
  if (layers.length !== 1) {
    throw new PackageError(
      'PackageRejected',
      `${what}: a Seer package has exactly one layer, this manifest has ${layers.length}`,
    );
  }
  const layer = layers[0] as Partial<Descriptor> | null;
  if (typeof layer !== 'object' || layer === null || typeof layer.mediaType !== 'string') {
    throw new PackageError('PackageRejected', `${what}: the layer descriptor has no media type`);
  }
  if (!PACKAGE_LAYER_MEDIA_TYPES.has(layer.mediaType)) {
    throw new PackageError(
      'PackageRejected',
      `${what}: layer media type ${layer.mediaType} is not a gzip'd tar package`,
    );
  }
  if (typeof layer.digest !== 'string' || !isSha256Digest(layer.digest)) {
    throw new PackageError(
      'PackageRejected',
      `${what}: the layer digest ${String(layer.digest)} is not a sha256 digest`,
    );
  }
  if (typeof layer.size !== 'number' || !Number.isSafeInteger(layer.size) || layer.size < 0) {
    throw new PackageError(
      'PackageRejected',
      `${what}: the layer size ${String(layer.size)} is not a byte count`,
    );
  }
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
}
