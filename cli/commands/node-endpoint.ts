import https from 'node:https';
import WebSocket from 'ws';
import type { SeerNode, SeerPod } from '../../api/types.js';
import { connectionFromKubeconfig, inClusterConnection, type Connection } from '../../kube/rest.js';
import type { SeerClient } from '../../kube/seer-client.js';
import { nodeAddress } from '../node-address.js';
import { contextNamespace, kubeconfigFile } from './rollout.js';

/**
 * The caller's own credentials (the agents check them with the API server) and namespace, from
 * --kubeconfig and -n as kubectl reads them, else the in-cluster service account.
 */
export function callerConnection(
  kubeconfigFlag: string | undefined,
  namespaceFlag: string | undefined,
): { connection: Connection; namespace: string } {
  const file = kubeconfigFile(kubeconfigFlag);
  return {
    connection: file ? connectionFromKubeconfig(file) : inClusterConnection(),
    namespace: namespaceFlag ?? contextNamespace(file) ?? 'default',
  };
}

/** Where to reach the agent of a pod's node: its address, port and the certificates to trust. */
export async function nodeEndpoint(
  client: SeerClient,
  pod: SeerPod,
): Promise<{ host: string; port: number; ca: string }> {
  const name = pod.metadata.name ?? '';
  const nodeName = pod.spec.node_name;
  if (!nodeName) throw new Error(`pod ${name} is not scheduled to a node yet`);
  const node: SeerNode = await client.get('SeerNode', nodeName);
  const endpoint = node.status?.endpoint;
  if (!endpoint)
    throw new Error(`node ${nodeName} publishes no endpoint (its agent runs with --no-endpoint or is older)`);
  const host = nodeAddress(node);
  if (!host) throw new Error(`node ${nodeName} publishes no address`);
  return { host, port: endpoint.port, ca: endpoint.ca_certificates };
}

/** GETs one container's log from its node's agent with the caller's credentials, line by line. */
export function fetchLog(
  connection: Connection,
  endpoint: { host: string; port: number; ca: string },
  urlPath: string,
  onText: (text: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      {
        host: endpoint.host,
        port: endpoint.port,
        path: urlPath,
        ca: endpoint.ca,
        cert: connection.cert,
        key: connection.key,
        headers: connection.token ? { authorization: `Bearer ${connection.token}` } : {},
      },
      (response) => {
        response.setEncoding('utf8');
        if (response.statusCode !== 200) {
          let body = '';
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => reject(new Error(`${response.statusCode ?? 0}: ${body.trim()}`)));
          return;
        }
        response.on('data', onText);
        response.on('end', () => resolve());
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

/**
 * Opens a WebSocket to the node's agent with the caller's credentials, offering `protocols`;
 * resolves once it is open, or rejects with the agent's refusal (`403: user … cannot …`).
 */
export function openNodeSocket(
  connection: Connection,
  endpoint: { host: string; port: number; ca: string },
  urlPath: string,
  protocols: string[],
): Promise<WebSocket> {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`wss://${host}:${endpoint.port}${urlPath}`, protocols, {
      ca: endpoint.ca,
      cert: connection.cert,
      key: connection.key,
      headers: connection.token ? { authorization: `Bearer ${connection.token}` } : {},
    });
    socket.once('open', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
    socket.once('unexpected-response', (request, response) => {
      socket.off('error', reject);
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        request.destroy();
        reject(new Error(`${response.statusCode ?? 0}: ${body.trim()}`));
      });
      response.on('error', reject);
    });
  });
}
