import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError } from '../common/main.js';
import { parseQuantity } from '../common/quantities.js';
import yaml from 'js-yaml';

/** Everything the agent is told at start-up, from flags and/or a YAML config file (flags win). */
export interface AgentConfig {
  /** Talk to this cluster; absent with `manifests` set means no cluster at all. */
  kubeconfig?: string;
  /** Run the pods in these YAML files instead of the cluster's (like kubelet static pods). */
  manifests?: string;
  node_name: string;
  root: string;
  /** Where data dirs (SeerDataDirs) are kept; <root>/data by default. */
  data_root?: string;
  heartbeat_interval_seconds: number;
  lease_duration_seconds: number;
  /** Most pods this node accepts (its `pods` capacity). */
  max_pods: number;
  /** Addresses published in the SeerNode status; defaults to the host's non-loopback IPs. */
  addresses: string[];
  /** docker-style config.json with registry credentials. */
  registry_credentials?: string;
  /** Registries reached over plain HTTP (host:port). */
  insecure_registries: string[];
  /** Bytes the package cache may take before unused packages are removed; 0 means no limit. */
  package_cache_limit: number;
  /** A container's live log file is rotated at this size (bytes)… */
  container_log_max_size: number;
  /** …keeping this many rotated files per stream. */
  container_log_max_files: number;
  /** Serve the HTTPS endpoint (pod logs) at all. */
  endpoint_enabled: boolean;
  /** The endpoint's port; 0 picks a free one (the SeerNode status says which). */
  endpoint_port: number;
  endpoint_address: string;
  /** A serving certificate (PEM, with its chain) and key; a self-signed one under the root otherwise. */
  tls_cert_file?: string;
  tls_key_file?: string;
  /** Where applications write their own logs, one directory per app (conventionally /opt/var/log). */
  app_log_root?: string;
  /** Put each container in its own cgroup v2 (found and killed whole, limits enforced). */
  cgroups_enabled: boolean;
  /** The cgroup they go under; <cgroup2 mount>/seer by default. */
  cgroup_root?: string;
  log_level: string;
}

export const DEFAULTS: Omit<AgentConfig, 'node_name'> = {
  root: '/seer',
  heartbeat_interval_seconds: 10,
  lease_duration_seconds: 40,
  max_pods: 110,
  addresses: [],
  insecure_registries: [],
  package_cache_limit: 10 * 1024 ** 3,
  container_log_max_size: 10 * 1024 ** 2,
  container_log_max_files: 5,
  endpoint_enabled: true,
  endpoint_port: 10350,
  endpoint_address: '0.0.0.0',
  cgroups_enabled: true,
  log_level: 'info',
};

export { ConfigError };

export const USAGE = `usage:
  seer-agent --kubeconfig FILE --node-name NAME [--root DIR] [options]
  seer-agent --manifests DIR [--root DIR] [options]

options:
  --config FILE                    YAML file with any of the settings below (snake_case keys)
  --kubeconfig FILE                the meta cluster (in-cluster config when neither this nor --manifests is given)
  --manifests DIR                  run the SeerPods in DIR/*.yaml, without a cluster
  --node-name NAME                 this host's SeerNode (default: the host name)
  --root DIR                       where pods are unpacked (default /seer)
  --data-root DIR                  where data dirs that outlive pods are kept (default <root>/data)
  --heartbeat-interval SECONDS     Lease renewal interval (default 10)
  --lease-duration SECONDS         Lease duration (default 40)
  --max-pods N                     pods capacity (default 110)
  --address IP                     address to publish (repeatable)
  --registry-credentials FILE      docker-style config.json for registry auth
  --insecure-registry HOST:PORT    registry reached over plain HTTP (repeatable)
  --package-cache-limit SIZE       unused packages are removed above this cache size (default 10Gi, 0: never)
  --container-log-max-size SIZE    rotate a container's log file at this size (default 10Mi)
  --container-log-max-files N      rotated files kept per stream (default 5)
  --endpoint-port PORT             the HTTPS endpoint's port (default 10350, 0: a free port)
  --endpoint-address IP            the address it listens on (default 0.0.0.0)
  --no-endpoint                    serve no endpoint
  --tls-cert-file FILE             the endpoint's certificate (PEM; default: self-signed, kept under the root)
  --tls-key-file FILE              its private key
  --app-log-root DIR               applications' own logs, DIR/<app label> (e.g. /opt/var/log; default: none)
  --cgroup-root DIR                each container's processes in DIR/<node>/<pod>.<container> (cgroup v2; default <mount>/seer)
  --no-cgroups                     no cgroups: a container is its process group (no limits, setsid escapes it)
  --log-level LEVEL                trace|debug|info|warn|error (default info)`;

