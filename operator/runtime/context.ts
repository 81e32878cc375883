import type { Logger } from 'pino';
import type { RestClient } from '../../kube/rest.js';
import type { SeerClient } from '../../kube/seer-client.js';
import type { OperatorCaches } from './caches.js';
import type { EventRecorder } from './events.js';
import type { OperatorMetrics } from './metrics.js';

/**
 * What a controller gets: clients, the shared caches (it registers its handlers on those it watches
 * when it is built), events, metrics, a logger.
 */
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
