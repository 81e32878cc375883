import https from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../kube/errors.js';
import { Refusal, type UserInfo } from './auth.js';
import { execRoute } from './exec-route.js';
import { execStreamRoute } from './exec-stream.js';
import { BadQuery } from './logs.js';
import { refuseDotSegments } from './log-file-path.js';
import { logFileRoute, logFilesRoute } from './log-files-route.js';
import { logsRoute } from './logs-route.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import { metricsRoute } from './metrics-route.js';
import type { EndpointContext, Route } from './routes.js';
import type { ServingCertificate } from './serving-certificate.js';

export interface EndpointOptions extends EndpointContext {
  address: string;
  port: number;
  certificate: ServingCertificate;
  /** The cluster's CA: client certificates it signed authenticate their subject. */
  clientCa?: Buffer;
  metrics: AgentMetrics;
}

/** The agent's HTTPS endpoint, as kubelet's: each route answers those the API server lets it answer. */
export class Endpoint {
  private readonly server: https.Server;
  private readonly routes: Route[];

  constructor(private readonly options: EndpointOptions) {
    this.routes = [
      logsRoute(options),
      execRoute(options),
      execStreamRoute(options),
      logFilesRoute(options),
      logFileRoute(options),
      metricsRoute(options, options.metrics),
    ];
    this.server = https.createServer(
      {
        cert: options.certificate.cert,
        key: options.certificate.key,
        ca: options.clientCa,
        // Asked for, not required: a bearer token is the other way in.
        requestCert: options.clientCa !== undefined,
        rejectUnauthorized: false,
      },
      (request, response) => void this.handle(request, response),
    );
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.handleUpgrade(request, socket, head);
    });
  }

  /** Listens; resolves with the port (the one picked when asked for port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.address, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  async close(): Promise<void> {
    for (const route of this.routes) route.close?.();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The route a request's path and method pick, or a 404 or 405 naming what there is. */
  private route(request: IncomingMessage, url: URL): { route: Route; params: string[] } {
    refuseDotSegments((request.url ?? '/').split('?')[0] ?? '/');
    const matching = this.routes.filter((route) => route.path.test(url.pathname));
    if (matching.length === 0) throw new Refusal(404, `no such path: ${url.pathname}`);
    const route = matching.find((r) => r.method === request.method);
    if (!route)
      throw new Refusal(
        405,
        `${request.method ?? ''} is not allowed here; use ${matching.map((r) => r.method).join(' or ')}`,
      );
    return { route, params: route.path.exec(url.pathname)?.slice(1) ?? [] };
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://endpoint');
    let user: UserInfo | undefined;
    try {
      user = await this.options.authenticator.authenticate(request);
      const { route, params } = this.route(request, url);
      await route.handle({ request, response, url, user, params });
    } catch (error) {
      const { status, message } = this.refusal(error, url, user);
      if (response.headersSent) {
        response.destroy();
        return;
      }
      response.writeHead(status, {
        'content-type': 'text/plain; charset=utf-8',
        ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
      });
      response.end(`${message}\n`);
    }
  }

  /**
   * A request to upgrade the connection (a WebSocket) goes through the same authentication, path
   * checks and route as any other; a refusal is a plain HTTP reply, before anything is upgraded.
   */
  private async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://endpoint');
    let user: UserInfo | undefined;
    socket.on('error', () => socket.destroy());
    try {
      user = await this.options.authenticator.authenticate(request);
      const { route, params } = this.route(request, url);
      if (!route.upgrade)
        throw new Refusal(400, `${url.pathname} cannot be upgraded to ${request.headers.upgrade ?? ''}`);
      await route.upgrade({ request, socket, head, url, user, params });
    } catch (error) {
      const { status, message } = this.refusal(error, url, user);
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const body = `${message}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
          'content-type: text/plain; charset=utf-8\r\n' +
          `content-length: ${Buffer.byteLength(body)}\r\n` +
          (status === 401 ? 'www-authenticate: Bearer\r\n' : '') +
          'connection: close\r\n\r\n' +
          body,
      );
    }
  }

  /** The status and message of a refused request, logged. */
  private refusal(error: unknown, url: URL, user: UserInfo | undefined): { status: number; message: string } {
    const status = error instanceof Refusal ? error.status : error instanceof BadQuery ? 400 : 500;
    const message = errorMessage(error);
    if (status >= 500)
      this.options.logger.warn({ err: message, path: url.pathname }, 'endpoint request failed');
    else this.options.logger.debug({ status, user: user?.username, path: url.pathname }, message);
    return { status, message };
  }
}
