import { createReadStream, existsSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { logPaths, previousLogPaths } from '../process/log-files.js';

export type LogStream = 'stdout' | 'stderr' | 'all';

export interface LogQuery {
  stream: LogStream;
  /** Only the last N lines of each stream. */
  tailLines?: number;
  /** The log of the run before the current one. */
  previous: boolean;
  /** Go on writing what the run writes, until it ends. */
  follow?: boolean;
  /** Only the lines written in the last this many seconds (before tailLines applies). */
  sinceSeconds?: number;
  /** Each line prefixed with when it was written (RFC 3339, UTC). */
  timestamps?: boolean;
}

/** A query the endpoint cannot answer: 400 with this message. */
export class BadQuery extends Error {}

const KNOWN = new Set(['stream', 'tail_lines', 'previous', 'follow', 'since_seconds', 'timestamps']);

/** Reads and checks the logs query string; any unknown or malformed parameter is refused. */
export function parseLogQuery(params: URLSearchParams): LogQuery {
  for (const name of params.keys())
    if (!KNOWN.has(name)) throw new BadQuery(`unknown parameter ${JSON.stringify(name)}`);
  const stream = params.get('stream') ?? 'all';
  if (stream !== 'stdout' && stream !== 'stderr' && stream !== 'all')
    throw new BadQuery(`stream must be stdout, stderr or all, not ${JSON.stringify(stream)}`);
  const query: LogQuery = { stream, previous: parseFlag(params, 'previous') ?? false };
  const follow = parseFlag(params, 'follow');
  if (follow !== undefined) query.follow = follow;
  const timestamps = parseFlag(params, 'timestamps');
  if (timestamps !== undefined) query.timestamps = timestamps;
  const tailLines = parseTailLines(params);
  if (tailLines !== undefined) query.tailLines = tailLines;
  const since = params.get('since_seconds');
  if (since !== null) {
    if (!/^\d+$/.test(since) || Number(since) === 0)
      throw new BadQuery(`since_seconds must be a positive whole number, not ${JSON.stringify(since)}`);
    query.sinceSeconds = Number(since);
  }
  return query;
}

function parseFlag(params: URLSearchParams, name: string): boolean | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  if (value !== 'true' && value !== 'false')
    throw new BadQuery(`${name} must be true or false, not ${JSON.stringify(value)}`);
  return value === 'true';
}

/** `tail_lines`, a whole number when given: anything else (negative, fractional, words) is refused. */
export function parseTailLines(params: URLSearchParams): number | undefined {
  const tail = params.get('tail_lines');
  if (tail === null) return undefined;
  if (!/^\d+$/.test(tail))
    throw new BadQuery(`tail_lines must be a whole number, not ${JSON.stringify(tail)}`);
  return Number(tail);
}

/** A stream's files, oldest first: those of `.N` … `.1` that exist, then the live one (of the previous run if asked). */
export function streamFiles(
  logDir: string,
  container: string,
  stream: 'stdout' | 'stderr',
  previous = false,
): string[] {
  const live = (previous ? previousLogPaths : logPaths)(logDir, container)[stream];
  // The path is built from names the API validated; this keeps any other name out of the directory.
  if (path.dirname(path.resolve(live)) !== path.resolve(logDir))
    throw new BadQuery(`container ${JSON.stringify(container)} is not a valid name`);
  // Rotation keeps `.1`, `.2`… without gaps, as many as the agent's container_log_max_files.
  const rotated: string[] = [];
  while (existsSync(`${live}.${rotated.length + 1}`)) rotated.push(`${live}.${rotated.length + 1}`);
  return [...rotated.reverse(), live];
}

async function readWhole(file: string): Promise<Buffer | undefined> {
  try {
    const handle = await open(file, 'r');
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The last `count` lines of `data`; all of it when it has no more. A final line may lack its newline. */
export function lastLines(data: Buffer, count: number): Buffer {
  if (count === 0) return data.subarray(data.length);
  let pos = data.length > 0 && data[data.length - 1] === 0x0a ? data.length - 1 : data.length;
  for (let i = 0; i < count; i++) {
    if (pos <= 0) return data;
    const newline = data.lastIndexOf(0x0a, pos - 1);
    if (newline < 0) return data;
    pos = newline;
  }
  return data.subarray(pos + 1);
}

/** The last `count` lines of an open file, reading it backwards a block at a time, only as far as needed. */
export async function tailOfFile(handle: FileHandle, count: number): Promise<Buffer> {
  const block = 64 * 1024;
  let position = (await handle.stat()).size;
  let data = Buffer.alloc(0);
  while (position > 0) {
    const length = Math.min(block, position);
    position -= length;
    const chunk = Buffer.alloc(length);
    const { bytesRead } = await handle.read(chunk, 0, length, position);
    data = Buffer.concat([chunk.subarray(0, bytesRead), data]);
    const lines = lastLines(data, count);
    if (lines.length < data.length) return lines;
  }
  return data;
}

/** The last `count` lines across `files` (oldest first), reading older files only as needed. */
async function tail(files: string[], count: number): Promise<Buffer> {
  let data = Buffer.alloc(0);
  for (const file of [...files].reverse()) {
    const older = await readWhole(file);
    if (!older || older.length === 0) continue;
    data = Buffer.concat([older, data]);
    const lines = lastLines(data, count);
    if (lines.length < data.length) return lines;
  }
  return data;
}

/** Whether a container has run before its current run (its log was kept as the previous one). */
export async function hasPreviousRun(logDir: string, container: string): Promise<boolean> {
  const paths = previousLogPaths(logDir, container);
  for (const file of [paths.stdout, paths.stderr]) {
    try {
      await stat(file);
      return true;
    } catch {
      // look at the other
    }
  }
  return false;
}

/** Writes a container's log, as `query` asks, to `out` (which stays open). */
export async function writeLogs(
  out: Writable,
  logDir: string,
  container: string,
  query: LogQuery,
): Promise<void> {
  const streams: ('stdout' | 'stderr')[] = query.stream === 'all' ? ['stdout', 'stderr'] : [query.stream];
  for (const stream of streams) {
    const files = streamFiles(logDir, container, stream, query.previous);
    if (query.tailLines !== undefined) {
      const data = await tail(files, query.tailLines);
      if (data.length > 0 && !out.write(data)) await new Promise((resolve) => out.once('drain', resolve));
      continue;
    }
    for (const file of files) {
      const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!handle) continue;
      await pipeline(createReadStream('', { fd: handle.fd, autoClose: false }), out, { end: false }).finally(
        () => handle.close(),
      );
    }
  }
}
