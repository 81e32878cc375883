import type { IncomingMessage } from 'node:http';
import { errorMessage } from '../../kube/errors.js';
import { executionContext, type ExecutionContext } from '../process/execution-context.js';
import { runExec } from '../process/exec-command.js';
import { Refusal, type UserInfo } from './auth.js';
import { parseExecRequest } from './exec-options.js';
import { authorizePod, boundPod, NAME, podContainer, type EndpointContext, type Route } from './routes.js';

export const EXEC_PATH = new RegExp(`^/pods/(${NAME})/(${NAME})/containers/(${NAME})/exec$`);

/** How much of each of stdout and stderr a POST exec replies with. */
export const MAX_OUTPUT_BYTES = 1024 * 1024;
/** A JSON body: up to 1 MiB of stdin, escaped. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Refusal(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeState(state: { waiting?: { reason?: string }; terminated?: { reason?: string } }): string {
  if (state.waiting) return ` (waiting${state.waiting.reason ? `: ${state.waiting.reason}` : ''})`;
  if (state.terminated)
    return ` (terminated${state.terminated.reason ? `: ${state.terminated.reason}` : ''})`;
  return '';
}

/**
 * Where a command is run in `container` of pod `namespace/name`, as its own processes run: 404 when
 * the pod is not on this node or has no such container, 409 when the container is not running.
 */
export async function execTarget(
  context: EndpointContext,
  namespace: string,
  name: string,
  container: string,
): Promise<ExecutionContext> {
  podContainer(await boundPod(context, namespace, name), container);
  const running = context.hostContainer?.(namespace, name, container);
  if (!running?.status.state.running)
    throw new Refusal(
      409,
      `container ${container} of pod ${namespace}/${name} is not running` +
        describeState(running?.status.state ?? { waiting: { reason: 'ContainerCreating' } }),
    );
  try {
    return await executionContext(running.spec);
  } catch (error) {
    throw new Refusal(409, `cannot run a command in container ${container}: ${errorMessage(error)}`);
  }
}

/** Logged for every exec: who ran what where. */
export function logExec(
  context: EndpointContext,
  user: UserInfo,
  params: string[],
  command: string[],
  how: string,
): void {
  const [namespace = '', pod = '', container = ''] = params;
  context.logger.info({ user: user.username, namespace, pod, container, command, how }, 'exec');
}

/**
 * POST /pods/NS/POD/containers/C/exec: runs one command in the container to its end and replies
 * with its exit code and output, as JSON. Needs create on seerpods/exec.
 */
export function execRoute(context: EndpointContext): Route {
  return {
    method: 'POST',
    path: EXEC_PATH,
    async handle({ request, response, url, user, params }) {
      const [namespace = '', name = '', container = ''] = params;
      await authorizePod(context, user, { namespace, name }, 'exec', 'create');
      const exec = parseExecRequest(url.searchParams, await readBody(request));
      const target = await execTarget(context, namespace, name, container);
      logExec(context, user, params, exec.command, 'run');
      // A client that goes away takes its command with it.
      const gone = new AbortController();
      response.once('close', () => gone.abort());
      const result = await runExec(exec.command, target, {
        stdin: exec.stdin,
        timeoutMs: exec.timeoutSeconds * 1000,
        maxOutputBytes: MAX_OUTPUT_BYTES,
        signal: gone.signal,
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        `${JSON.stringify({
          exit_code: result.exitCode,
          ...(result.signal ? { signal: result.signal } : {}),
          timed_out: result.timedOut,
          stdout: result.stdout,
          stderr: result.stderr,
          stdout_truncated: result.stdoutTruncated,
          stderr_truncated: result.stderrTruncated,
        })}\n`,
      );
    },
  };
}