/** A size in bytes written as a Kubernetes quantity ("10Gi", "500Mi", "1e9") or a plain number. */
function byteSize(name: string, value: unknown): number {
  let bytes = Number.NaN;
  if (typeof value === 'number' || typeof value === 'string') {
    try {
      bytes = parseQuantity(value);
    } catch {
      // refused below, with the setting's name
    }
  }
  if (!Number.isFinite(bytes) || bytes < 0)
    throw new ConfigError(`${name} must be a size such as 10Gi or 500Mi (or 0), not ${String(value)}`);
  // Kubernetes rounds a fractional byte count up.
  return Math.ceil(bytes);
}

function port(value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new ConfigError(`endpoint port must be a port number (0 for a free one), not ${String(value)}`);
  return n;
}

function positiveNumber(name: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ConfigError(`${name} must be a positive number, not ${String(value)}`);
  return n;
}

/** Reads flags (and the config file they name) into a complete, checked configuration. */
export async function loadAgentConfig(argv: string[], hostname: string): Promise<AgentConfig> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      kubeconfig: { type: 'string' },
      manifests: { type: 'string' },
      'node-name': { type: 'string' },
      root: { type: 'string' },
      'data-root': { type: 'string' },
      'heartbeat-interval': { type: 'string' },
      'lease-duration': { type: 'string' },
      'max-pods': { type: 'string' },
      address: { type: 'string', multiple: true },
      'registry-credentials': { type: 'string' },
      'insecure-registry': { type: 'string', multiple: true },
      'package-cache-limit': { type: 'string' },
      'container-log-max-size': { type: 'string' },
      'container-log-max-files': { type: 'string' },
      'endpoint-port': { type: 'string' },
      'endpoint-address': { type: 'string' },
      'no-endpoint': { type: 'boolean' },
      'tls-cert-file': { type: 'string' },
      'tls-key-file': { type: 'string' },
      'app-log-root': { type: 'string' },
      'cgroup-root': { type: 'string' },
      'no-cgroups': { type: 'boolean' },
      'log-level': { type: 'string' },
    },
  });
  let file: Partial<Record<keyof AgentConfig, unknown>> = {};
  if (values.config) {
    const parsed = yaml.load(await readFile(values.config, 'utf8'));
    if (parsed !== undefined && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) {
      throw new ConfigError(`${values.config}: expected a mapping of settings`);
    }
    file = (parsed ?? {}) as typeof file;
    const known = new Set<string>([
      ...Object.keys(DEFAULTS),
      'kubeconfig',
      'manifests',
      'node_name',
      'registry_credentials',
      'tls_cert_file',
      'tls_key_file',
      'app_log_root',
      'cgroup_root',
      'data_root',
    ]);
    const unknown = Object.keys(file).filter((key) => !known.has(key));
    if (unknown.length > 0)
      throw new ConfigError(`${values.config}: unknown settings: ${unknown.join(', ')}`);
  }
  const pick = <T>(flag: T | undefined, key: keyof AgentConfig): T | undefined =>
    flag !== undefined ? flag : (file[key] as T | undefined);

  const config: AgentConfig = {
    kubeconfig: pick(values.kubeconfig, 'kubeconfig'),
    manifests: pick(values.manifests, 'manifests'),
    node_name: pick(values['node-name'], 'node_name') ?? hostname,
    root: pick(values.root, 'root') ?? DEFAULTS.root,
    data_root: pick(values['data-root'], 'data_root'),
    heartbeat_interval_seconds: positiveNumber(
      'heartbeat interval',
      pick(values['heartbeat-interval'], 'heartbeat_interval_seconds') ?? DEFAULTS.heartbeat_interval_seconds,
    ),
    lease_duration_seconds: positiveNumber(
      'lease duration',
      pick(values['lease-duration'], 'lease_duration_seconds') ?? DEFAULTS.lease_duration_seconds,
    ),
    max_pods: positiveNumber('max pods', pick(values['max-pods'], 'max_pods') ?? DEFAULTS.max_pods),
    addresses: pick(values.address, 'addresses') ?? DEFAULTS.addresses,
    registry_credentials: pick(values['registry-credentials'], 'registry_credentials'),
    insecure_registries:
      pick(values['insecure-registry'], 'insecure_registries') ?? DEFAULTS.insecure_registries,
    package_cache_limit: byteSize(
      'package cache limit',
      pick(values['package-cache-limit'], 'package_cache_limit') ?? DEFAULTS.package_cache_limit,
    ),
    container_log_max_size: byteSize(
      'container log max size',
      pick(values['container-log-max-size'], 'container_log_max_size') ?? DEFAULTS.container_log_max_size,
    ),
    container_log_max_files: positiveNumber(
      'container log max files',
      pick(values['container-log-max-files'], 'container_log_max_files') ?? DEFAULTS.container_log_max_files,
    ),
    endpoint_enabled:
      values['no-endpoint'] === true
        ? false
        : (pick(undefined, 'endpoint_enabled') ?? DEFAULTS.endpoint_enabled),
    endpoint_port: port(pick(values['endpoint-port'], 'endpoint_port') ?? DEFAULTS.endpoint_port),
    endpoint_address: pick(values['endpoint-address'], 'endpoint_address') ?? DEFAULTS.endpoint_address,
    tls_cert_file: pick(values['tls-cert-file'], 'tls_cert_file'),
    tls_key_file: pick(values['tls-key-file'], 'tls_key_file'),
    app_log_root: pick(values['app-log-root'], 'app_log_root'),
    cgroups_enabled:
      values['no-cgroups'] === true
        ? false
        : (pick(undefined, 'cgroups_enabled') ?? DEFAULTS.cgroups_enabled),
    cgroup_root: pick(values['cgroup-root'], 'cgroup_root'),
    log_level: pick(values['log-level'], 'log_level') ?? DEFAULTS.log_level,
  };
  if (config.container_log_max_size <= 0 || !Number.isInteger(config.container_log_max_files))
    throw new ConfigError('container log max size must be above 0 and max files a whole number');
  if (typeof config.endpoint_enabled !== 'boolean')
    throw new ConfigError(`endpoint_enabled must be true or false, not ${String(config.endpoint_enabled)}`);
  if ((config.tls_cert_file === undefined) !== (config.tls_key_file === undefined))
    throw new ConfigError('--tls-cert-file and --tls-key-file go together');
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(config.node_name)) {
    throw new ConfigError(
      `node name ${JSON.stringify(config.node_name)} is not a valid Kubernetes object name`,
    );
  }
  if (config.app_log_root !== undefined && !String(config.app_log_root).startsWith('/'))
    throw new ConfigError(`app log root ${String(config.app_log_root)} must be an absolute path`);
  if (typeof config.cgroups_enabled !== 'boolean')
    throw new ConfigError(`cgroups_enabled must be true or false, not ${String(config.cgroups_enabled)}`);
  if (config.cgroup_root !== undefined && !String(config.cgroup_root).startsWith('/'))
    throw new ConfigError(`cgroup root ${String(config.cgroup_root)} must be an absolute path`);
  if (config.data_root !== undefined && !String(config.data_root).startsWith('/'))
    throw new ConfigError(`data root ${String(config.data_root)} must be an absolute path`);
  if (!config.root.startsWith('/')) throw new ConfigError(`root ${config.root} must be an absolute path`);
  return config;
}
