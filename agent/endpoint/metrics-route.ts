import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { EndpointContext, Route } from './routes.js';

/** GET /metrics: the agent's Prometheus metrics, for whoever may get seernodes/metrics on this node (as kubelet's nodes/metrics). */
export function metricsRoute(context: EndpointContext, metrics: AgentMetrics): Route {
  return {
    method: 'GET',
    path: /^\/metrics$/,
    async handle({ response, user }) {
      await context.authenticator.authorize(user, {
        name: context.nodeName,
        verb: 'get',
        group: 'seer.io',
        resource: 'seernodes',
        subresource: 'metrics',
      });
      const text = await metrics.render();
      response.writeHead(200, { 'content-type': metrics.contentType });
      response.end(text);
    },
  };
}
