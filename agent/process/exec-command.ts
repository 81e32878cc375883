import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import pty from '@lydell/node-pty';
import type { ExecutionContext } from './execution-context.js';
import { killProcessTree } from './process-tree.js';

/** How a command run in a container ended. */
export interface ExecExit {
  /** The exit status as a shell reports it: the code, or 128 + the signal's number. */
  exitCode: number;
  signal?: NodeJS.Signals;
}

/** A command that could not be started: reported as a shell does, with 126 or 127 and a message. */
export interface ExecRefused {
  exitCode: 126 | 127;
  message: string;
}

/**
 * The program `argv[0]` names, looked up as execvp does: a name with a slash is relative to the
 * container directory, any other is searched in the command's own PATH.
 */
export function findProgram(argv0: string, context: ExecutionContext): { file: string } | ExecRefused {
  try {
    if (!statSync(context.directory).isDirectory())
      return { exitCode: 126, message: `container directory ${context.directory} is not a directory` };
  } catch {
    return { exitCode: 126, message: `container directory ${context.directory} does not exist` };
  }
  const candidates = argv0.includes('/')
    ? [path.resolve(context.directory, argv0)]
    : (context.env.PATH ?? '').split(':').map((dir) => path.resolve(context.directory, dir || '.', argv0));
  let denied: string | undefined;
  for (const file of candidates) {
    let stat;
    try {
      stat = statSync(file);
    } catch {
      continue;
    }
    if (stat.isDirectory()) {
      denied ??= file;
      continue;
    }
    try {
      // Any execute bit: the kernel has the last word for the user the command runs as.
      if ((stat.mode & 0o111) === 0) accessSync(file, constants.X_OK);
      return { file };
    } catch {
      denied ??= file;
    }
  }
  if (denied)
    return { exitCode: 126, message: `exec: ${JSON.stringify(argv0)}: permission denied (${denied})` };
  return {
    exitCode: 127,
    message: argv0.includes('/')
      ? `exec: ${JSON.stringify(argv0)}: no such file or directory`
      : `exec: ${JSON.stringify(argv0)}: executable file not found in $PATH`,
  };
}

export type ExecStream = 'stdout' | 'stderr';

export interface ExecOptions {
  /** Whether the command reads a stdin that is written; otherwise its stdin is /dev/null. */
  stdin: boolean;
  /** Runs under a pseudo-terminal of this size (stdout and stderr are then its one output). */
  tty?: { cols: number; rows: number };
  onOutput(stream: ExecStream, chunk: Buffer): void;
}

/** A command running in a container. */
export interface RunningExec {
  readonly pid: number;
  write(data: Buffer | string): void;
  /** No more stdin: the command reads end of file (for a terminal, its EOF character). */
  endInput(): void;
  resize(cols: number, rows: number): void;
  /** Holds back the output until resume() (while the reader is slow). */
  pause(): void;
  resume(): void;
  /** Kills the command and everything it started. */
  kill(): void;
  /** Resolves when the command has exited and its output has been read. */
  readonly done: Promise<ExecExit>;
}

function exitOf(code: number | null, signal: NodeJS.Signals | number | null | undefined): ExecExit {
  if (signal) {
    const name =
      typeof signal === 'number'
        ? (Object.entries(os.constants.signals).find(([, n]) => n === signal)?.[0] as
            NodeJS.Signals | undefined)
        : signal;
    const number = typeof signal === 'number' ? signal : os.constants.signals[signal];
    return { exitCode: 128 + number, ...(name ? { signal: name } : {}) };
  }
  return { exitCode: code ?? 0 };
}

/** After the command exits, how long its output may stay open (held by something it left running). */
const OUTPUT_GRACE_MS = 2000;

function killTree(pid: number): void {
  killProcessTree(pid);
  try {
    // What left the tree but stayed in the command's group.
    process.kill(-pid, 'SIGKILL');
  } catch {
    // no group left
  }
}

function startPiped(
  file: string,
  argv: string[],
  context: ExecutionContext,
  options: ExecOptions,
): RunningExec {
  const child = spawn(file, argv.slice(1), {
    argv0: argv[0],
    cwd: context.directory,
    env: context.env,
    // Its own process group, so that what it leaves behind can be killed with it.
    detached: true,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(context.identity ? { uid: context.identity.uid, gid: context.identity.gid } : {}),
  });
  const stdout = child.stdout as Readable;
  const stderr = child.stderr as Readable;
  stdout.on('data', (chunk: Buffer) => options.onOutput('stdout', chunk));
  stderr.on('data', (chunk: Buffer) => options.onOutput('stderr', chunk));
  // A command that exits without reading its stdin must not fail the writer.
  child.stdin?.on('error', () => {});
  const done = new Promise<ExecExit>((resolve) => {
    let exit: ExecExit | undefined;
    child.once('error', (error: NodeJS.ErrnoException) => {
      options.onOutput('stderr', Buffer.from(`exec: ${JSON.stringify(argv[0])}: ${error.message}\n`));
      resolve({ exitCode: error.code === 'ENOENT' ? 127 : 126 });
    });
    child.once('exit', (code, signal) => {
      exit = exitOf(code, signal);
      setTimeout(() => {
        stdout.destroy();
        stderr.destroy();
      }, OUTPUT_GRACE_MS).unref();
    });
    child.once('close', (code, signal) => resolve(exit ?? exitOf(code, signal)));
  });
  return {
    get pid() {
      return child.pid ?? 0;
    },
    write: (data) => void child.stdin?.write(data),
    endInput: () => void child.stdin?.end(),
    resize: () => {},
    pause: () => {
      stdout.pause();
      stderr.pause();
    },
    resume: () => {
      stdout.resume();
      stderr.resume();
    },
    kill: () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
        killTree(child.pid);
    },
    done,
  };
}

