import { parseArgs } from 'node:util';
import { FORGOTTEN_ANNOTATION, SEER_GROUP } from '../../api/names.js';
import { isNotFound } from '../../kube/errors.js';
import { objectRef } from '../../kube/keys.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { startCluster, stopCluster } from '../control-plane/cluster.js';
import { UsageError, type Command } from '../command.js';
import { kubeconfigFile } from './rollout.js';

const USAGE = `usage:
  seer cluster up --dir DIR     start etcd and kube-apiserver on loopback; writes DIR/kubeconfig
  seer cluster down --dir DIR   stop them
  seer cluster forget NAME [--kubeconfig HUB]
      app sets being deleted stop waiting for member NAME (a SeerCluster in the hub) and go; what
      they made there is left in place`;

/** Stamps the SeerCluster: app sets deleted before now give up on that member. */
async function forget(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { kubeconfig: { type: 'string' } },
    allowPositionals: true,
  });
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new UsageError(`expected one SeerCluster NAME\n${USAGE}`);
  const rest = RestClient.fromKubeconfig(kubeconfigFile(values.kubeconfig));
  try {
    await new SeerClient(rest).patch('SeerCluster', objectRef(name), {
      metadata: { annotations: { [FORGOTTEN_ANNOTATION]: new Date().toISOString() } },
    });
  } catch (error) {
    if (isNotFound(error)) throw new Error(`seercluster "${name}" not found`);
    throw error;
  } finally {
    rest.close();
  }
  console.log(`seercluster.${SEER_GROUP}/${name} forgotten by the app sets being deleted`);
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary:
    'start or stop a local control plane (etcd + kube-apiserver) for development and tests; forget a member in the hub',
  async run(args) {
    const [action, ...rest] = args;
    if (action === 'forget') return forget(rest);
    const { values } = parseArgs({
      args: rest,
      options: { dir: { type: 'string' }, 'timeout-seconds': { type: 'string', default: '60' } },
    });
    if (!values.dir) throw new UsageError(`--dir is required\n${USAGE}`);
    if (action === 'up') {
      const started = Date.now();
      const state = await startCluster({
        dir: values.dir,
        readyTimeoutMs: Number(values['timeout-seconds']) * 1000,
      });
      console.log(`API server ready at ${state.server} in ${Date.now() - started} ms`);
      console.log(`export KUBECONFIG=${state.kubeconfig}`);
      // kubectl and helm at the versions the cluster was built with.
      console.log(`export PATH=${state.binDir}:$PATH`);
      return;
    }
    if (action === 'down') {
      const stopped = await stopCluster(values.dir);
      console.log(stopped ? `stopped the cluster in ${values.dir}` : `no cluster recorded in ${values.dir}`);
      return;
    }
    throw new UsageError(USAGE);
  },
};
