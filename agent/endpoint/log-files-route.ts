import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { SeerPod } from '../../api/types.js';
import { Refusal } from './auth.js';
import { parseLogFilePath } from './log-file-path.js';
import { appLogRoot, containerLogRoot, listLogFiles, openLogFile, type LogRoot } from './log-files.js';
import { BadQuery, parseTailLines, tailOfFile } from './logs.js';
import {
  authorizePod,
  boundPod,
  NAME,
  podContainer,
  type EndpointContext,
  type Route,
  type RouteRequest,
} from './routes.js';

/** A label value as the API server validates it: one plain name, never `.`/`..` or a slash. */
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

const PREFIX = `^/pods/(${NAME})/(${NAME})/containers/(${NAME})/logfiles`;

/** The roots of a pod's container's log files: its directory, and its app's under the app log root. */
async function logRoots(context: EndpointContext, request: RouteRequest): Promise<LogRoot[]> {
  const [namespace = '', name = '', containerName = ''] = request.params;
  await authorizePod(context, request.user, { namespace, name }, 'log');
  const pod: SeerPod = await boundPod(context, namespace, name);
  const container = podContainer(pod, containerName);
  const roots = [containerLogRoot(context.layout.containerDir(name, container))];
  const app = pod.metadata.labels?.app;
  if (context.appLogRoot !== undefined && app !== undefined && LABEL_VALUE.test(app))
    roots.push(appLogRoot(`${context.appLogRoot}/${app}`));
  return roots;
}

function refuseUnknownParameters(params: URLSearchParams, known: string[]): void {
  for (const name of params.keys())
    if (!known.includes(name)) throw new BadQuery(`unknown parameter ${JSON.stringify(name)}`);
}

/** GET /pods/NS/POD/containers/C/logfiles: the log files a container writes itself, as JSON. */
export function logFilesRoute(context: EndpointContext): Route {
  return {
    method: 'GET',
    path: new RegExp(`${PREFIX}$`),
    async handle(request) {
      refuseUnknownParameters(request.url.searchParams, []);
      const files = await listLogFiles(await logRoots(context, request));
      request.response.writeHead(200, { 'content-type': 'application/json' });
      request.response.end(JSON.stringify({ files }));
    },
  };
}

/** GET /pods/NS/POD/containers/C/logfiles/ROOT/PATH[?tail_lines=N]: one of those files. */
export function logFileRoute(context: EndpointContext): Route {
  return {
    method: 'GET',
    path: new RegExp(`${PREFIX}/(.+)$`),
    async handle(request) {
      const { url, response, params } = request;
      // Checked before anything is looked up: a bad path or query reads nothing.
      refuseUnknownParameters(url.searchParams, ['tail_lines']);
      const tailLines = parseTailLines(url.searchParams);
      const requested = parseLogFilePath(params[3] ?? '');
      const root = (await logRoots(context, request)).find((r) => r.name === requested.root);
      if (!root)
        throw new Refusal(404, `this pod has no ${requested.root}/ log files (no app label or app log root)`);
      const handle = await openLogFile(root, requested);
      try {
        const tail = tailLines === undefined ? undefined : await tailOfFile(handle, tailLines);
        response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        if (tail) response.write(tail);
        else
          await pipeline(createReadStream('', { fd: handle.fd, autoClose: false }), response, { end: false });
        response.end();
      } finally {
        await handle.close();
      }
    },
  };
}
