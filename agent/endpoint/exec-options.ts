import { BadQuery } from './logs.js';

/** What POST …/exec runs: the argv, how long it may take, and what it reads on stdin. */
export interface ExecRequest {
  command: string[];
  timeoutSeconds: number;
  stdin?: string;
}

/** What a WebSocket exec attaches: the argv and the streams, as kubelet's query names them. */
export interface ExecStreamOptions {
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** The query's own container=, when given (it must name the path's). */
  container?: string;
}

export const DEFAULT_TIMEOUT_SECONDS = 60;
export const MAX_TIMEOUT_SECONDS = 24 * 3600;
/** The largest stdin a POST may carry. */
export const MAX_STDIN_BYTES = 1024 * 1024;

const MISSING_COMMAND =
  'command is required: the argv, one command= per word (command=sh&command=-c&command=...), or "command": [...] in a JSON body';

function checkCommand(command: unknown[]): string[] {
  if (command.length === 0) throw new BadQuery(MISSING_COMMAND);
  for (const word of command) {
    if (typeof word !== 'string') throw new BadQuery(`command must be strings, not ${JSON.stringify(word)}`);
    if (word.includes('\0')) throw new BadQuery('command words cannot contain NUL');
  }
  if (command[0] === '') throw new BadQuery('command[0], the program, is empty');
  return command as string[];
}

function parseTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^[1-9]\d*$/.test(text) || Number(text) > MAX_TIMEOUT_SECONDS)
    throw new BadQuery(
      `timeout_seconds must be a whole number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}, not ${JSON.stringify(value)}`,
    );
  return Number(text);
}

function refuseUnknown(names: Iterable<string>, known: Set<string>, where: string): void {
  for (const name of names)
    if (!known.has(name))
      throw new BadQuery(`unknown ${where} ${JSON.stringify(name)}; known: ${[...known].join(', ')}`);
}

const POST_QUERY = new Set(['command', 'timeout_seconds']);
const POST_BODY = new Set(['command', 'timeout_seconds', 'stdin']);

/**
 * Reads POST …/exec: the query (command=, timeout_seconds=) or a JSON body ({"command": [...],
 * "timeout_seconds": N, "stdin": "..."}); a parameter may come from one of them, not both.
 */
export function parseExecRequest(params: URLSearchParams, body: string): ExecRequest {
  refuseUnknown(params.keys(), POST_QUERY, 'parameter');
  let json: Record<string, unknown> = {};
  if (body.trim() !== '') {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (error) {
      throw new BadQuery(`the body is not JSON: ${(error as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new BadQuery('the body must be a JSON object such as {"command": ["ls", "-l"]}');
    json = value as Record<string, unknown>;
    refuseUnknown(Object.keys(json), POST_BODY, 'body field');
  }
  for (const name of POST_QUERY)
    if (params.has(name) && json[name] !== undefined)
      throw new BadQuery(`${name} is given both in the query and in the body`);
  let command: unknown[];
  if (json.command !== undefined) {
    if (!Array.isArray(json.command))
      throw new BadQuery(
        `"command" must be an array of strings (the argv), not ${JSON.stringify(json.command)}`,
      );
    command = json.command as unknown[];
  } else command = params.getAll('command');
  const request: ExecRequest = {
    command: checkCommand(command),
    timeoutSeconds: parseTimeout(
      json.timeout_seconds !== undefined
        ? json.timeout_seconds
        : (params.get('timeout_seconds') ?? undefined),
    ),
  };
  if (json.stdin !== undefined) {
    if (typeof json.stdin !== 'string')
      throw new BadQuery(`"stdin" must be a string, not ${JSON.stringify(json.stdin)}`);
    if (Buffer.byteLength(json.stdin) > MAX_STDIN_BYTES)
      throw new BadQuery(`"stdin" is larger than ${MAX_STDIN_BYTES} bytes`);
    request.stdin = json.stdin;
  }
  return request;
}

function parseFlag(params: URLSearchParams, name: string, fallback: boolean): boolean {
  const values = params.getAll(name);
  if (values.length === 0) return fallback;
  if (values.length > 1) throw new BadQuery(`${name} is given ${values.length} times`);
  const value = values[0] ?? '';
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new BadQuery(`${name} must be true or false (or 1 or 0), not ${JSON.stringify(value)}`);
}

const STREAM_QUERY = new Set(['command', 'stdin', 'stdout', 'stderr', 'tty', 'container']);

/**
 * Reads the query of a WebSocket exec as kubelet does: stdout and stderr default to true, stdin and
 * tty to false, a terminal has no separate stderr, and at least one stream must be attached.
 */
export function parseExecStreamQuery(params: URLSearchParams): ExecStreamOptions {
  refuseUnknown(params.keys(), STREAM_QUERY, 'parameter');
  const tty = parseFlag(params, 'tty', false);
  const options: ExecStreamOptions = {
    command: checkCommand(params.getAll('command')),
    stdin: parseFlag(params, 'stdin', false),
    stdout: parseFlag(params, 'stdout', true),
    // A terminal merges stderr into its one output.
    stderr: parseFlag(params, 'stderr', true) && !tty,
    tty,
  };
  if (!options.stdin && !options.stdout && !options.stderr)
    throw new BadQuery('attach at least one of stdin, stdout and stderr');
  const container = params.getAll('container');
  if (container.length > 1) throw new BadQuery('container is given more than once');
  if (container[0] !== undefined) options.container = container[0];
  return options;
}
