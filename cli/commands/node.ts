import { parseArgs } from 'node:util';
import {
  COMPONENT_LABEL,
  DAEMON_SET_LABEL,
  DEPLOYMENT_LABEL,
  NODE_NAME_FIELD,
  STATEFUL_SET_LABEL,
} from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { isNotFound } from '../../kube/errors.js';
import { SeerClient } from '../../kube/seer-client.js';
import { UsageError, type Command } from '../command.js';
import { clientFor } from '../kubeconfig.js';
import { runNodeAdd, runNodeRemove } from './node-credentials.js';
import { runNodeTargets } from './node-targets.js';
import { objectRef } from '../../kube/keys.js';

const USAGE = `usage:
  seer node add NAME [-o FILE]   create the node's credentials and print (or write) its agent's kubeconfig
                                 [--expiration-seconds N] (default one year)
  seer node remove NAME          revoke them
  seer node cordon NAME      mark the node unschedulable: no new pods are placed on it (daemon sets
                             still place theirs, as in Kubernetes)
  seer node uncordon NAME    make it schedulable again
  seer node targets          print the agents' metrics endpoints for Prometheus (file_sd)
                             [-o json|yaml] [--ca-file FILE] write the CAs that verify them
  seer node drain NAME       cordon it and delete its pods, waiting until its agent has stopped them;
                             daemon set pods stay (kubectl drain --ignore-daemonsets)
                             [--force] also delete pods no deployment, stateful set or component
                             would recreate
                             [--timeout SECONDS] (default 300)
options: --kubeconfig FILE`;

async function setUnschedulable(client: SeerClient, name: string, unschedulable: boolean): Promise<void> {
  await client.patch('SeerNode', objectRef(name), { spec: { unschedulable } });
}

/**
 * Pods a controller recreates when deleted: deployment replicas, stateful set pods (the same name
 * again, placed with their data dirs) and component instances.
 */
function managed(pod: SeerPod): boolean {
  const labels = pod.metadata.labels ?? {};
  return !!(labels[DEPLOYMENT_LABEL] || labels[STATEFUL_SET_LABEL] || labels[COMPONENT_LABEL]);
}

async function drain(
  client: SeerClient,
  name: string,
  force: boolean,
  timeoutSeconds: number,
): Promise<void> {
  await setUnschedulable(client, name, true);
  console.log(`node/${name} cordoned`);
  const listed = (await client.list('SeerPod', { fieldSelector: `${NODE_NAME_FIELD}=${name}` })).items;
  // A daemon set would put its pod straight back on the cordoned node, so it is left running.
  for (const pod of listed.filter((p) => p.metadata.labels?.[DAEMON_SET_LABEL]))
    console.log(`ignoring daemon set seerpod ${pod.metadata.namespace}/${pod.metadata.name}`);
  const items = listed.filter((p) => !p.metadata.labels?.[DAEMON_SET_LABEL]);
  const unmanaged = items.filter((p) => !managed(p));
  if (unmanaged.length > 0 && !force) {
    const names = unmanaged.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ');
    throw new Error(
      `cannot drain ${name}: these pods are not managed by a deployment or component (use --force): ${names}`,
    );
  }
  for (const pod of items) {
    try {
      await client.delete('SeerPod', pod);
      console.log(`deleting seerpod ${pod.metadata.namespace}/${pod.metadata.name}`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const left = (await client.list('SeerPod', { fieldSelector: `${NODE_NAME_FIELD}=${name}` })).items.filter(
      (p) => items.some((i) => i.metadata.uid === p.metadata.uid),
    );
    if (left.length === 0) break;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${left.length} pods to stop on ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log(`node/${name} drained`);
}

export const nodeCommand: Command = {
  name: 'node',
  summary: 'add or remove a node’s credentials; cordon, uncordon or drain a node; list metrics targets',
  async run(args) {
    const [action, name, ...rest] = args;
    if (action === 'add') return runNodeAdd(args.slice(1));
    if (action === 'remove') return runNodeRemove(args.slice(1));
    if (action === 'targets') return runNodeTargets(args.slice(1));
    const { values } = parseArgs({
      args: rest,
      options: {
        kubeconfig: { type: 'string' },
        force: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '300' },
      },
    });
    if (!name || !action) throw new UsageError(USAGE);
    const connection = clientFor(values.kubeconfig);
    const client = new SeerClient(connection);
    try {
      if (action === 'cordon' || action === 'uncordon') {
        await setUnschedulable(client, name, action === 'cordon');
        console.log(`node/${name} ${action}ed`);
      } else if (action === 'drain') {
        await drain(client, name, values.force ?? false, Number(values.timeout));
      } else {
        throw new UsageError(USAGE);
      }
    } finally {
      connection.close();
    }
  },
};
