import { createHash } from 'node:crypto';
import type http from 'node:http';
import { startHttpServer, type TestServer } from './http-fixture.js';

export type FakeAuth =
  | { scheme: 'basic'; user: string; password: string }
  /** Tokens from /token on the same server; with user/password set, anonymous token requests get 401. */
  | { scheme: 'bearer'; user?: string; password?: string }
  /** A fixed token the client must send as it is. */
  | { scheme: 'static-bearer'; token: string };

export interface FakeRegistry extends TestServer {
  putBlob(repository: string, data: Buffer | string): string;
  putManifest(repository: string, tag: string, manifest: object | Buffer, mediaType?: string): string;
  /** Serve other bytes under an existing digest (a registry that lies, or a corrupted store). */
  serveInstead(digest: string, data: Buffer): void;
  /** Answer every request with this status (a registry in trouble). */
  failWith(status: number | undefined): void;
  tokenRequests: URLSearchParams[];
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Just enough of the distribution API (GET/HEAD manifests and blobs) to test the client against
 * registries that misbehave in ways a real one will not, and against each kind of auth challenge.
 */
export async function startFakeRegistry(auth?: FakeAuth): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { body: Buffer; mediaType: string }>();
  const replacements = new Map<string, Buffer>();
  const issued = new Set<string>();
  const tokenRequests: URLSearchParams[] = [];
  let failure: number | undefined;
  let host = '';

  const authorized = (request: http.IncomingMessage): boolean => {
    const header = request.headers.authorization ?? '';
    if (!auth) return true;
    if (auth.scheme === 'basic') {
      return header === `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    }
    if (auth.scheme === 'static-bearer') return header === `Bearer ${auth.token}`;
    return header.startsWith('Bearer ') && issued.has(header.slice(7));
  };

  const challenge = (repository: string): string => {
    if (auth?.scheme === 'basic') return 'Basic realm="fake"';
    return `Bearer realm="http://${host}/token",service="fake-registry",scope="repository:${repository}:pull"`;
  };

  const server = await startHttpServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://fake');
    if (failure !== undefined) {
      response.writeHead(failure).end();
      return;
    }
    if (url.pathname === '/token') {
      tokenRequests.push(url.searchParams);
      if (auth?.scheme === 'bearer' && auth.user !== undefined) {
        const expected = `Basic ${Buffer.from(`${auth.user}:${auth.password ?? ''}`).toString('base64')}`;
        if (request.headers.authorization !== expected) {
          response.writeHead(401).end();
          return;
        }
      }
      const token = `token-${issued.size + 1}`;
      issued.add(token);
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!match) {
      response.writeHead(404).end();
      return;
    }
    const [, repository = '', kind, reference = ''] = match;
    if (!authorized(request)) {
      response.writeHead(401, {
        'www-authenticate': challenge(repository),
        'content-type': 'application/json',
      });
      response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (kind === 'manifests') {
      const manifest = manifests.get(`${repository}:${reference}`);
      if (!manifest) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
        return;
      }
      const body = replacements.get(reference) ?? manifest.body;
      response.writeHead(200, { 'content-type': manifest.mediaType, 'content-length': body.length });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    const blob = blobs.get(`${repository}@${reference}`);
    if (!blob) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
      return;
    }
    const body = replacements.get(reference) ?? blob;
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  host = server.host;

  return {
    ...server,
    tokenRequests,
    putBlob(repository, data) {
      const bytes = Buffer.from(data);
      const digest = sha256(bytes);
      blobs.set(`${repository}@${digest}`, bytes);
      return digest;
    },
    putManifest(repository, tag, manifest, mediaType = 'application/vnd.oci.image.manifest.v1+json') {
      const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
      const digest = sha256(body);
      manifests.set(`${repository}:${tag}`, { body, mediaType });
      manifests.set(`${repository}:${digest}`, { body, mediaType });
      return digest;
    },
    serveInstead(digest, data) {
      replacements.set(digest, data);
    },
    failWith(status) {
      failure = status;
    },
  };
}

/** Stores `layer` as a Seer package under repository:tag and returns the digests. */
export function putPackage(
  registry: FakeRegistry,
  repository: string,
  tag: string,
  layer: Buffer,
  overrides: Record<string, unknown> = {},
): { layerDigest: string; manifestDigest: string } {
  const config = registry.putBlob(repository, '{}');
  const layerDigest = registry.putBlob(repository, layer);
  const manifestDigest = registry.putManifest(repository, tag, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.seer.package.v1',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
    layers: [
      {
        mediaType: 'application/vnd.seer.package.layer.v1.tar+gzip',
        digest: layerDigest,
        size: layer.length,
      },
    ],
    ...overrides,
  });
  return { layerDigest, manifestDigest };
}
