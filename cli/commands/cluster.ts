import { parseArgs } from 'node:util';
import { startCluster, stopCluster } from '../control-plane/cluster.js';
import { UsageError, type Command } from '../command.js';

const USAGE = `usage:
  seer cluster up --dir DIR     start etcd and kube-apiserver on loopback; writes DIR/kubeconfig
  seer cluster down --dir DIR   stop them`;

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'start or stop a local control plane (etcd + kube-apiserver) for development and tests',
  async run(args) {
    const [action, ...rest] = args;
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
