import { readFile } from 'node:fs/promises';
import { SEER_API_VERSION, SEER_NAMESPACE } from '../../api/names.js';
import type { SeerCluster } from '../../api/types.js';
import type { SeerClient } from '../../kube/seer-client.js';
import type { TestCluster } from './control-plane.js';

/** Writes (or replaces) a Secret in seer-system of the hub with `data` as its plain-text values. */
export async function putSecret(hub: TestCluster, name: string, data: Record<string, string>): Promise<void> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: SEER_NAMESPACE },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
  await hub.kubectlOk(['apply', '-f', '-'], JSON.stringify(secret));
}

export function seerCluster(name: string, secret: string, meta: Record<string, string> = {}): SeerCluster {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerCluster',
    metadata: { name },
    spec: { kubeconfig_secret: { name: secret }, meta },
  };
}

/** Makes `member` a member of the hub: its kubeconfig in a Secret, and a SeerCluster naming it. */
export async function addMember(
  hub: TestCluster,
  hubClient: SeerClient,
  name: string,
  member: TestCluster,
  meta: Record<string, string> = {},
): Promise<void> {
  await putSecret(hub, `${name}-kubeconfig`, { kubeconfig: await readFile(member.kubeconfig, 'utf8') });
  await hubClient.create('SeerCluster', seerCluster(name, `${name}-kubeconfig`, meta));
}

/** seer-operator flags for a hub-only replica that checks its members every second. */
export const HUB_ONLY_ARGS = [
  '--enable-hub=true',
  '--enable-member=false',
  '--lease-duration',
  '3',
  '--cluster-check-interval',
  '1',
  '--cluster-check-timeout',
  '2',
];
