import { ContainerCgroups } from './process/cgroups.js';
import path from 'node:path';
import type { Logger } from 'pino';
import { SEER_VERSION_STRING } from '../common/version.js';
import { RestClient } from '../kube/rest.js';
import { SeerClient } from '../kube/seer-client.js';
import type { AgentConfig } from './config.js';
import { Authenticator } from './endpoint/auth.js';
import { Endpoint } from './endpoint/server.js';
import { servingCertificate } from './endpoint/serving-certificate.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { Heartbeat } from './node/heartbeat.js';
import { hostFacts } from './node/host-facts.js';
import { NodeReporter } from './node/node-reporter.js';
import { PackageCache } from '../packages/cache.js';
import { CacheGarbageCollector } from '../packages/cache-gc.js';
import { loadRegistryCredentials } from '../packages/registry-config.js';
import { ApiDataDirs, type DataDirs } from './pods/data-dirs.js';
import { HostLayout } from './pods/layout.js';
import { ManifestPodStore } from './pods/manifest-store.js';
import { PodManager } from './pods/pod-manager.js';
import { ApiPodStore, type PodStore } from './pods/pod-store.js';

/** A running agent: stop() leaves every managed process running for the next agent to adopt. */
export interface RunningAgent {
  stop(): Promise<void>;
}

/**
 * Starts the agent: with a cluster, it registers its SeerNode, heartbeats a Lease and runs the pods
 * bound to it; with `manifests` and no kubeconfig, it runs the pods in those files.
 */
export async function startAgent(config: AgentConfig, logger: Logger): Promise<RunningAgent> {
  const layout = new HostLayout(config.root, config.data_root);
  const facts = hostFacts(config.addresses);
  const registries = {
    insecure: config.insecure_registries,
    credentials: config.registry_credentials
      ? await loadRegistryCredentials(config.registry_credentials)
      : {},
  };
  const packages = new PackageCache({
    dir: layout.cacheDir,
    registries,
    logger: logger.child({ part: 'packages' }),
  });
  const supervisor = {
    logRotation: { maxBytes: config.container_log_max_size, maxFiles: config.container_log_max_files },
  };
  const hostIp = facts.addresses.find((a) => a.type === 'InternalIP')?.address;
  const cgroups = config.cgroups_enabled ? ContainerCgroups.open(config.cgroup_root) : undefined;
  if (config.cgroups_enabled && !cgroups)
    logger.warn(
      'no writable cgroup v2 here: containers are process groups, resource limits are not enforced',
    );
  else if (cgroups) logger.info({ cgroup_root: cgroups.root }, 'containers run in their own cgroups');
  /** The pod manager over `store`, the same in manifest mode and against an API server. */
  const podManager = (store: PodStore, onPodCount?: (count: number) => void, dataDirs?: DataDirs) =>
    new PodManager({
      store,
      layout,
      packages,
      nodeName: config.node_name,
      hostIp,
      logger,
      supervisor,
      cgroups,
      dataDirs,
      onPodCount,
    });
  /** Started once the pods are, since it asks them what they use; a no-op without a limit. */
  const collectGarbage = (pods: PodManager): { stop(): Promise<void> } => {
    if (config.package_cache_limit <= 0) return { stop: async () => undefined };
    const collector = new CacheGarbageCollector({
      cache: packages,
      limitBytes: config.package_cache_limit,
      inUse: () => pods.digestsInUse(),
      logger: logger.child({ part: 'packages' }),
    });
    collector.start();
    return collector;
  };

  if (config.manifests && !config.kubeconfig) {
    const store = new ManifestPodStore(
      path.resolve(config.manifests),
      path.join(config.root, 'status'),
      config.node_name,
      logger.child({ part: 'manifests' }),
    );
    const pods = podManager(store);
    await pods.start();
    const collector = collectGarbage(pods);
    logger.info({ manifests: config.manifests, root: config.root }, 'seer-agent running pods from manifests');
    return {
      async stop() {
        await collector.stop();
        await pods.stop();
      },
    };
  }

  const rest = RestClient.fromKubeconfig(config.kubeconfig);
  const client = new SeerClient(rest);
  let endpoint: Endpoint | undefined;
  let pods: PodManager | undefined = undefined;
  let published: { port: number; ca_certificates: string } | undefined;
  if (config.endpoint_enabled) {
    const certificate = await servingCertificate({
      certFile: config.tls_cert_file,
      keyFile: config.tls_key_file,
      dir: path.join(config.root, 'endpoint'),
      commonName: `seer-node-${config.node_name}`,
      dnsNames: [...new Set([facts.hostname, config.node_name, 'localhost'])],
      ipAddresses: [
        ...new Set([
          ...facts.addresses.filter((a) => a.type !== 'Hostname').map((a) => a.address),
          '127.0.0.1',
        ]),
      ],
    });
    const metrics = new AgentMetrics({
      // The endpoint listens before the pods start: until then there is nothing to report.
      containers: () => pods?.supervisedContainers() ?? [],
      packageCache: () => packages.usage(),
    });
    endpoint = new Endpoint({
      address: config.endpoint_address,
      port: config.endpoint_port,
      certificate,
      clientCa: rest.connection.ca,
      authenticator: new Authenticator(rest),
      client,
      nodeName: config.node_name,
      layout,
      appLogRoot: config.app_log_root,
      logger: logger.child({ part: 'endpoint' }),
      hostContainer: (namespace, pod, container) => pods?.hostContainer(namespace, pod, container),
      metrics,
    });
    const port = await endpoint.listen();
    published = { port, ca_certificates: certificate.trust };
    logger.info({ address: config.endpoint_address, port }, 'seer-agent endpoint listening');
  }
  const node = new NodeReporter({
    client,
    nodeName: config.node_name,
    rootDir: config.root,
    maxPods: config.max_pods,
    facts,
    agentVersion: SEER_VERSION_STRING,
    endpoint: published,
    logger,
  });
  await node.register();
  const heartbeat = new Heartbeat({
    client: rest,
    nodeName: config.node_name,
    intervalSeconds: config.heartbeat_interval_seconds,
    leaseDurationSeconds: config.lease_duration_seconds,
    logger,
  });
  await heartbeat.start();
  const store: PodStore = new ApiPodStore(client, config.node_name, logger.child({ part: 'pods' }));
  const dataDirs = new ApiDataDirs({
    client,
    nodeName: config.node_name,
    layout,
    pods: () => store.list(),
    logger: logger.child({ part: 'data-dirs' }),
  });
  const running = podManager(store, (count) => void node.setPodCount(count), dataDirs);
  pods = running;
  await dataDirs.start();
  await running.start();
  const collector = collectGarbage(running);
  logger.info({ node: config.node_name, root: config.root }, 'seer-agent running');
  return {
    async stop() {
      await collector.stop();
      await endpoint?.close();
      await running.stop();
      await dataDirs.stop();
      await heartbeat.stop();
      rest.close();
    },
  };
}
