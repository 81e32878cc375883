import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A health check: `true` when healthy, otherwise `false` or the reason it is not. */
export type HealthCheck = () => boolean | string;

export interface HttpServerOptions {
  /** `host:port` (`[::1]:8080`, `:8080` for every interface); port 0 picks a free one. */
  address: string;
  registry: Registry;
  checks: { healthz: HealthCheck; readyz: HealthCheck };
}

export interface RunningHttpServer {
  port: number;
  close(): Promise<void>;
}

/** Splits `host:port`; an empty host means every interface. */
export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const colon = address.lastIndexOf(':');
  const portText = address.slice(colon + 1);
  const port = Number(portText);
  if (colon < 0 || !/^\d+$/.test(portText) || port > 65535)
    throw new Error(`invalid listen address "${address}": expected host:port`);
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host: host || undefined, port };
}

/** The status and body a check answers with. */
function checkResult(check: HealthCheck): { status: number; body: string } {
  try {
    const result = check();
    if (result === true) return { status: 200, body: 'ok' };
    return { status: 503, body: typeof result === 'string' && result ? result : 'check failed' };
  } catch (error) {
    return { status: 500, body: error instanceof Error ? error.message : String(error) };
  }
}

function reply(
  response: http.ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
) {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/**
 * The operator's HTTP endpoints: /healthz (liveness), /readyz (readiness) and /metrics (Prometheus).
 * Probes read plain text: "ok" with 200, or the failing reason with 503 (500 when the check threw).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { host, port } = parseListenAddress(options.address);
  const checks = new Map<string, HealthCheck>([
    ['/healthz', options.checks.healthz],
    ['/readyz', options.checks.readyz],
  ]);

  const server = http.createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const known = path === '/metrics' || checks.has(path);
    if (!known) return reply(response, 404, 'not found');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return reply(response, 405, 'method not allowed');
    }
    const check = checks.get(path);
    if (check) {
      const { status, body } = checkResult(check);
      return reply(response, status, body);
    }
    options.registry.metrics().then(
      (text) => reply(response, 200, text, options.registry.contentType),
      (error: unknown) => reply(response, 500, `collecting metrics failed: ${String(error)}`),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Scrapers keep connections alive; they must not hold the shutdown up.
        server.closeAllConnections();
      }),
  };
}
