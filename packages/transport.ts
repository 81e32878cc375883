import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import got, { RequestError, TimeoutError, type Got } from 'got';
import { PackageError } from './errors.js';
import { isInsecureHost, type RegistryConfig } from './registry-config.js';

/** The https or (for hosts listed as insecure) http base of a registry host. */
export function baseUrlFor(config: RegistryConfig, host: string): string {
  return `${isInsecureHost(config, host) ? 'http' : 'https'}://${host}`;
}

/** Plain http goes only to hosts the agent's settings list as insecure. */
export function assertTransportAllowed(config: RegistryConfig, url: URL): void {
  if (url.protocol === 'https:') return;
  if (url.protocol !== 'http:') {
    throw new PackageError('InvalidReference', `${url.href}: only http and https are supported`);
  }
  if (!isInsecureHost(config, url.host)) {
    throw new PackageError(
      'InsecureRegistry',
      `${url.href}: plain http to ${url.host} is refused; list "${url.host}" among the agent's insecure registries to allow it`,
    );
  }
}

/**
 * A bearer challenge's realm comes from the registry, so it is only as trustworthy as the connection
 * to the registry: when that is plain http (a host listed as insecure) its realm may be plain http
 * too; otherwise the realm's own host must be listed to be reached over plain http.
 */
export function assertRealmAllowed(config: RegistryConfig, registryHost: string, realm: URL): void {
  if (realm.protocol === 'http:' && isInsecureHost(config, registryHost)) return;
  assertTransportAllowed(config, realm);
}

/**
 * A got instance for registries and package servers: no automatic retries (the agent's pod sync
 * retries with backoff), HTTP errors returned rather than thrown (callers map them to reasons),
 * timeouts on connecting and on an idle socket but none on the whole transfer, and redirects that
 * may not downgrade to plain http (got already drops Authorization on cross-host redirects).
 */
export function createHttpClient(config: RegistryConfig, userAgent = 'seer-agent'): Got {
  return got.extend({
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: true,
    timeout: { lookup: 10_000, connect: 10_000, secureConnect: 10_000, socket: 60_000, response: 60_000 },
    headers: { 'user-agent': userAgent },
    hooks: {
      beforeRedirect: [
        (options) => {
          const target = options.url instanceof URL ? options.url : new URL(String(options.url));
          assertTransportAllowed(config, target);
        },
      ],
    },
  });
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
]);

const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Turns a transport failure into a PackageError that says what could not be reached and why. */
export function transportError(error: unknown, what: string, signal?: AbortSignal): PackageError {
  if (error instanceof PackageError) return error;
  if (signal?.aborted) return new PackageError('Aborted', `${what}: aborted`, { cause: error });
  const cause =
    error instanceof RequestError && error.cause instanceof PackageError ? error.cause : undefined;
  if (cause) return cause;
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof TimeoutError) {
    return new PackageError('RegistryUnavailable', `${what}: timed out (${message})`, { cause: error });
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(message)) {
    return new PackageError(
      'InsecureRegistry',
      `${what}: the server does not speak https (plain http?); Seer uses plain http only for registries listed as insecure`,
      { cause: error },
    );
  }
  if (CERTIFICATE_CODES.has(code)) {
    return new PackageError(
      'RegistryUnavailable',
      `${what}: the server's TLS certificate is not trusted (${code}); add its CA with NODE_EXTRA_CA_CERTS`,
      { cause: error },
    );
  }
  if (CONNECTION_CODES.has(code) || code.startsWith('ERR_SSL') || code === 'EPROTO') {
    return new PackageError('RegistryUnavailable', `${what}: cannot reach the server (${code}: ${message})`, {
      cause: error,
    });
  }
  return new PackageError('RegistryUnavailable', `${what}: ${message}`, { cause: error });
}

/** Maps an unexpected HTTP status to a reason; `detail` is the registry's own error text if any. */
export function statusError(status: number, what: string, detail = ''): PackageError {
  const suffix = detail ? `: ${detail}` : '';
  if (status === 404) return new PackageError('PackageNotFound', `${what}: not found (HTTP 404)${suffix}`);
  if (status === 401)
    return new PackageError('Unauthorized', `${what}: authentication required (HTTP 401)${suffix}`);
  if (status === 403) return new PackageError('Unauthorized', `${what}: access denied (HTTP 403)${suffix}`);
  if (status === 429 || status >= 500) {
    return new PackageError('RegistryUnavailable', `${what}: server error (HTTP ${status})${suffix}`);
  }
  return new PackageError('RegistryError', `${what}: unexpected HTTP ${status}${suffix}`);
}

/** The `errors` of a distribution-API error body, as one line. */
export function registryErrorDetail(body: Buffer | string | undefined): string {
  if (!body || body.length === 0) return '';
  const text = body.toString().slice(0, 4096);
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(parsed.errors)) {
      return parsed.errors.map((e) => [e.code, e.message].filter(Boolean).join(' ')).join('; ');
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

export interface StreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  stream: Readable;
}

/** Reads at most `limit` bytes of a body; more than that is an error (a registry is not trusted). */
export async function readCapped(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) {
      stream.destroy();
      throw new PackageError('PackageRejected', `${what}: the response is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function errorDetail(response: StreamResponse): Promise<string> {
  try {
    return registryErrorDetail(await readCapped(response.stream, 64 * 1024, 'error body'));
  } catch {
    return '';
  } finally {
    response.stream.destroy();
  }
}

/**
 * Starts a GET and resolves once the response headers are in, whatever the status; the body is left
 * unread for the caller. `decompress: false`, so a Content-Encoding never changes the bytes whose
 * digest is checked.
 */
export function openStream(
  http: Got,
  url: string,
  requestHeaders: Record<string, string | undefined>,
  signal?: AbortSignal,
): Promise<StreamResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(requestHeaders)) if (value !== undefined) headers[key] = value;
    const stream = http.stream(url, { headers, decompress: false, signal });
    // Kept after the response arrives: a later error then rejects nothing, instead of going unhandled.
    stream.on('error', reject);
    stream.once('response', (response: { statusCode: number; headers: IncomingHttpHeaders }) =>
      resolve({ statusCode: response.statusCode, headers: response.headers, stream }),
    );
  });
}
