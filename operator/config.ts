import os from 'node:os';
import { SEER_NAMESPACE } from '../api/names.js';
import { ConfigError } from '../common/main.js';
import { parseArgs } from 'node:util';

/** How the operator is run: flags, all with defaults. */
export interface OperatorConfig {
  kubeconfig?: string;
  /** Where the leader-election Lease lives. */
  namespace: string;
  leaderElect: boolean;
  identity: string;
  leaseDurationSeconds: number;
  /** /healthz, /readyz and /metrics. */
  httpAddress: string;
  nodeGracePeriodSeconds: number;
  podEvictionTimeoutSeconds: number;
  /** Run the member controllers (pods, deployments …) on this cluster's objects. */
  enableMember: boolean;
  /** Run the hub controllers (SeerClusters), under their own Lease. */
  enableHub: boolean;
  clusterCheckIntervalSeconds: number;
  clusterCheckTimeoutSeconds: number;
  logLevel: string;
}

export { ConfigError };

export const USAGE = `usage: seer-operator [--kubeconfig FILE] [options]

options:
  --kubeconfig FILE               the meta cluster (in-cluster service account when absent)
  --namespace NS                  where the leader-election Lease lives (default ${SEER_NAMESPACE})
  --leader-elect=false            run the controllers without leader election (a single replica)
  --identity NAME                 this replica's name in the Lease (default: host name and pid)
  --lease-duration SECONDS        leader lease duration (default 15)
  --http-address HOST:PORT        /healthz, /readyz and /metrics (default 0.0.0.0:8080)
  --node-grace-period SECONDS     a node silent this long is Unknown (default 40)
  --pod-eviction-timeout SECONDS  then, after this long, its deployment pods are replaced (default 300)
  --enable-member=false           do not run the member controllers (pods, deployments, nodes …)
  --enable-hub=true               run the hub controllers (SeerClusters) under the Lease seer-hub
  --cluster-check-interval SECONDS  how often the hub checks each member cluster (default 10)
  --cluster-check-timeout SECONDS   a check taking longer makes the member Unreachable (default 5)
  --log-level LEVEL               trace|debug|info|warn|error (default info)`;

function bool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (!['true', 'false'].includes(value)) throw new ConfigError(`${name} must be true or false`);
  return value === 'true';
}

function seconds(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ConfigError(`${name} must be a positive number of seconds, not ${value}`);
  return n;
}

export function parseOperatorArgs(argv: string[]): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'leader-elect': { type: 'string' },
      identity: { type: 'string' },
      'lease-duration': { type: 'string' },
      'http-address': { type: 'string' },
      'node-grace-period': { type: 'string' },
      'pod-eviction-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'enable-member': { type: 'string' },
      'enable-hub': { type: 'string' },
      'cluster-check-interval': { type: 'string' },
      'cluster-check-timeout': { type: 'string' },
    },
  });
  const enableMember = bool('--enable-member', values['enable-member'], true);
  const enableHub = bool('--enable-hub', values['enable-hub'], false);
  if (!enableMember && !enableHub) throw new ConfigError('--enable-member=false needs --enable-hub=true');
  return {
    kubeconfig: values.kubeconfig,
    namespace: values.namespace ?? SEER_NAMESPACE,
    leaderElect: bool('--leader-elect', values['leader-elect'], true),
    identity: values.identity ?? `${os.hostname()}-${process.pid}`,
    leaseDurationSeconds: seconds('--lease-duration', values['lease-duration'], 15),
    httpAddress: values['http-address'] ?? '0.0.0.0:8080',
    nodeGracePeriodSeconds: seconds('--node-grace-period', values['node-grace-period'], 40),
    podEvictionTimeoutSeconds: seconds('--pod-eviction-timeout', values['pod-eviction-timeout'], 300),
    enableMember,
    enableHub,
    clusterCheckIntervalSeconds: seconds('--cluster-check-interval', values['cluster-check-interval'], 10),
    clusterCheckTimeoutSeconds: seconds('--cluster-check-timeout', values['cluster-check-timeout'], 5),
    logLevel: values['log-level'] ?? 'info',
  };
}
