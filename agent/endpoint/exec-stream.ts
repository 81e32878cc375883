import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { errorMessage } from '../../kube/errors.js';
import type { ExecutionContext } from '../process/execution-context.js';
import { startExec, type RunningExec } from '../process/exec-command.js';
import { Refusal } from './auth.js';
import {
  BadFrame,
  Channel,
  decodeFrame,
  encodeFrame,
  exitStatus,
  failureStatus,
  parseResize,
  PROTOCOL_V5,
  PROTOCOLS,
  type Status,
} from '../../common/channel-frames.js';
import { parseExecStreamQuery, type ExecStreamOptions } from './exec-options.js';
import { EXEC_PATH, execTarget, logExec } from './exec-route.js';
import { authorizePod, type EndpointContext, type Route } from './routes.js';

/** A terminal's size until the client sends its own. */
const DEFAULT_SIZE = { cols: 80, rows: 24 };
/** Output held for a slow client before the command's output is paused. */
const HIGH_WATER_BYTES = 1024 * 1024;

function offeredProtocols(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The subprotocol to speak: the first of ours the client offers, or a 400 naming ours. */
export function chooseProtocol(header: string | undefined): string {
  const offered = offeredProtocols(header);
  const chosen = PROTOCOLS.find((p) => offered.includes(p));
  if (!chosen)
    throw new Refusal(
      400,
      `exec speaks the WebSocket subprotocols ${PROTOCOLS.join(' and ')}; the client offered ${
        offered.length > 0 ? offered.join(', ') : 'none'
      }`,
    );
  return chosen;
}

/**
 * One exec over a WebSocket: the command's output to the stdout and stderr channels, the stdin and
 * resize channels to it, and at its end the status channel, then the close. A closed socket kills
 * the command and everything it started.
 */
function runSession(
  socket: WebSocket,
  protocol: string,
  target: ExecutionContext,
  options: ExecStreamOptions,
): void {
  // The command once started: output is paused on it while the client is slow.
  const control: { exec?: RunningExec } = {};
  let paused = false;
  const send = (channel: number, data: Buffer): void => {
    if (socket.readyState !== socket.OPEN) return;
    socket.send(encodeFrame(channel, data), () => {
      if (paused && socket.bufferedAmount < HIGH_WATER_BYTES / 2) {
        paused = false;
        control.exec?.resume();
      }
    });
    if (!paused && socket.bufferedAmount > HIGH_WATER_BYTES) {
      paused = true;
      control.exec?.pause();
    }
  };
  let finished = false;
  const finish = (status: Status): void => {
    if (finished || socket.readyState !== socket.OPEN) return;
    finished = true;
    socket.send(encodeFrame(Channel.status, JSON.stringify(status)), () => socket.close(1000));
  };
  const started = startExec(options.command, target, {
    stdin: options.stdin,
    tty: options.tty ? DEFAULT_SIZE : undefined,
    onOutput: (stream, chunk) => {
      if (stream === 'stdout' && options.stdout) send(Channel.stdout, chunk);
      else if (stream === 'stderr' && options.stderr) send(Channel.stderr, chunk);
    },
  });
  if (!('pid' in started)) {
    const channel = options.tty || !options.stderr ? Channel.stdout : Channel.stderr;
    send(channel, Buffer.from(`${started.message}${options.tty ? '\r\n' : '\n'}`));
    finish(exitStatus(started.exitCode, options.command));
    return;
  }
  control.exec = started;
  socket.on('message', (message: RawData, isBinary: boolean) => {
    try {
      if (!isBinary) throw new BadFrame('exec messages are binary: a channel byte, then its data');
      const frame = decodeFrame(Buffer.isBuffer(message) ? message : Buffer.from(message as ArrayBuffer));
      if (frame.channel === Channel.stdin) {
        if (options.stdin) started.write(frame.data);
      } else if (frame.channel === Channel.resize) {
        const size = parseResize(frame.data);
        if (options.tty) started.resize(size.cols, size.rows);
      } else if (frame.channel === Channel.close && protocol === PROTOCOL_V5) {
        if (frame.data[0] === Channel.stdin && options.stdin) started.endInput();
      } else throw new BadFrame(`no channel ${frame.channel} to write to`);
    } catch (error) {
      started.kill();
      finish(failureStatus(errorMessage(error)));
    }
  });
  socket.on('close', () => started.kill());
  socket.on('error', () => started.kill());
  started.done.then(
    (exit) => finish(exitStatus(exit.exitCode, options.command)),
    (error: unknown) => finish(failureStatus(errorMessage(error))),
  );
}

/**
 * GET /pods/NS/POD/containers/C/exec?command=…&stdin=…&tty=…, upgraded to a WebSocket: an
 * interactive command, in a terminal or with plain pipes, speaking kubelet's channel protocol.
 * Needs create on seerpods/exec, as POST does.
 */
export function execStreamRoute(context: EndpointContext): Route {
  const server = new WebSocketServer({
    noServer: true,
    // Not a chosen protocol yet: the upgrade below has checked the client offers one of ours.
    handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) ?? false,
    maxPayload: 4 * 1024 * 1024,
  });
  return {
    method: 'GET',
    path: EXEC_PATH,
    async handle() {
      throw new Refusal(
        400,
        `exec by GET needs a WebSocket upgrade (subprotocol ${PROTOCOLS.join(' or ')}); POST runs a command to its end`,
      );
    },
    close() {
      // Their commands are killed as each socket closes.
      for (const client of server.clients) client.terminate();
    },
    async upgrade({ request, socket, head, url, user, params }) {
      const [namespace = '', name = '', container = ''] = params;
      await authorizePod(context, user, { namespace, name }, 'exec', 'create');
      const options = parseExecStreamQuery(url.searchParams);
      if (options.container !== undefined && options.container !== container)
        throw new Refusal(400, `container=${options.container} is not the path's container ${container}`);
      const protocol = chooseProtocol(request.headers['sec-websocket-protocol']);
      const target = await execTarget(context, namespace, name, container);
      logExec(context, user, params, options.command, options.tty ? 'terminal' : 'stream');
      server.handleUpgrade(request, socket, head, (ws) => runSession(ws, protocol, target, options));
    },
  };
}
