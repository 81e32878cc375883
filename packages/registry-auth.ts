import type { IncomingHttpHeaders } from 'node:http';
import type { Got } from 'got';
import type { Logger } from 'pino';
import { PackageError } from './errors.js';
import type { OciReference } from './reference.js';
import { credentialsFor, type RegistryConfig, type RegistryCredential } from './registry-config.js';
import {
  assertRealmAllowed,
  errorDetail,
  openStream,
  readCapped,
  statusError,
  transportError,
  type StreamResponse,
} from './transport.js';

const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
// The distribution token spec's default lifetime when the server does not say.
const DEFAULT_TOKEN_SECONDS = 60;
// Renew a little early so a token never expires between the check and the request.
const TOKEN_RENEWAL_MARGIN_SECONDS = 10;

/** What a client does with a repository; a token is asked for and cached per repository and access. */
export type Access = 'pull' | 'pull,push';

export interface Challenge {
  /** Lower case: `basic`, `bearer`. */
  scheme: string;
  /** Parameter names in lower case, values unquoted. */
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!match?.[1]) return undefined;
  const params: Record<string, string> = {};
  const pattern = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const param of (match[2] ?? '').matchAll(pattern)) {
    const key = param[1]?.toLowerCase();
    if (key) params[key] = (param[2] ?? param[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: match[1].toLowerCase(), params };
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/**
 * The Authorization header for a host's configured credentials, if it has any, sent without waiting
 * for a challenge (package servers reached by https URL do not send one).
 */
export function configuredAuthorization(config: RegistryConfig, host: string): string | undefined {
  const credential = credentialsFor(config, host);
  if (!credential) return undefined;
  if ('token' in credential) return `Bearer ${credential.token}`;
  return basicAuthorization(credential.username, credential.password);
}

/** An Authorization header and when it stops being good (never, for basic credentials). */
interface Authorization {
  header: string;
  expiresAt: number;
}

/** Why a response that is still 401 or 403 after the challenge was answered is refused. */
function refusalReason(status: number, registry: string, configured: boolean): string {
  if (status === 403) return 'access denied (HTTP 403)';
  return configured
    ? `the registry refused the credentials configured for ${registry} (HTTP 401)`
    : `the registry requires credentials and none are configured for ${registry} (HTTP 401)`;
}

/** The token of a token server's JSON answer (`token`, or OAuth2's `access_token`) and its lifetime. */
export function parseTokenResponse(body: Buffer, what: string): { token: string; seconds: number } {
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    throw new PackageError('Unauthorized', `${what} answered with something that is not JSON`);
  }
  const token = typeof parsed.token === 'string' ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new PackageError('Unauthorized', `${what} answered without a token`);
  }
  const seconds =
    typeof parsed.expires_in === 'number' && parsed.expires_in > 0
      ? parsed.expires_in
      : DEFAULT_TOKEN_SECONDS;
  return { token, seconds };
}

function discard(response: { statusCode: number }): void {
  const stream = (response as Partial<StreamResponse>).stream;
  stream?.destroy();
}

/**
 * Registry authentication for the OCI client. Requests go out with the authorization cached for
 * their repository and access, or with none; a 401 is answered once: Basic with the configured
 * username and password; Bearer with the configured token as it is, or else with a token from the
 * challenge's realm, asked for with the configured username and password or anonymously. Answers
 * are cached per registry, repository and access, bearer tokens until they expire.
 */
export class RegistryAuth {
  private readonly authorizations = new Map<string, Authorization>();
  private readonly now: () => number;

