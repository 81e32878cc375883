import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../../kube/errors.js';
import { Refusal, type UserInfo } from './auth.js';
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
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://endpoint');
    let user: UserInfo | undefined;
    try {
      user = await this.options.authenticator.authenticate(request);
      refuseDotSegments((request.url ?? '/').split('?')[0] ?? '/');
      const matching = this.routes.filter((route) => route.path.test(url.pathname));
      if (matching.length === 0) throw new Refusal(404, `no such path: ${url.pathname}`);
      const route = matching.find((r) => r.method === request.method);
      if (!route)
        throw new Refusal(
          405,
          `${request.method ?? ''} is not allowed here; use ${matching.map((r) => r.method).join(' or ')}`,
        );
      const params = route.path.exec(url.pathname)?.slice(1) ?? [];
      await route.handle({ request, response, url, user, params });
    } catch (error) {
      const status = error instanceof Refusal ? error.status : error instanceof BadQuery ? 400 : 500;
      const message = errorMessage(error);
      if (status >= 500)
        this.options.logger.warn({ err: message, path: url.pathname }, 'endpoint request failed');
      else this.options.logger.debug({ status, user: user?.username, path: url.pathname }, message);
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
}
