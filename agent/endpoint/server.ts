import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import type { SeerClient } from '../../kube/seer-client.js';
import type { HostLayout } from '../pods/layout.js';
import { Authenticator, Refusal, type UserInfo } from './auth.js';
import { followLogs } from './follow.js';
import { BadQuery, hasPreviousRun, parseLogQuery, writeLogs } from './logs.js';
import type { ServingCertificate } from './serving-certificate.js';

export interface EndpointOptions {
  address: string;
  port: number;
  certificate: ServingCertificate;
  /** The cluster's CA: client certificates it signed authenticate their subject. */
  clientCa?: Buffer;
  authenticator: Authenticator;
  client: SeerClient;
  nodeName: string;
  layout: HostLayout;
  logger: Logger;
}

const NAME = '[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?';
const LOGS_PATH = new RegExp(`^/pods/(${NAME})/(${NAME})/containers/(${NAME})/logs$`);

/** The agent's HTTPS endpoint, as kubelet's: pod logs for those the API server lets read them. */
export class Endpoint {
  private readonly server: https.Server;

  constructor(private readonly options: EndpointOptions) {
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
      const match = LOGS_PATH.exec(url.pathname);
      if (!match) throw new Refusal(404, `no such path: ${url.pathname}`);
      if (request.method !== 'GET')
        throw new Refusal(405, `${request.method ?? ''} is not allowed here; use GET`);
      const [, namespace = '', name = '', container = ''] = match;
      await this.options.authenticator.authorize(user, {
        namespace,
        name,
        verb: 'get',
        group: 'seer.io',
        resource: 'seerpods',
        subresource: 'log',
      });
      const query = parseLogQuery(url.searchParams);
      const pod = await this.boundPod(namespace, name);
      if (!pod.spec.containers.some((c) => c.name === container))
        throw new Refusal(404, `pod ${namespace}/${name} has no container ${JSON.stringify(container)}`);
      const logDir = this.options.layout.logDir(name);
      if (query.previous && !(await hasPreviousRun(logDir, container)))
        throw new Refusal(404, `container ${container} of pod ${namespace}/${name} has no previous run`);
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      if (query.follow && !query.previous) {
        // The previous run's log is complete: following it is reading it.
        const gone = new AbortController();
        response.once('close', () => gone.abort());
        await followLogs(response, logDir, container, query, gone.signal);
      } else await writeLogs(response, logDir, container, query);
      response.end();
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

  /** The pod from the API server, refused unless it is bound to this node. */
  private async boundPod(namespace: string, name: string): Promise<SeerPod> {
    let pod: SeerPod;
    try {
      pod = await this.options.client.get('SeerPod', name, namespace);
    } catch (error) {
      if (isNotFound(error)) throw new Refusal(404, `pod ${namespace}/${name} not found`);
      throw error;
    }
    if (pod.spec.node_name !== this.options.nodeName)
      throw new Refusal(
        404,
        `pod ${namespace}/${name} is not bound to node ${this.options.nodeName}` +
          (pod.spec.node_name ? ` (it is on ${pod.spec.node_name})` : ''),
      );
    return pod;
  }
}
