import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ReadStream, WriteStream } from 'node:tty';
import type WebSocket from 'ws';
import {
  BadFrame,
  Channel,
  decodeFrame,
  encodeFrame,
  encodeResize,
  parseStatus,
  PROTOCOL_V5,
  PROTOCOLS,
  statusExitCode,
  type TerminalSize,
} from '../../common/channel-frames.js';
import type { SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { UsageError, type Command } from '../command.js';
import { callerConnection, nodeEndpoint, openNodeSocket } from './node-endpoint.js';

const USAGE = `usage:
  seer exec POD [-c CONTAINER] [-i] [-t] [options] -- COMMAND [ARGS...]
options:
  -c, --container NAME   the container (default: the pod's first)
  -i, --stdin            pass this terminal's (or pipe's) input to the command
  -t, --tty              run the command in a terminal (with -i, when the input is a terminal)
  -n, --namespace NS     the pod's namespace (default: the kubeconfig context's, else default)
  --kubeconfig FILE      default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account
The command runs on the pod's node, as the container's processes do (its user, directory and
environment); the agent checks your own credentials with the API server: you need create on
seerpods/exec. seer exec exits with the command's exit code.`;

const OPTIONS = {
  container: { type: 'string', short: 'c' },
  stdin: { type: 'boolean', short: 'i' },
  tty: { type: 'boolean', short: 't' },
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export interface ExecArguments {
  pod: string;
  container?: string;
  stdin: boolean;
  tty: boolean;
  namespace?: string;
  kubeconfig?: string;
  command: string[];
}

/** `POD [options] -- COMMAND [ARGS...]`: what comes after `--` is the command, untouched. */
export function parseExecArguments(args: string[]): ExecArguments {
  const separator = args.indexOf('--');
  if (separator < 0) throw new UsageError(`seer exec needs -- before the command\n${USAGE}`);
  const command = args.slice(separator + 1);
  if (command.length === 0 || command[0] === '')
    throw new UsageError(`seer exec needs a command after --\n${USAGE}`);
  let parsed;
  try {
    parsed = parseArgs({ args: args.slice(0, separator), options: OPTIONS, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`${errorMessage(error)}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [target, ...extra] = positionals;
  if (target === undefined) throw new UsageError(`seer exec needs a pod\n${USAGE}`);
  if (extra.length > 0)
    throw new UsageError(
      `seer exec takes one pod, then -- and the command, not ${extra.join(' ')}\n${USAGE}`,
    );
  const slash = target.indexOf('/');
  const type = slash < 0 ? undefined : target.slice(0, slash).toLowerCase();
  if (type !== undefined && !['seerpod', 'seerpods', 'spod', 'pod', 'pods', 'seerpod.seer.io'].includes(type))
    throw new UsageError(`seer exec runs commands in seerpods, not ${type}\n${USAGE}`);
  const pod = slash < 0 ? target : target.slice(slash + 1);
  if (!pod) throw new UsageError(USAGE);
  return {
    pod,
    container: values.container,
    stdin: values.stdin === true,
    tty: values.tty === true,
    namespace: values.namespace,
    kubeconfig: values.kubeconfig,
    command,
  };
}

export interface ExecTerminal {
  stdin: NodeJS.ReadableStream & Partial<Pick<ReadStream, 'isTTY' | 'setRawMode'>>;
  stdout: NodeJS.WritableStream & Partial<Pick<WriteStream, 'isTTY' | 'columns' | 'rows' | 'getWindowSize'>>;
  stderr: NodeJS.WritableStream & Partial<Pick<WriteStream, 'isTTY' | 'columns' | 'rows' | 'getWindowSize'>>;
}

/** The local terminal's size: of the first of stdout and stderr that is one. */
function terminalSize(io: ExecTerminal): TerminalSize | undefined {
  for (const stream of [io.stdout, io.stderr]) {
    if (!stream.isTTY) continue;
    // Asked of the terminal now: on SIGWINCH the stream's own columns may not be updated yet.
    const [cols, rows] = stream.getWindowSize?.() ?? [stream.columns, stream.rows];
    if (cols && rows) return { cols, rows };
  }
  return undefined;
}

/**
 * Speaks the channel protocol on an open exec socket: input and resizes out, output in, until the
 * status; resolves with the command's exit code.
 */
export function attach(
  socket: WebSocket,
  io: ExecTerminal,
  options: { stdin: boolean; tty: boolean },
): Promise<number> {
  return new Promise((resolve, reject) => {
    let exitCode: number | undefined;
    let failure: Error | undefined;
    const cleanUps: (() => void)[] = [];
    const send = (frame: Buffer): void => {
      if (socket.readyState === socket.OPEN) socket.send(frame);
    };
    if (options.tty) {
      const sendSize = (): void => {
        const size = terminalSize(io);
        if (size) send(encodeResize(size));
      };
      sendSize();
      process.on('SIGWINCH', sendSize);
      cleanUps.push(() => process.off('SIGWINCH', sendSize));
    }
    if (options.stdin) {
      const onData = (chunk: Buffer | string): void =>
        send(encodeFrame(Channel.stdin, typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
      // v5 can say stdin is closed; over v4 the command reads until the end.
      const onEnd = (): void => {
        if (socket.protocol === PROTOCOL_V5) send(Buffer.of(Channel.close, Channel.stdin));
      };
      io.stdin.on('data', onData);
      io.stdin.once('end', onEnd);
      cleanUps.push(() => {
        io.stdin.off('data', onData);
        io.stdin.off('end', onEnd);
        io.stdin.pause();
      });
    }
    socket.on('message', (message: Buffer, isBinary: boolean) => {
      try {
        if (!isBinary) throw new BadFrame('the agent sent a text message; exec messages are binary');
        const frame = decodeFrame(message);
        if (frame.channel === Channel.stdout) io.stdout.write(frame.data);
        else if (frame.channel === Channel.stderr) io.stderr.write(frame.data);
        else if (frame.channel === Channel.status) {
          const status = parseStatus(frame.data);
          exitCode = statusExitCode(status);
          if (exitCode === undefined) failure = new Error(status.message ?? 'the command failed');
        }
      } catch (error) {
        failure = error as Error;
        socket.close();
      }
    });
    socket.once('error', (error) => (failure ??= error));
    socket.once('close', () => {
      for (const cleanUp of cleanUps) cleanUp();
      if (exitCode !== undefined) resolve(exitCode);
      else reject(failure ?? new Error('the connection closed before the command ended'));
    });
  });
}

async function findPod(client: SeerClient, name: string, namespace: string): Promise<SeerPod> {
  try {
    return await client.get('SeerPod', name, namespace);
  } catch (error) {
    if (isNotFound(error)) throw new Error(`seerpod "${name}" not found in namespace ${namespace}`);
    throw error;
  }
}

/** The container to run in: the one named, else the pod's first (said so when it has several). */
function pickContainer(pod: SeerPod, name: string | undefined, io: ExecTerminal): string {
  const names = pod.spec.containers.map((c) => c.name);
  if (name !== undefined) {
    if (!names.includes(name))
      throw new Error(
        `container "${name}" is not in pod ${pod.metadata.name}: choose one of ${names.join(', ')}`,
      );
    return name;
  }
  const first = names[0];
  if (first === undefined) throw new Error(`pod ${pod.metadata.name} has no containers`);
  if (names.length > 1) io.stderr.write(`Defaulted container "${first}" out of: ${names.join(', ')}\n`);
  return first;
}

export function createExecCommand(io: ExecTerminal = process): Command {
  return {
    name: 'exec',
    summary: "run a command in a pod's container, on its node (-it: an interactive terminal)",
    async run(args) {
      const exec = parseExecArguments(args);
      let tty = exec.tty;
      if (tty && (!exec.stdin || !io.stdin.isTTY || !io.stdin.setRawMode)) {
        io.stderr.write('Unable to use a TTY - input is not a terminal or the right kind of file\n');
        tty = false;
      }
      const { connection, namespace } = callerConnection(exec.kubeconfig, exec.namespace);
      const rest = new RestClient(connection);
      let socket: WebSocket;
      let name: string;
      try {
        const client = new SeerClient(rest);
        const pod = await findPod(client, exec.pod, namespace);
        name = pod.metadata.name ?? exec.pod;
        const container = pickContainer(pod, exec.container, io);
        const endpoint = await nodeEndpoint(client, pod);
        const query = new URLSearchParams();
        for (const word of exec.command) query.append('command', word);
        query.set('stdin', String(exec.stdin));
        query.set('stdout', 'true');
        query.set('stderr', String(!tty));
        query.set('tty', String(tty));
        const urlPath =
          `/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}` +
          `/containers/${encodeURIComponent(container)}/exec?${query.toString()}`;
        try {
          socket = await openNodeSocket(connection, endpoint, urlPath, PROTOCOLS);
        } catch (error) {
          throw new Error(`${name}/${container} (node ${pod.spec.node_name ?? ''}): ${errorMessage(error)}`);
        }
      } finally {
        rest.close();
      }
      const raw = tty ? io.stdin.setRawMode : undefined;
      const restore = (): void => void raw?.call(io.stdin, false);
      raw?.call(io.stdin, true);
      process.once('exit', restore);
      try {
        return await attach(socket, io, { stdin: exec.stdin, tty });
      } finally {
        restore();
        process.off('exit', restore);
      }
    },
  };
}

export const execCommand: Command = createExecCommand();
