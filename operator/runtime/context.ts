import type { Logger } from 'pino';
import type { SeerComponent, SeerDeployment, SeerNode, SeerPod } from '../../api/types.js';
import type { Informer } from '../../kube/informer.js';
import type { RestClient } from '../../kube/rest.js';
import type { SeerClient } from '../../kube/seer-client.js';
import type { EventRecorder } from './events.js';
import type { OperatorMetrics } from './metrics.js';

/** The shared caches every controller reads from (one list+watch per kind for the whole operator). */
export interface OperatorCaches {
  pods: Informer<SeerPod>;
  deployments: Informer<SeerDeployment>;
  components: Informer<SeerComponent>;
  nodes: Informer<SeerNode>;
}

/** What a controller gets: clients, caches, events, metrics, a logger. */
export interface OperatorContext {
  client: SeerClient;
  rest: RestClient;
  caches: OperatorCaches;
  events: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
}

/** A controller of the operator: started when this replica becomes leader, stopped when it stops being. */
export interface Controller {
  readonly name: string;
  start(): void;
  stop(): Promise<void>;
}
