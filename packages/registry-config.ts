import { readFile } from 'node:fs/promises';

/** Basic credentials, or a bearer token sent to the registry as it is. */
export type RegistryCredential = { username: string; password: string } | { token: string };

/** The agent's registry settings. Hosts are `host` or `host:port`, matched exactly (case-insensitive). */
export interface RegistryConfig {
  /** Hosts that may be reached over plain http; every other host is https only. */
  insecure: string[];
  credentials: Record<string, RegistryCredential>;
}

export function isInsecureHost(config: RegistryConfig, host: string): boolean {
  const wanted = host.toLowerCase();
  return config.insecure.some((entry) => entry.toLowerCase() === wanted);
}

export function credentialsFor(config: RegistryConfig, host: string): RegistryCredential | undefined {
  const wanted = host.toLowerCase();
  for (const [key, credential] of Object.entries(config.credentials)) {
    if (key.toLowerCase() === wanted) return credential;
  }
  return undefined;
}

/** docker config.json keys may be URLs (`https://index.docker.io/v1/`); the settings use the host. */
function hostOfKey(key: string): string {
  const withoutScheme = key.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, '');
  return withoutScheme.split('/')[0] ?? '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads credentials from a docker-style config.json:
 * `{"auths": {"host:port": {"auth": base64("user:pass")} | {"username", "password"} | {"identitytoken"} |
 * {"registrytoken"}}}`. Entries with nothing usable (docker writes `{}` when a credential helper holds
 * the secret) are skipped: Seer does not run credential helpers.
 */
export async function loadRegistryCredentials(file: string): Promise<Record<string, RegistryCredential>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read registry credentials ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseRegistryCredentials(text, file);
}

export function parseRegistryCredentials(text: string, source: string): Record<string, RegistryCredential> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`registry credentials ${source} are not valid JSON: ${(error as Error).message}`);
  }
  if (!isRecord(document)) throw new Error(`registry credentials ${source} must be a JSON object`);
  const auths = document.auths ?? {};
  if (!isRecord(auths)) throw new Error(`registry credentials ${source}: "auths" must be an object`);

  const credentials: Record<string, RegistryCredential> = {};
  for (const [key, entry] of Object.entries(auths)) {
    const where = `registry credentials ${source}, auths["${key}"]`;
    const host = hostOfKey(key);
    if (!host) throw new Error(`${where}: the key names no registry host`);
    if (!isRecord(entry)) throw new Error(`${where} must be an object`);
    const credential = credentialOf(entry, where);
    if (credential) credentials[host] = credential;
  }
  return credentials;
}

function credentialOf(entry: Record<string, unknown>, where: string): RegistryCredential | undefined {
  for (const field of ['auth', 'username', 'password', 'identitytoken', 'registrytoken']) {
    if (entry[field] !== undefined && typeof entry[field] !== 'string') {
      throw new Error(`${where}: "${field}" must be a string`);
    }
  }
  const { auth, username, password, identitytoken, registrytoken } = entry as Record<
    string,
    string | undefined
  >;
  if (auth) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(auth) || colon <= 0) {
      throw new Error(`${where}: "auth" must be base64 of "username:password"`);
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (username || password) {
    if (!username || password === undefined) {
      throw new Error(`${where}: "username" and "password" go together`);
    }
    return { username, password };
  }
  // docker's identitytoken is an OAuth2 refresh token. Seer sends it as a bearer token like a
  // registrytoken and does not do the refresh-token exchange, so registries that require that
  // exchange need username/password entries instead.
  const token = registrytoken || identitytoken;
  return token ? { token } : undefined;
}
