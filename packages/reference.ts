import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PackageError } from './errors.js';

/** An artifact in an OCI distribution registry: `registry/repository[:tag][@sha256:…]`. */
export interface OciReference {
  kind: 'oci';
  /** `host` or `host:port`, exactly as written (also the key of the registry settings). */
  registry: string;
  repository: string;
  tag?: string;
  /** The manifest digest when the reference pins one. */
  digest?: string;
}

export interface HttpReference {
  kind: 'http';
  url: string;
}

export interface FileReference {
  kind: 'file';
  path: string;
}

export type PackageReference = OciReference | HttpReference | FileReference;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const HOST = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::([0-9]{1,5}))?$`);
// The distribution project's grammar for one path component of a repository name.
const REPOSITORY_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

function invalid(ref: string, why: string): PackageError {
  return new PackageError('InvalidReference', `invalid package reference "${ref}": ${why}`);
}

export function isSha256Digest(value: string): boolean {
  return DIGEST.test(value);
}

/** Checks a digest written by a person (a pin or an `@…` suffix) and says what is wrong with it. */
export function checkDigest(ref: string, digest: string): void {
  if (DIGEST.test(digest)) return;
  const algorithm = digest.includes(':') ? digest.slice(0, digest.indexOf(':')) : '';
  if (algorithm && algorithm !== 'sha256') {
    throw invalid(ref, `only sha256 digests are supported, not ${algorithm}`);
  }
  throw invalid(ref, `digest "${digest}" is not sha256: followed by 64 lowercase hex digits`);
}

/**
 * Parses a package reference from a pod spec or the command line. There is no default registry:
 * `nginx:1.9` could mean any registry, so a reference must start with its registry host.
 */
export function parsePackageReference(ref: string): PackageReference {
  if (ref.length === 0) throw invalid(ref, 'it is empty');
  if (/\s/.test(ref)) throw invalid(ref, 'it contains whitespace');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(ref)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return parseHttp(ref);
  if (scheme === 'file' || /^file:/i.test(ref)) return parseFile(ref);
  if (scheme !== undefined) {
    throw invalid(
      ref,
      `unsupported scheme ${scheme}:// (use http://, https://, file:/// or registry/repository:tag)`,
    );
  }
  return parseOci(ref);
}

function parseHttp(ref: string): HttpReference {
  let url: URL;
  try {
    url = new URL(ref);
  } catch {
    throw invalid(ref, 'it is not a valid URL');
  }
  if (!url.hostname) throw invalid(ref, 'the URL has no host');
  if (url.username || url.password) {
    throw invalid(
      ref,
      "credentials do not belong in the reference; put them in the agent's credentials file",
    );
  }
  return { kind: 'http', url: url.href };
}

function parseFile(ref: string): FileReference {
  let url: URL;
  try {
    url = new URL(ref);
  } catch {
    throw invalid(ref, 'it is not a valid file URL');
  }
  if (!ref.toLowerCase().startsWith('file:///') || (url.hostname !== '' && url.hostname !== 'localhost')) {
    throw invalid(ref, 'file references name a local absolute path: file:///abs/path/package.tar.gz');
  }
  let filePath: string;
  try {
    filePath = fileURLToPath(url);
  } catch (error) {
    throw invalid(ref, (error as Error).message);
  }
  if (filePath.endsWith('/')) throw invalid(ref, 'it names a directory, not a package file');
  return { kind: 'file', path: path.normalize(filePath) };
}

function parseOci(ref: string): OciReference {
  const at = ref.indexOf('@');
  const name = at === -1 ? ref : ref.slice(0, at);
  const digest = at === -1 ? undefined : ref.slice(at + 1);
  if (digest !== undefined) checkDigest(ref, digest);

  const slash = name.indexOf('/');
  const host = slash === -1 ? '' : name.slice(0, slash);
  const looksLikeHost =
    host.includes('.') || host.includes(':') || host === 'localhost' || host.startsWith('[');
  if (!looksLikeHost) {
    throw invalid(
      ref,
      'it has no registry host; Seer has no default registry, so write the registry first, ' +
        'e.g. registry.example.com/team/nginx:v1.9',
    );
  }
  const hostMatch = HOST.exec(host);
  const port = hostMatch?.[1];
  if (!hostMatch || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    throw invalid(ref, `"${host}" is not a valid registry host[:port]`);
  }

  let repository = name.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(':');
  if (colon !== -1) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(
        ref,
        `tag "${tag}" must be 1-128 letters, digits, '_', '.' or '-' and not start with '.' or '-'`,
      );
    }
  }
  if (repository === '') throw invalid(ref, 'the repository name is missing');
  for (const component of repository.split('/')) {
    if (REPOSITORY_COMPONENT.test(component)) continue;
    if (REPOSITORY_COMPONENT.test(component.toLowerCase())) {
      throw invalid(ref, `repository names must be lowercase ("${repository}")`);
    }
    throw invalid(
      ref,
      `"${component}" in repository "${repository}" must be lowercase letters and digits separated by '.', '_', '__' or '-'`,
    );
  }
  if (host.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw invalid(ref, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }

  const parsed: OciReference = { kind: 'oci', registry: host, repository };
  // docker's one unambiguous default: no tag and no digest means the tag "latest".
  if (tag !== undefined || digest === undefined) parsed.tag = tag ?? 'latest';
  if (digest !== undefined) parsed.digest = digest;
  return parsed;
}

/** The reference written back as a string, for messages. */
export function formatReference(ref: PackageReference): string {
  switch (ref.kind) {
    case 'http':
      return ref.url;
    case 'file':
      return `file://${ref.path}`;
    case 'oci':
      return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
  }
}
