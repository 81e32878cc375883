import type { WriteTimes } from '../process/log-times.js';

/** Where one file's bytes begin in a read, and what is known of when they were written. */
export interface LogPart {
  /** Index in the read's data of the part's first byte. */
  at: number;
  /** Stream offset of that byte (see log-times); unknown for a file older than its index. */
  base: number | undefined;
  /** The file's mtime when read: the stamp of what no sample holds yet. */
  mtimeMs: number;
}

/** Bytes of one stream read from one or more of its files, oldest first. */
export interface LogRead {
  data: Buffer;
  parts: LogPart[];
}

/**
 * Stamps the lines of a read in order: parts and samples are walked forward only, as line ends
 * only grow, so stamping costs the same per line whatever the index's length.
 */
class StampCursor {
  private part = 0;
  private sample = 0;
  private lastMs = NaN;
  private lastPrefix = Buffer.alloc(0);

  constructor(
    private readonly read: LogRead,
    private readonly times: WriteTimes,
  ) {}

  /** When the line that ends at index `end` of the read had been written (ms since the epoch). */
  at(end: number): number {
    const parts = this.read.parts;
    while (this.part + 1 < parts.length && (parts[this.part + 1]?.at ?? 0) < end) this.part++;
    const part = parts[this.part];
    if (!part) return Date.now();
    if (part.base === undefined) return part.mtimeMs;
    const offset = part.base + (end - part.at);
    const samples = this.times.samples;
    while (this.sample < samples.length && (samples[this.sample]?.end ?? 0) < offset) this.sample++;
    return samples[this.sample]?.ms ?? part.mtimeMs;
  }

  /** The prefix for that line; consecutive lines mostly share one. */
  prefix(end: number): Buffer {
    const ms = this.at(end);
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastPrefix = Buffer.from(`${formatStamp(ms)} `, 'latin1');
    }
    return this.lastPrefix;
  }
}

/** Index after the line that starts at `start` (the last one may lack its newline). */
function lineEnd(data: Buffer, start: number): number {
  const newline = data.indexOf(0x0a, start);
  return newline < 0 ? data.length : newline + 1;
}

/** Index of the first line stamped `ms` or later (stamps only grow along a stream). */
export function firstLineSince(read: LogRead, times: WriteTimes, ms: number): number {
  const stamps = new StampCursor(read, times);
  for (let start = 0; start < read.data.length; start = lineEnd(read.data, start))
    if (stamps.at(lineEnd(read.data, start)) >= ms) return start;
  return read.data.length;
}

/** An RFC 3339 time in UTC with milliseconds, as the prefix of a line. */
export function formatStamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** Room for a prefix: 24 characters until the year 10000, and a space. */
const PREFIX_ROOM = 32;

/** data[from…], each line prefixed with its stamp and a space, as `kubectl logs --timestamps` shows. */
export function withTimestamps(read: LogRead, times: WriteTimes, from: number): Buffer {
  const data = read.data;
  let lines = 0;
  for (let start = from; start < data.length; start = lineEnd(data, start)) lines++;
  const out = Buffer.allocUnsafe(data.length - from + lines * PREFIX_ROOM);
  const stamps = new StampCursor(read, times);
  let position = 0;
  for (let start = from; start < data.length;) {
    const end = lineEnd(data, start);
    position += stamps.prefix(end).copy(out, position);
    position += data.copy(out, position, start, end);
    start = end;
  }
  return out.subarray(0, position);
}
