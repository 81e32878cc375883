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

/** When the line that ends at index `end` of the read had been written (ms since the epoch). */
export function stampOf(read: LogRead, times: WriteTimes, end: number): number {
  let part = read.parts[0];
  for (const candidate of read.parts) if (candidate.at < end) part = candidate;
  if (!part) return Date.now();
  if (part.base === undefined) return part.mtimeMs;
  return times.timeOf(part.base + (end - part.at)) ?? part.mtimeMs;
}

/** Index after each line of data[from…] (the last one may lack its newline). */
function* lineEnds(data: Buffer, from: number): Generator<number> {
  let position = from;
  while (position < data.length) {
    const newline = data.indexOf(0x0a, position);
    position = newline < 0 ? data.length : newline + 1;
    yield position;
  }
}

/** Index of the first line stamped `ms` or later (stamps only grow along a stream). */
export function firstLineSince(read: LogRead, times: WriteTimes, ms: number): number {
  let start = 0;
  for (const end of lineEnds(read.data, 0)) {
    if (stampOf(read, times, end) >= ms) return start;
    start = end;
  }
  return read.data.length;
}

/** An RFC 3339 time in UTC with milliseconds, as the prefix of a line. */
export function formatStamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** data[from…], each line prefixed with its stamp and a space, as `kubectl logs --timestamps` shows. */
export function withTimestamps(read: LogRead, times: WriteTimes, from: number): Buffer {
  const out: Buffer[] = [];
  let start = from;
  for (const end of lineEnds(read.data, from)) {
    out.push(Buffer.from(`${formatStamp(stampOf(read, times, end))} `), read.data.subarray(start, end));
    start = end;
  }
  return Buffer.concat(out);
}
