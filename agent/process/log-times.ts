import { appendFileSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { withLogLock } from './log-rotation.js';

/**
 * When each byte of a log stream was written. A process writes its log file itself (it must outlive
 * the agent), so no line passes through the agent to be stamped; instead the agent samples the file
 * and keeps, beside it in `<file>.times`, an append-only index:
 *
 *   <end> <ms>    by <ms> (the file's mtime: its last write) the stream held <end> bytes
 *   r <removed>   a rotation cut <removed> bytes from the live file's head (they went to `.1`)
 *
 * Offsets count every byte the stream ever held, so rotations do not move them: the live file's byte
 * 0 is at the sum of all removals, `.1`'s at that sum less the last one, and so on. A line is stamped
 * with the first sample that holds its end: about one sampling interval after it was written at
 * most, and never before it (to within the kernel's file-time granularity, a clock tick).
 */
export function timesFile(file: string): string {
  return `${file}.times`;
}

export interface WriteTime {
  /** Stream offset: this many bytes had been written … */
  end: number;
  /** … by this time (ms since the epoch). */
  ms: number;
}

/** A stream's index, read. */
export class WriteTimes {
  constructor(
    readonly samples: WriteTime[],
    /** Bytes each rotation removed, oldest first. */
    readonly removals: number[],
  ) {}

  static read(file: string): WriteTimes {
    let text = '';
    try {
      text = readFileSync(timesFile(file), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return WriteTimes.parse(text);
  }

  /** Lenient: a torn last line (the agent killed mid-append) or a foreign line is skipped. */
  static parse(text: string): WriteTimes {
    const samples: WriteTime[] = [];
    const removals: number[] = [];
    for (const line of text.split('\n')) {
      const rotation = /^r (\d+)$/.exec(line);
      if (rotation) {
        removals.push(Number(rotation[1]));
        continue;
      }
      const sample = /^(\d+) (\d+)$/.exec(line);
      if (!sample) continue;
      const end = Number(sample[1]);
      const ms = Number(sample[2]);
      const last = samples.at(-1);
      if (!last || (end > last.end && ms >= last.ms)) samples.push({ end, ms });
    }
    return new WriteTimes(samples, removals);
  }

  /**
   * The stream offset of byte 0 of the file `rotated` rotations back (0: the live file, 1: `.1` …);
   * undefined when the index does not go back that far (a file from before it was kept).
   */
  base(rotated = 0): number | undefined {
    if (rotated > this.removals.length) return undefined;
    let sum = 0;
    for (let i = 0; i < this.removals.length - rotated; i++) sum += this.removals[i] ?? 0;
    return sum;
  }

  /** When the line ending at stream offset `end` had been written; undefined when not sampled yet. */
  timeOf(end: number): number | undefined {
    let low = 0;
    let high = this.samples.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.samples[mid]?.end ?? 0) >= end) high = mid;
      else low = mid + 1;
    }
    return this.samples[low]?.ms;
  }

  /** The stream offset after which every line is stamped `ms` or later. */
  firstOffsetAt(ms: number): number {
    let offset = 0;
    for (const sample of this.samples) {
      if (sample.ms >= ms) break;
      offset = sample.end;
    }
    return offset;
  }

  format(): string {
    return [
      ...this.removals.map((removed) => `r ${removed}\n`),
      ...this.samples.map(({ end, ms }) => `${end} ${ms}\n`),
    ].join('');
  }
}

/** A file's last write time in whole ms, rounded up so that a stamp is never before the write. */
export function lastWriteMs(info: { mtimeMs: number }): number {
  return Math.ceil(info.mtimeMs);
}

/** Appends a rotation's record; called under the file's lock, right after the cut. */
export function recordRotation(file: string, removed: number): void {
  appendFileSync(timesFile(file), `r ${removed}\n`, { mode: 0o640 });
}

/** Samples beyond which an index is compacted. */
const MAX_SAMPLES = 4096;

/**
 * Keeps an index small: removals older than the files kept (`maxFiles` rotated ones) add up into
 * one, samples before the oldest kept byte go, and while more than half of MAX_SAMPLES remain the
 * older half is thinned to every other sample, so recent lines keep the finest stamps and an index
 * never outgrows a bound, whatever the log's pace. A thinned line is stamped later, never earlier.
 */
export function compact(times: WriteTimes, maxFiles: number): WriteTimes {
  const kept = times.removals.slice(-maxFiles);
  const older = times.removals.slice(0, times.removals.length - kept.length);
  const removals = older.length > 0 ? [older.reduce((a, b) => a + b, 0), ...kept] : kept;
  const oldest = new WriteTimes([], removals).base(kept.length) ?? 0;
  let samples = times.samples.filter((sample) => sample.end > oldest);
  while (samples.length > MAX_SAMPLES / 2) {
    const half = Math.floor(samples.length / 2);
    samples = [...samples.slice(0, half).filter((_, i) => i % 2 === 1), ...samples.slice(half)];
  }
  return new WriteTimes(samples, removals);
}

/** Moves a finished run's index with its log (see keepPreviousRun); none is fine. */
export function moveTimes(file: string, previous: string): void {
  try {
    renameSync(timesFile(file), timesFile(previous));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

interface StreamState {
  /** Stream offset of the live file's byte 0. */
  base: number;
  /** The last sample's end. */
  end: number;
  /** Samples in the index since it was last compacted. */
  samples: number;
  /** The index's size after this recorder's last write: another size means someone else wrote. */
  indexBytes: number;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Samples log files on a timer and appends to their indexes when they have grown. */
export class WriteTimeRecorder {
  private readonly state = new Map<string, StreamState>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();

  constructor(
    private readonly files: string[],
    private readonly maxFiles: number,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sampleAll());
    }, this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops, once a sample under way has been written and the last writes stamped: a run has ended. */
  async settle(): Promise<void> {
    this.stop();
    await this.sampling;
    await this.sampleAll();
  }

  /** Samples each file once (under its lock, so that no rotation moves its bytes meanwhile). */
  async sampleAll(): Promise<void> {
    for (const file of this.files) await withLogLock(file, () => this.sample(file)).catch(() => undefined);
  }

  /** What the index says, read again whenever it changed under this recorder (a rotation, a move). */
  private current(file: string): StreamState {
    const index = timesFile(file);
    const known = this.state.get(file);
    const indexBytes = sizeOf(index);
    if (known && known.indexBytes === indexBytes) return known;
    const times = WriteTimes.read(file);
    const state = {
      base: times.base() ?? 0,
      end: times.samples.at(-1)?.end ?? 0,
      samples: times.samples.length,
      indexBytes,
    };
    this.state.set(file, state);
    return state;
  }

  private sample(file: string): void {
    let info;
    try {
      info = statSync(file);
    } catch {
      return;
    }
    const state = this.current(file);
    const end = state.base + info.size;
    if (end <= state.end) return;
    // mtime, not now: the last write's time, also right for what was written while no agent ran.
    const line = `${end} ${lastWriteMs(info)}\n`;
    appendFileSync(timesFile(file), line, { mode: 0o640 });
    state.end = end;
    state.indexBytes += Buffer.byteLength(line);
    if (++state.samples > MAX_SAMPLES) {
      const compacted = compact(WriteTimes.read(file), this.maxFiles).format();
      writeFileSync(`${timesFile(file)}.tmp`, compacted, { mode: 0o640 });
      renameSync(`${timesFile(file)}.tmp`, timesFile(file));
      this.state.delete(file);
    }
  }
}
