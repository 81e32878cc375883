import { closeSync, fstatSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { Writable } from 'node:stream';
import { rotations, withLogLock, type Rotation } from '../process/log-rotation.js';
import { lastWriteMs, WriteTimes } from '../process/log-times.js';
import { firstLineSince, withTimestamps, type LogPart, type LogRead } from './log-stamps.js';
import { lastLines, streamFiles, type LogQuery } from './logs.js';

const POLL_MS = 200;
const CHUNK = 64 * 1024;
/** A fast writer's backlog is sent in pieces of this size, so a follower's memory stays bounded. */
const POLL_BYTES = 1024 * 1024;

function readRange(fd: number, start: number, end = Infinity): Buffer {
  const parts: Buffer[] = [];
  let position = start;
  while (position < end) {
    const buffer = Buffer.alloc(Math.min(CHUNK, end - position));
    const read = readSync(fd, buffer, 0, buffer.length, position);
    if (read === 0) break;
    parts.push(buffer.subarray(0, read));
    position += read;
  }
  return Buffer.concat(parts);
}

function readFileRange(file: string, start: number, end: number): { data: Buffer; mtimeMs: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { data: Buffer.alloc(0), mtimeMs: 0 };
  }
  try {
    return { data: readRange(fd, start, end), mtimeMs: lastWriteMs(fstatSync(fd)) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Follows one stream's live file from a position, across rotations: a rotation (announced under the
 * file's lock) that moved bytes this reader had not read yet to `.1` has them read from there before
 * the reader goes on in the live file, so no byte is skipped or read twice. It ends once the file is
 * no longer the live one (the run ended and a new one started, or the pod went).
 */
class StreamFollower {
  private fd: number | undefined;
  private offset = 0;
  /** Stream offset (see log-times) of the next byte poll() returns. */
  private next = 0;
  private pending: Buffer[] = [];
  ended = false;
  behind = false;
  /** The stream's write-time index as it was at start(). */
  times = new WriteTimes([], []);
  private readonly onRotation = (rotation: Rotation) => {
    if (rotation.file !== this.live || this.fd === undefined) return;
    if (this.offset >= rotation.removed) this.offset -= rotation.removed;
    else {
      this.pending.push(readFileRange(`${this.live}.1`, this.offset, rotation.removed).data);
      this.offset = 0;
    }
  };

  constructor(readonly live: string) {}

  /**
   * What the files hold now (rotated ones, then the live one), and from now on follows the live one
   * (unless `follow` is false: a snapshot taken under the lock, so no rotation tears it).
   */
  start(follow = true): Promise<LogRead> {
    return withLogLock(this.live, () => {
      this.times = WriteTimes.read(this.live);
      const contents: Buffer[] = [];
      const parts: LogPart[] = [];
      let at = 0;
      const rotated = this.rotatedFiles();
      rotated.forEach((file, index) => {
        const { data, mtimeMs } = readFileRange(file, 0, Infinity);
        parts.push({ at, base: this.times.base(rotated.length - index), mtimeMs });
        contents.push(data);
        at += data.length;
      });
      try {
        this.fd = openSync(this.live, 'r');
      } catch {
        this.ended = true;
        return { data: Buffer.concat(contents), parts };
      }
      const now = readRange(this.fd, 0);
      const base = this.times.base() ?? 0;
      parts.push({ at, base, mtimeMs: lastWriteMs(fstatSync(this.fd)) });
      contents.push(now);
      this.offset = now.length;
      this.next = base + now.length;
      if (follow) rotations.on('rotated', this.onRotation);
      else this.stop();
      return { data: Buffer.concat(contents), parts };
    });
  }

  /**
   * What was written since the last call (and moved to `.1` meanwhile, first), at most POLL_BYTES
   * of the live file: `behind` says there is more to read at once.
   */
  poll(): Promise<LogRead> {
    return withLogLock(this.live, () => {
      if (this.fd === undefined) return { data: Buffer.alloc(0), parts: [] };
      const fresh = readRange(this.fd, this.offset, this.offset + POLL_BYTES);
      this.offset += fresh.length;
      this.behind = fresh.length === POLL_BYTES;
      const data = Buffer.concat([...this.pending, fresh]);
      const read: LogRead = {
        data,
        parts: [{ at: 0, base: this.next, mtimeMs: lastWriteMs(fstatSync(this.fd)) }],
      };
      this.next += data.length;
      this.pending = [];
      let current: number | undefined;
      try {
        current = statSync(this.live).ino;
      } catch {
        current = undefined;
      }
      if (!this.behind && current !== fstatSync(this.fd).ino) {
        // Not the live file any more; what it held has just been read.
        this.stop();
        this.ended = true;
      }
      return read;
    });
  }

  stop(): void {
    rotations.off('rotated', this.onRotation);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private rotatedFiles(): string[] {
    const dir = this.live.slice(0, this.live.lastIndexOf('/'));
    const name = this.live.slice(this.live.lastIndexOf('/') + 1);
    const container = name.replace(/\.(stdout|stderr)\.log$/, '');
    const stream = name.endsWith('.stderr.log') ? 'stderr' : 'stdout';
    return streamFiles(dir, container, stream).slice(0, -1);
  }
}

/**
 * Waits for a write to any of `files` (inotify, through fs.watch) or POLL_MS, whichever comes
 * first: a follower reads as soon as the writer has written, as tail -f does, and the timer still
 * catches what a watch misses (a file replaced, a watch that failed). A write while nobody waits
 * makes the next wait return at once.
 */
class Wakeup {
  private readonly watchers: FSWatcher[] = [];
  private resolve: (() => void) | undefined;
  private written = false;

  constructor(
    files: string[],
    private readonly signal: AbortSignal,
  ) {
    for (const file of files) {
      try {
        this.watchers.push(watch(file, { persistent: false }, () => this.wake()));
      } catch {
        // the timer alone, then
      }
    }
  }

  private wake(): void {
    if (this.resolve) this.resolve();
    else this.written = true;
  }

  next(): Promise<void> {
    if (this.written) {
      this.written = false;
      // Through the event loop, so the rest of the agent (its timers, rotation among them) goes on.
      return new Promise((resolve) => setImmediate(resolve));
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        this.resolve = undefined;
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      this.signal.addEventListener('abort', done);
      this.resolve = done;
    });
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
  }
}

/**
 * What one stream's reads become on the way out: as they are, or (several streams, or timestamps)
 * whole lines only, the partial last line held back until it ends, so lines of two streams never
 * interleave mid-line and each line is stamped once it is complete.
 */
class LineOutput {
  private rest: LogRead = { data: Buffer.alloc(0), parts: [] };

  constructor(
    private readonly wholeLines: boolean,
    private readonly timestamps: boolean,
    private readonly times: () => WriteTimes,
  ) {}

  /** The first read, cut to the lines since `sinceMs` and then to the last `tailLines` of them. */
  first(read: LogRead, query: LogQuery): Buffer {
    let from = 0;
    if (query.sinceSeconds !== undefined)
      from = firstLineSince(read, this.times(), Date.now() - query.sinceSeconds * 1000);
    if (query.tailLines !== undefined)
      from = read.data.length - lastLines(read.data.subarray(from), query.tailLines).length;
    return this.take(cut(read, from));
  }

  take(read: LogRead): Buffer {
    if (!this.wholeLines && !this.timestamps) return read.data;
    const all = join(this.rest, read);
    const end = all.data.lastIndexOf(0x0a) + 1;
    this.rest = cut(all, end);
    return this.render(cut(all, 0, end));
  }

  flush(): Buffer {
    const rest = this.rest;
    this.rest = { data: Buffer.alloc(0), parts: [] };
    return this.render(rest);
  }

  private render(read: LogRead): Buffer {
    return this.timestamps ? withTimestamps(read, this.times(), 0) : read.data;
  }
}

/** data[from…end] of a read, its parts moved along. */
function cut(read: LogRead, from: number, end = read.data.length): LogRead {
  const parts: LogPart[] = [];
  for (const part of read.parts) {
    if (part.at >= end) break;
    const skipped = Math.max(0, from - part.at);
    const next = {
      ...part,
      at: part.at + skipped - from,
      base: part.base === undefined ? undefined : part.base + skipped,
    };
    // A later part starting at or before `from` supersedes this one.
    if (parts.length > 0 && (parts.at(-1)?.at ?? 0) >= next.at) parts.pop();
    parts.push(next);
  }
  return { data: read.data.subarray(from, end), parts };
}

/** Two reads of the same stream, one after the other. */
function join(first: LogRead, second: LogRead): LogRead {
  if (first.data.length === 0) return second;
  const parts = [
    ...first.parts,
    ...second.parts.map((part) => ({ ...part, at: part.at + first.data.length })),
  ];
  return { data: Buffer.concat([first.data, second.data]), parts };
}

async function write(out: Writable, data: Buffer): Promise<void> {
  if (data.length > 0 && !out.write(data)) await new Promise((resolve) => out.once('drain', resolve));
}

/**
 * Writes a container's log as `query` asks (with `follow`, and then what its run writes from then
 * on, until the run ends or `signal` aborts: the client went away). Each stream is read whole into
 * memory first: at most its rotated files and the live one.
 */
export async function followLogs(
  out: Writable,
  logDir: string,
  container: string,
  query: LogQuery,
  signal: AbortSignal,
): Promise<void> {
  const streams: ('stdout' | 'stderr')[] = query.stream === 'all' ? ['stdout', 'stderr'] : [query.stream];
  const previous = query.previous;
  const followers = streams.map((stream) => {
    const follower = new StreamFollower(streamFiles(logDir, container, stream, previous).at(-1) ?? '');
    const lines = new LineOutput(streams.length > 1, query.timestamps === true, () => follower.times);
    return { follower, lines };
  });
  // The previous run's log is complete: following it is reading it.
  const follow = query.follow === true && !previous;
  const wake = new Wakeup(follow ? followers.map(({ follower }) => follower.live) : [], signal);
  try {
    for (const { follower, lines } of followers)
      await write(out, lines.first(await follower.start(follow), query));
    while (follow && !signal.aborted && followers.some(({ follower }) => !follower.ended)) {
      if (!followers.some(({ follower }) => follower.behind)) await wake.next();
      for (const { follower, lines } of followers) {
        if (!follower.ended) await write(out, lines.take(await follower.poll()));
      }
    }
    for (const { lines } of followers) await write(out, lines.flush());
  } finally {
    wake.close();
    for (const { follower } of followers) follower.stop();
  }
}