function startTerminal(
  file: string,
  argv: string[],
  context: ExecutionContext,
  options: ExecOptions & { tty: { cols: number; rows: number } },
): RunningExec {
  const terminal = pty.spawn(file, argv.slice(1), {
    name: context.env.TERM ?? 'xterm',
    cols: options.tty.cols,
    rows: options.tty.rows,
    cwd: context.directory,
    // As a container runtime does for a terminal: TERM unless the container sets its own.
    env: { TERM: 'xterm', ...context.env },
    encoding: null,
    ...(context.identity ? { uid: context.identity.uid, gid: context.identity.gid } : {}),
  });
  let exited = false;
  terminal.onData((data) => options.onOutput('stdout', Buffer.from(data as unknown as Uint8Array)));
  // Linux ends reads of the terminal (EIO) as soon as the command's side closes, dropping what it
  // wrote last; holding that side open too keeps the output readable until the exit is reported.
  const ptsName = (terminal as unknown as { ptsName?: string }).ptsName;
  let held: number | undefined;
  try {
    if (ptsName) held = openSync(ptsName, constants.O_RDWR | constants.O_NOCTTY);
  } catch {
    // gone already: nothing more to read either
  }
  const done = new Promise<ExecExit>((resolve) =>
    terminal.onExit(({ exitCode, signal }) => {
      exited = true;
      if (held !== undefined) closeSync(held);
      resolve(exitOf(exitCode, signal));
    }),
  );
  return {
    pid: terminal.pid,
    // Bytes as they come (the pty's socket takes a Buffer, whatever its typing says).
    write: (data) => terminal.write(data as string),
    // A terminal has no end of file of its own: its EOF character, as a keyboard sends it.
    endInput: () => terminal.write('\x04'),
    resize: (cols, rows) => {
      if (!exited) terminal.resize(cols, rows);
    },
    pause: () => terminal.pause(),
    resume: () => terminal.resume(),
    kill: () => {
      if (!exited) killTree(terminal.pid);
    },
    done,
  };
}

/**
 * Starts `argv` (no shell unless argv names one) as the container's processes run: as its user, in
 * its directory, with its environment. A program that cannot be found or run is refused.
 */
export function startExec(
  argv: string[],
  context: ExecutionContext,
  options: ExecOptions,
): RunningExec | ExecRefused {
  const found = findProgram(argv[0] ?? '', context);
  if (!('file' in found)) return found;
  return options.tty
    ? startTerminal(found.file, argv, context, { ...options, tty: options.tty })
    : startPiped(found.file, argv, context, options);
}

/** A stream kept up to `limit` bytes; what is beyond is counted, not kept. */
class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.kept;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** What a one-shot exec printed and how it ended. */
export interface ExecResult extends ExecExit {
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
}

/**
 * Runs `argv` to its end with `stdin` as its input, keeping up to `maxOutputBytes` of each of
 * stdout and stderr; after `timeoutMs`, or when `signal` aborts (nobody waits for the result any
 * more), the command and everything it started are killed.
 */
export async function runExec(
  argv: string[],
  context: ExecutionContext,
  options: { stdin?: string; timeoutMs: number; maxOutputBytes: number; signal?: AbortSignal },
): Promise<ExecResult> {
  const output = {
    stdout: new BoundedOutput(options.maxOutputBytes),
    stderr: new BoundedOutput(options.maxOutputBytes),
  };
  const started = startExec(argv, context, {
    stdin: options.stdin !== undefined,
    onOutput: (stream, chunk) => output[stream].push(chunk),
  });
  const result = (exit: ExecExit, timedOut: boolean): ExecResult => ({
    ...exit,
    stdout: output.stdout.text(),
    stderr: output.stderr.text(),
    stdoutTruncated: output.stdout.truncated,
    stderrTruncated: output.stderr.truncated,
    timedOut,
  });
  if (!('pid' in started)) {
    output.stderr.push(Buffer.from(`${started.message}\n`));
    return result({ exitCode: started.exitCode }, false);
  }
  if (options.stdin !== undefined) {
    started.write(options.stdin);
    started.endInput();
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    started.kill();
  }, options.timeoutMs);
  const abandon = (): void => started.kill();
  options.signal?.addEventListener('abort', abandon);
  if (options.signal?.aborted) abandon();
  try {
    return result(await started.done, timedOut);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', abandon);
  }
}
