import { everyContainer } from '../../api/pod-containers.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Container, SeerPod } from '../../api/types.js';
import { isNotFound } from '../../kube/errors.js';
import type { SeerClient } from '../../kube/seer-client.js';
import type { ContainerStatus, ProcessSpec } from '../process/index.js';
import type { HostLayout } from '../pods/layout.js';
import { Refusal, type Authenticator, type UserInfo } from './auth.js';

/** Names as the API server validates them: the only ones a path may carry. */
export const NAME = '[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?';

/** What every route may use: who asks, and the node's pods as the API server knows them. */
export interface EndpointContext {
  authenticator: Authenticator;
  client: SeerClient;
  nodeName: string;
  layout: HostLayout;
  /** Applications' own logs, <appLogRoot>/<app label>; none when unset. */
  appLogRoot?: string;
  logger: Logger;
  /** A container this host runs, by namespace, pod and name; none when the agent runs no pods yet. */
  hostContainer?: (namespace: string, pod: string, container: string) => HostContainer | undefined;
}

/** What the agent knows of a container it runs: how its processes are started, and its status. */
export interface HostContainer {
  spec: ProcessSpec;
  status: ContainerStatus;
}

/** One request, authenticated, matched to a route. */
export interface RouteRequest {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  user: UserInfo;
  /** The path's groups, as `path` captured them. */
  params: string[];
}

/** One request to upgrade the connection (a WebSocket), authenticated, matched to a route. */
export interface UpgradeRequest {
  request: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  url: URL;
  user: UserInfo;
  params: string[];
}

export interface Route {
  method: string;
  path: RegExp;
  handle(request: RouteRequest): Promise<void>;
  /** Takes over the connection of a GET asking to upgrade; refuses (throws) before it upgrades. */
  upgrade?(request: UpgradeRequest): Promise<void>;
  /** Ends what the route holds beyond its requests (upgraded connections) when the endpoint closes. */
  close?(): void;
}

/** The pod from the API server, refused unless it is bound to this node. */
export async function boundPod(context: EndpointContext, namespace: string, name: string): Promise<SeerPod> {
  let pod: SeerPod;
  try {
    pod = await context.client.get('SeerPod', name, namespace);
  } catch (error) {
    if (isNotFound(error)) throw new Refusal(404, `pod ${namespace}/${name} not found`);
    throw error;
  }
  if (pod.spec.node_name !== context.nodeName)
    throw new Refusal(
      404,
      `pod ${namespace}/${name} is not bound to node ${context.nodeName}` +
        (pod.spec.node_name ? ` (it is on ${pod.spec.node_name})` : ''),
    );
  return pod;
}

/** The pod's container of that name, or 404. */
export function podContainer(pod: SeerPod, name: string): Container {
  const container = everyContainer(pod.spec).find((c) => c.name === name);
  if (!container)
    throw new Refusal(
      404,
      `pod ${pod.metadata.namespace ?? ''}/${pod.metadata.name} has no container ${JSON.stringify(name)}`,
    );
  return container;
}

/** Asks the API server whether `user` may `verb` this pod's `subresource` (log, exec), as kubelet does. */
export function authorizePod(
  context: EndpointContext,
  user: UserInfo,
  pod: { namespace: string; name: string },
  subresource: 'log' | 'exec',
  verb = 'get',
): Promise<void> {
  return context.authenticator.authorize(user, {
    ...pod,
    verb,
    group: 'seer.io',
    resource: 'seerpods',
    subresource,
  });
}
