import { Refusal } from './auth.js';
import { followLogs } from './follow.js';
import { hasPreviousRun, parseLogQuery, writeLogs } from './logs.js';
import { authorizePod, boundPod, NAME, podContainer, type EndpointContext, type Route } from './routes.js';

/** GET /pods/NS/POD/containers/C/logs: a container's stdout/stderr, as `kubectl logs` reads them. */
export function logsRoute(context: EndpointContext): Route {
  return {
    method: 'GET',
    path: new RegExp(`^/pods/(${NAME})/(${NAME})/containers/(${NAME})/logs$`),
    async handle({ response, url, user, params }) {
      const [namespace = '', name = '', container = ''] = params;
      await authorizePod(context, user, { namespace, name }, 'log');
      const query = parseLogQuery(url.searchParams);
      podContainer(await boundPod(context, namespace, name), container);
      const logDir = context.layout.logDir(name);
      if (query.previous && !(await hasPreviousRun(logDir, container)))
        throw new Refusal(404, `container ${container} of pod ${namespace}/${name} has no previous run`);
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      if (query.follow || query.timestamps || query.sinceSeconds !== undefined) {
        const gone = new AbortController();
        response.once('close', () => gone.abort());
        await followLogs(response, logDir, container, query, gone.signal);
      } else await writeLogs(response, logDir, container, query);
      response.end();
    },
  };
}
