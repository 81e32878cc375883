import { closeSync, fstatSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { Writable } from 'node:stream';
import { rotations, withLogLock, type Rotation } from '../process/log-rotation.js';
import { lastLines, streamFiles, type LogQuery } from './logs.js';

const POLL_MS = 200;
const CHUNK = 64 * 1024;

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

function readFileRange(file: string, start: number, end: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    return readRange(fd, start, end);
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
  private pending: Buffer[] = [];
  ended = false;
  private readonly onRotation = (rotation: Rotation) => {
    if (rotation.file !== this.live || this.fd === undefined) return;
    if (this.offset >= rotation.removed) this.offset -= rotation.removed;
    else {
      this.pending.push(readFileRange(`${this.live}.1`, this.offset, rotation.removed));
      this.offset = 0;
    }
  };

  constructor(readonly live: string) {}

  /** What the files hold now (rotated ones, then the live one), and from now on follows the live one. */
  start(): Promise<Buffer[]> {
    return withLogLock(this.live, () => {
      const contents: Buffer[] = [];
      for (const file of this.rotatedFiles()) contents.push(readFileRange(file, 0, Infinity));
      try {
        this.fd = openSync(this.live, 'r');
      } catch {
        this.ended = true;
        return contents;
      }
      const now = readRange(this.fd, 0);
      contents.push(now);
      this.offset = now.length;
      rotations.on('rotated', this.onRotation);
      return contents;
    });
  }

  /** What was written since the last call (and moved to `.1` meanwhile, first). */
  poll(): Promise<Buffer> {
    return withLogLock(this.live, () => {
      if (this.fd === undefined) return Buffer.alloc(0);
      const fresh = readRange(this.fd, this.offset);
      this.offset += fresh.length;
      const out = Buffer.concat([...this.pending, fresh]);
      this.pending = [];
      let current: number | undefined;
      try {
        current = statSync(this.live).ino;
      } catch {
        current = undefined;
      }
      if (current !== fstatSync(this.fd).ino) {
        // Not the live file any more; what it held has just been read.
        this.stop();
        this.ended = true;
      }
      return out;
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

/** Holds back a partial last line, so lines of two streams never interleave mid-line. */
class Lines {
  private rest = Buffer.alloc(0);
  take(data: Buffer): Buffer {
    const all = Buffer.concat([this.rest, data]);
    const end = all.lastIndexOf(0x0a) + 1;
    this.rest = all.subarray(end);
    return all.subarray(0, end);
  }
  flush(): Buffer {
    const rest = this.rest;
    this.rest = Buffer.alloc(0);
    return rest;
  }
}

async function write(out: Writable, data: Buffer): Promise<void> {
  if (data.length > 0 && !out.write(data)) await new Promise((resolve) => out.once('drain', resolve));
}

/**
 * Writes a container's current log as `query` asks, then what its run writes from then on, until
 * the run ends or `signal` aborts (the client went away).
 */
export async function followLogs(
  out: Writable,
  logDir: string,
  container: string,
  query: LogQuery,
  signal: AbortSignal,
): Promise<void> {
  const streams: ('stdout' | 'stderr')[] = query.stream === 'all' ? ['stdout', 'stderr'] : [query.stream];
  const followers = streams.map((stream) => ({
    follower: new StreamFollower(streamFiles(logDir, container, stream).at(-1) ?? ''),
    lines: new Lines(),
  }));
  const whole = (lines: Lines, data: Buffer) => (followers.length > 1 ? lines.take(data) : data);
  const wake = new Wakeup(
    followers.map(({ follower }) => follower.live),
    signal,
  );
  try {
    for (const { follower, lines } of followers) {
      const contents = Buffer.concat(await follower.start());
      await write(
        out,
        whole(lines, query.tailLines === undefined ? contents : lastLines(contents, query.tailLines)),
      );
    }
    while (!signal.aborted && followers.some(({ follower }) => !follower.ended)) {
      await wake.next();
      for (const { follower, lines } of followers) {
        if (!follower.ended) await write(out, whole(lines, await follower.poll()));
      }
    }
    for (const { lines } of followers) await write(out, lines.flush());
  } finally {
    wake.close();
    for (const { follower } of followers) follower.stop();
  }
}
