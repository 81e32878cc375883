import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics, in one registry served at /metrics. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'seer_reconcile_total',
    help: 'Reconciles run, per controller and result (success or error).',
    labelNames: ['controller', 'result'],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'seer_reconcile_duration_seconds',
    help: 'Time one reconcile took, per controller.',
    labelNames: ['controller'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'seer_workqueue_depth',
    help: 'Keys waiting in each controller’s work queue.',
    labelNames: ['controller'],
    registers: [this.registry],
  });
  readonly podsByPhase = new Gauge({
    name: 'seer_pods',
    help: 'SeerPods in the cache, by phase.',
    labelNames: ['phase'],
    registers: [this.registry],
  });
  readonly schedulingLatency = new Histogram({
    name: 'seer_scheduling_latency_seconds',
    help: 'Time from a pod’s creation to its binding to a node.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'seer_leader',
    help: '1 while this replica is the leader, 0 while it is a standby.',
    registers: [this.registry],
  });

  readonly hubLeader = new Gauge({
    name: 'seer_hub_leader',
    help: '1 while this replica leads the hub controllers, 0 otherwise.',
    registers: [this.registry],
  });
  readonly memberClusters = new Gauge({
    name: 'seer_hub_member_clusters',
    help: 'SeerClusters the hub checks, by phase.',
    labelNames: ['phase'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'seer_operator_' });
  }
}
