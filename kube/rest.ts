import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import yaml from 'js-yaml';

/**
 * A small Kubernetes REST client: kubeconfig (or in-cluster) credentials, JSON requests, and watch
 * streams. The agent runs on every host and must stay small; @kubernetes/client-node loads its whole
 * generated API (about 85 MB resident), which the few calls the agent makes do not need.
 */

export interface Connection {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  insecureSkipTlsVerify?: boolean;
}

/** A failed request: `code` is the HTTP status, `body` the API server's Status (as client-node's errors). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
  ) {
    const message = (body as { message?: string } | undefined)?.message;
    super(message ? `${code}: ${message}` : `HTTP ${code}`);
  }
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: { name: string; cluster: Record<string, string | boolean | undefined> }[];
  users?: { name: string; user: Record<string, string | undefined> }[];
}

/** A file a kubeconfig names, read relative to the kubeconfig's directory; or refused. */
type ReadReferenced = (file: string) => Buffer;

function fileOrData(read: ReadReferenced, file: unknown, data: unknown): Buffer | undefined {
  if (typeof data === 'string') return Buffer.from(data, 'base64');
  if (typeof file === 'string') return read(file);
  return undefined;
}

/** The connection a kubeconfig's current context describes; `source` names it in errors. */
function parseKubeconfig(text: string, source: string, read: ReadReferenced): Connection {
  const config = yaml.load(text) as KubeconfigFile | undefined;
  if (!config || typeof config !== 'object') throw new Error(`${source}: not a kubeconfig`);
  const contextName = config['current-context'];
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`${source}: no current context`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  if (!cluster || typeof cluster.server !== 'string')
    throw new Error(`${source}: cluster ${context.cluster} has no server`);
  const tokenFile = user.tokenFile ?? user['token-file'];
  return {
    server: cluster.server,
    ca: fileOrData(read, cluster['certificate-authority'], cluster['certificate-authority-data']),
    cert: fileOrData(read, user['client-certificate'], user['client-certificate-data']),
    key: fileOrData(read, user['client-key'], user['client-key-data']),
    token: user.token ?? (tokenFile ? read(tokenFile).toString('utf8').trim() : undefined),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
}

/** The connection a kubeconfig file's current context describes. */
export function connectionFromKubeconfig(file: string): Connection {
  const base = path.dirname(file);
  return parseKubeconfig(readFileSync(file, 'utf8'), file, (name) => readFileSync(path.resolve(base, name)));
}

/**
 * The connection of a kubeconfig kept as text (in a Secret): its certificates and token must be
 * embedded, since a file it names is not there to read.
 */
export function connectionFromKubeconfigText(text: string, source: string): Connection {
  return parseKubeconfig(text, source, (name) => {
    throw new Error(`${source}: refers to the file ${name}; embed it (the …-data fields, or token)`);
  });
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's own service account, as in-cluster clients use it. */
export function inClusterConnection(): Connection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST is not set); pass --kubeconfig');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(path.join(SERVICE_ACCOUNT_DIR, 'ca.crt')),
    token: readFileSync(path.join(SERVICE_ACCOUNT_DIR, 'token'), 'utf8').trim(),
  };
}

/** The content type of a JSON merge patch (RFC 7386), the patch Seer sends everywhere. */
export const MERGE_PATCH = 'application/merge-patch+json';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Defaults to application/json; patches name their kind (e.g. application/merge-patch+json). */
  contentType?: string;
  timeoutMs?: number;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class RestClient {
  private readonly agent: http.Agent;

  constructor(readonly connection: Connection) {
    const secure = connection.server.startsWith('https:');
    this.agent = secure
      ? new https.Agent({
          keepAlive: true,
          ca: connection.ca,
          cert: connection.cert,
          key: connection.key,
          rejectUnauthorized: !connection.insecureSkipTlsVerify,
        })
      : new http.Agent({ keepAlive: true });
  }

  static fromKubeconfig(file?: string): RestClient {
    return new RestClient(file ? connectionFromKubeconfig(file) : inClusterConnection());
  }

  private url(apiPath: string, query: Query = {}): URL {
    const url = new URL(apiPath, this.connection.server);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    return url;
  }

  private send(method: string, url: URL, headers: http.OutgoingHttpHeaders, timeoutMs?: number) {
    const transport = url.protocol === 'https:' ? https : http;
    if (this.connection.token) headers.authorization = `Bearer ${this.connection.token}`;
    return transport.request(url, { method, agent: this.agent, headers, timeout: timeoutMs });
  }

  /** One JSON request; resolves with the decoded response, rejects with ApiError on a non-2xx status. */
  request<T>(method: string, apiPath: string, options: RequestOptions = {}): Promise<T> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    return new Promise<T>((resolve, reject) => {
      const request = this.send(
        method,
        this.url(apiPath, options.query),
        headers,
        options.timeoutMs ?? 30_000,
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${apiPath}: timed out`)));
      request.on('error', reject);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let decoded: unknown = text;
          try {
            decoded = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(decoded as T);
          else reject(new ApiError(status, decoded));
        });
      });
      request.end(body);
    });
  }

  /**
   * Streams watch events until the server ends the watch, `signal` aborts it, or it fails. Resolves
   * when the stream ends normally; rejects with ApiError (e.g. 410 Gone) or a network error.
   */
  watch<T>(
    apiPath: string,
    query: Query,
    onEvent: (event: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const request = this.send('GET', this.url(apiPath, { ...query, watch: true }), {
        accept: 'application/json',
      });
      const abort = () => request.destroy();
      signal?.addEventListener('abort', abort, { once: true });
      const finish = (error?: unknown) => {
        signal?.removeEventListener('abort', abort);
        if (error && !signal?.aborted) reject(error);
        else resolve();
      };
      request.on('error', finish);
      request.on('response', (response) => {
        if (response.statusCode !== 200) {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            let body: unknown;
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              body = undefined;
            }
            finish(new ApiError(response.statusCode ?? 0, body));
          });
          return;
        }
        const lines = readline.createInterface({ input: response, crlfDelay: Infinity });
        lines.on('line', (line) => {
          if (!line.trim()) return;
          try {
            onEvent(JSON.parse(line) as WatchEvent<T>);
          } catch {
            // a partial line from a broken stream: the watch is restarted anyway
          }
        });
        response.on('error', finish);
        lines.on('error', finish);
        lines.on('close', () => finish());
      });
      request.end();
    });
  }

  /** Stops keeping idle connections (lets a process exit promptly). */
  close(): void {
    this.agent.destroy();
  }
}