  constructor(
    private readonly options: {
      registries: RegistryConfig;
      /** The client token requests go out with. */
      http: Got;
      logger?: Logger;
      /** The clock token lifetimes are measured with. */
      now?: () => number;
    },
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Sends `request` with the cached authorization for its scope; on a 401 answers the challenge once
   * and sends it again. A 401 after that, or a 403, is Unauthorized. Transport failures become
   * PackageErrors naming `what`.
   */
  async send<R extends { statusCode: number; headers: IncomingHttpHeaders }>(
    ref: OciReference,
    access: Access,
    what: string,
    signal: AbortSignal | undefined,
    request: (authorization: string | undefined) => Promise<R>,
  ): Promise<R> {
    const key = scopeKey(ref, access);
    const attempt = async (authorization: string | undefined) => {
      try {
        return await request(authorization);
      } catch (error) {
        throw transportError(error, what, signal);
      }
    };
    let response = await attempt(this.cached(key));
    if (response.statusCode === 401) {
      discard(response);
      const answer = await this.answerChallenge(
        ref,
        access,
        response.headers['www-authenticate'],
        what,
        signal,
      );
      this.authorizations.set(key, answer);
      response = await attempt(answer.header);
    }
    if (response.statusCode === 401 || response.statusCode === 403) {
      discard(response);
      this.authorizations.delete(key);
      const configured = credentialsFor(this.options.registries, ref.registry) !== undefined;
      throw new PackageError(
        'Unauthorized',
        `${what}: ${refusalReason(response.statusCode, ref.registry, configured)}`,
      );
    }
    return response;
  }

  private cached(key: string): string | undefined {
    const cached = this.authorizations.get(key);
    return cached && cached.expiresAt > this.now() ? cached.header : undefined;
  }

  private async answerChallenge(
    ref: OciReference,
    access: Access,
    header: string | undefined,
    what: string,
    signal?: AbortSignal,
  ): Promise<Authorization> {
    const challenge = parseChallenge(header);
    const credential = credentialsFor(this.options.registries, ref.registry);
    if (challenge?.scheme === 'basic') return answerBasic(ref, credential, what);
    if (challenge?.scheme !== 'bearer') {
      throw new PackageError('Unauthorized', `${what}: the registry answered 401 without a usable challenge`);
    }
    if (credential && 'token' in credential) {
      return { header: `Bearer ${credential.token}`, expiresAt: Number.POSITIVE_INFINITY };
    }
    return this.fetchToken(ref, access, challenge, credential, what, signal);
  }

  /** The token exchange: a GET on the challenge's realm, with the configured username and password if any. */
  private async fetchToken(
    ref: OciReference,
    access: Access,
    challenge: Challenge,
    credential: { username: string; password: string } | undefined,
    what: string,
    signal?: AbortSignal,
  ): Promise<Authorization> {
    const { url, scope } = tokenRequestUrl(this.options.registries, ref, access, challenge, what);
    const authorization = credential
      ? basicAuthorization(credential.username, credential.password)
      : undefined;
    const tokenWhat = `${what}: token server ${url.origin}`;
    let response: StreamResponse;
    try {
      response = await openStream(this.options.http, url.href, { authorization }, signal);
    } catch (error) {
      throw transportError(error, tokenWhat, signal);
    }
    if (response.statusCode === 401 || response.statusCode === 403) {
      discard(response);
      throw new PackageError(
        'Unauthorized',
        `${tokenWhat} refused ${credential ? `the credentials configured for ${ref.registry}` : 'anonymous access'} (HTTP ${response.statusCode})`,
      );
    }
    if (response.statusCode !== 200)
      throw statusError(response.statusCode, tokenWhat, await errorDetail(response));
    const body = await readCapped(response.stream, MAX_TOKEN_RESPONSE_BYTES, tokenWhat);
    const { token, seconds } = parseTokenResponse(body, tokenWhat);
    this.options.logger?.debug({ registry: ref.registry, scope, seconds }, 'registry token obtained');
    const lifetime = Math.max(seconds - TOKEN_RENEWAL_MARGIN_SECONDS, 1) * 1000;
    return { header: `Bearer ${token}`, expiresAt: this.now() + lifetime };
  }
}

function scopeKey(ref: OciReference, access: Access): string {
  return `${ref.registry.toLowerCase()}/${ref.repository} ${access}`;
}

function answerBasic(
  ref: OciReference,
  credential: RegistryCredential | undefined,
  what: string,
): Authorization {
  if (!credential || !('username' in credential)) {
    throw new PackageError(
      'Unauthorized',
      `${what}: the registry asks for a username and password and none are configured for ${ref.registry}`,
    );
  }
  return {
    header: basicAuthorization(credential.username, credential.password),
    expiresAt: Number.POSITIVE_INFINITY,
  };
}

/**
 * The token request for a bearer challenge: its realm (refused unless the transport to it is
 * allowed), its service, and as scopes everything this client will do with the repository (a push
 * first meets a pull-only challenge on its HEAD) plus whatever else the challenge names.
 */
export function tokenRequestUrl(
  registries: RegistryConfig,
  ref: OciReference,
  access: Access,
  challenge: Challenge,
  what: string,
): { url: URL; scope: string } {
  let url: URL;
  try {
    url = new URL(challenge.params.realm ?? '');
  } catch {
    throw new PackageError('Unauthorized', `${what}: the registry's bearer challenge has no valid realm`);
  }
  assertRealmAllowed(registries, ref.registry, url);
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  const wanted = `repository:${ref.repository}:${access}`;
  const scopes = new Set([wanted, ...(challenge.params.scope ?? '').split(' ').filter(Boolean)]);
  for (const one of scopes) url.searchParams.append('scope', one);
  return { url, scope: [...scopes].join(' ') };
}
