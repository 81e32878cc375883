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
import { NodeLifecycleController } from './nodes/controller.js';
import { createCaches, startCaches, stopCaches } from './runtime/caches.js';
import type { Controller, OperatorContext } from './runtime/context.js';
import { EventRecorder } from './runtime/events.js';
import { startHttpServer } from './runtime/http-server.js';
import { LeaderElector } from './runtime/leader-election.js';
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
  const controllers: Controller[] = [
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
  ];

  let synced = false;
  let elector: LeaderElector | undefined;
  const http = await startHttpServer({
    address: config.httpAddress,
    registry: metrics.registry,
    checks: {
      healthz: () => true,
      readyz: () => {
        if (!synced) return 'caches not synced yet';
        // A replica that cannot even campaign (no namespace for the Lease) could never take over.
        const blocked = elector?.blockedBy;
        return blocked ? `leader election: ${blocked}` : true;
      },
    },
  });
  await startCaches(caches);
  synced = true;
  const phases = setInterval(() => countPods(ctx), 5000);
  phases.unref();

  let running = false;
  const startControllers = () => {
    running = true;
    for (const controller of controllers) controller.start();
    logger.info({ controllers: controllers.map((c) => c.name) }, 'leading: controllers started');
  };
  const stopControllers = async () => {
    if (!running) return;
    running = false;
    await Promise.all(controllers.map((c) => c.stop()));
  };

  if (config.leaderElect) {
    elector = new LeaderElector({
      rest,
      namespace: config.namespace,
      name: LEASE_NAME,
      identity: config.identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      // client-go's proportions: 15 s lease, 10 s renew deadline, 2 s retry period.
      renewDeadlineSeconds: (config.leaseDurationSeconds * 2) / 3,
      retryPeriodSeconds: config.leaseDurationSeconds / 7.5,
      logger,
      metrics,
    });
    elector
      .run({
        onStartedLeading: () => startControllers(),
        onStoppedLeading: () => {
          logger.error('lost the leader lease: stopping at once');
          void stopControllers();
          onLostLeadership();
        },
        onNewLeader: (identity) => logger.info({ leader: identity }, 'leader'),
      })
      .catch((error: unknown) => {
        logger.error({ err: errorMessage(error) }, 'leader election failed');
        onLostLeadership();
      });
  } else {
    metrics.leader.set(1);
    startControllers();
  }

  return {
    httpPort: http.port,
    async stop() {
      clearInterval(phases);
      await stopControllers();
      await elector?.stop();
      // A standby never started its controllers, but its caches run all the same: they must stop
      // too, or their watches keep the process alive after SIGTERM.
      await stopCaches(caches);
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
