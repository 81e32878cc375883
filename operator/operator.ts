import type { Logger } from 'pino';
import { POD_PHASE } from '../api/names.js';
import { errorMessage } from '../kube/errors.js';
import { RestClient } from '../kube/rest.js';
import { SeerClient } from '../kube/seer-client.js';
import { ComponentController } from './components/controller.js';
import type { OperatorConfig } from './config.js';
import { DaemonSetController } from './daemonsets/controller.js';
import { DataDirController } from './datadirs/controller.js';
import { DeploymentController } from './deployments/controller.js';
import { AppSetController } from './hub/app-sets.js';
import { ClusterHealthController } from './hub/cluster-health.js';
import { MemberClients } from './hub/member-clients.js';
import { NodeLifecycleController } from './nodes/controller.js';
import { createCaches, startCaches, stopCaches } from './runtime/caches.js';
import type { Controller, OperatorContext } from './runtime/context.js';
import { EventRecorder } from './runtime/events.js';
import { startHttpServer } from './runtime/http-server.js';
import { ElectedControllers } from './runtime/elected-controllers.js';
import { OperatorMetrics } from './runtime/metrics.js';
import { SchedulerController } from './scheduler/controller.js';
import { StatefulSetController } from './statefulsets/controller.js';

export interface RunningOperator {
  /** The port /healthz, /readyz and /metrics are served on. */
  httpPort: number;
  /** Stops the controllers, releases the leader Lease and closes everything. */
  stop(): Promise<void>;
}

const LEASE_NAME = 'seer-operator';
const HUB_LEASE_NAME = 'seer-hub';

/**
 * Starts one operator replica: shared caches (every replica keeps them warm, so a standby takes over
 * quickly), the HTTP endpoints, and — once this replica holds the leader Lease — the controllers.
 * Losing the Lease stops the controllers at once and calls `onLostLeadership` (the process exits).
 */
export async function startOperator(
  config: OperatorConfig,
  logger: Logger,
  onLostLeadership: () => void,
): Promise<RunningOperator> {
  const rest = RestClient.fromKubeconfig(config.kubeconfig);
  const client = new SeerClient(rest);
  const metrics = new OperatorMetrics();
  const caches = createCaches(client, (kind, error) =>
    logger.warn({ kind, err: errorMessage(error) }, 'watch failed; relisting with backoff'),
  );
  const ctx: OperatorContext = {
    client,
    rest,
    caches,
    events: new EventRecorder(rest, 'seer-operator', config.identity, logger),
    metrics,
    logger,
  };
  // Built before the caches start, so that their handlers see every object from the first list on.
  const memberControllers: Controller[] = config.enableMember
    ? [
        new SchedulerController(ctx),
        new DeploymentController(ctx),
        new DaemonSetController(ctx),
        new StatefulSetController(ctx),
        new ComponentController(ctx),
        new DataDirController(ctx),
        new NodeLifecycleController(ctx, {
          gracePeriodMs: config.nodeGracePeriodSeconds * 1000,
          evictionTimeoutMs: config.podEvictionTimeoutSeconds * 1000,
        }),
      ]
    : [];
  const hubInformer = <K extends 'SeerCluster' | 'SeerAppSet'>(kind: K) =>
    client.informer(kind, {
      onError: (error) =>
        logger.warn({ kind, err: errorMessage(error) }, 'watch failed; relisting with backoff'),
    });
  const clusters = hubInformer('SeerCluster');
  const appSets = hubInformer('SeerAppSet');
  // One client per member, shared by the health checks and the app sets; closed when the hub stops.
  const members = new MemberClients(rest);
  const hubControllers: Controller[] = config.enableHub
    ? [
        new ClusterHealthController(ctx, {
          clusters,
          members,
          intervalMs: config.clusterCheckIntervalSeconds * 1000,
          timeoutMs: config.clusterCheckTimeoutSeconds * 1000,
        }),
        new AppSetController(ctx, { appSets, clusters, members }),
      ]
    : [];
  const elected = (lease: string, controllers: Controller[], leaderGauge: { set(value: number): void }) =>
    new ElectedControllers({ rest, config, lease, controllers, logger, leaderGauge, onLostLeadership });
  const sets = [
    ...(config.enableMember ? [elected(LEASE_NAME, memberControllers, metrics.leader)] : []),
    ...(config.enableHub ? [elected(HUB_LEASE_NAME, hubControllers, metrics.hubLeader)] : []),
  ];

  let synced = false;
  const http = await startHttpServer({
    address: config.httpAddress,
    registry: metrics.registry,
    checks: {
      healthz: () => true,
      readyz: () => {
        if (!synced) return 'caches not synced yet';
        // A replica that cannot even campaign (no namespace for the Lease) could never take over.
        const blocked = sets.map((set) => set.blockedBy).find(Boolean);
        return blocked ? `leader election: ${blocked}` : true;
      },
    },
  });
  if (config.enableMember) await startCaches(caches);
  if (config.enableHub) await Promise.all([clusters.start(), appSets.start()]);
  synced = true;
  const phases = setInterval(() => countPods(ctx), 5000);
  phases.unref();
  for (const set of sets) set.start();

  return {
    httpPort: http.port,
    async stop() {
      clearInterval(phases);
      await Promise.all(sets.map((set) => set.stop()));
      // A standby never started its controllers, but its caches run all the same: they must stop
      // too, or their watches keep the process alive after SIGTERM.
      if (config.enableMember) await stopCaches(caches);
      if (config.enableHub) await Promise.all([clusters.stop(), appSets.stop()]);
      members.closeAll();
      await http.close();
      rest.close();
    },
  };
}

function countPods(ctx: OperatorContext): void {
  const counts = new Map<string, number>(Object.values(POD_PHASE).map((phase) => [phase, 0]));
  for (const pod of ctx.caches.pods.list()) {
    const phase = pod.status?.phase ?? POD_PHASE.Pending;
    counts.set(phase, (counts.get(phase) ?? 0) + 1);
  }
  for (const [phase, count] of counts) ctx.metrics.podsByPhase.set({ phase }, count);
}
