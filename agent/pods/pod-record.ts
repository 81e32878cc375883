import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ProcessSpec } from '../process/index.js';
import type { HostLayout } from './layout.js';

/** A config file this pod wrote into a component instance's sharing_dir. */
export interface SharedFile {
  /** The component instance pod (same namespace) whose directory holds the file. */
  instance: string;
  /** The instance's container whose reload command picks the file up. */
  container: string;
  path: string;
}

/**
 * What the agent keeps on disk about a pod it runs: enough to re-adopt its processes after a restart,
 * and to stop and clean them up even when the API server no longer has the pod.
 */
export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  /** Hash of the spec the processes were started from; a different spec means a restart. */
  spec_hash: string;
  /**
   * Per container: where its package is unpacked, from which digest, and (once unpacked) what its
   * supervisor runs.
   */
  containers: {
    name: string;
    directory: string;
    digest: string;
    process?: ProcessSpec;
    /** An init container: run to completion before the others, not supervised. */
    init?: boolean;
  }[];
  /** The init containers that have completed, in order: not run again. */
  init_done?: string[];
  /**
   * The pod hooks (see hooks/) whose prestart has completed, in order. Records written before there
   * were hooks lack it: there, a container with a process means every step was done.
   */
  hooks_done: string[];
  /** The last restart/reload annotation values acted on (each value is acted on once). */
  restart_requested?: string;
  reload_requested?: string;
  shared_files: SharedFile[];
}

export async function writePodRecord(layout: HostLayout, record: PodRecord): Promise<void> {
  const file = layout.recordFile(record.name);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp`;
  await writeFile(temp, JSON.stringify(record, null, 2));
  await rename(temp, file);
}

export async function readPodRecord(layout: HostLayout, pod: string): Promise<PodRecord | undefined> {
  try {
    return JSON.parse(await readFile(layout.recordFile(pod), 'utf8')) as PodRecord;
  } catch {
    return undefined;
  }
}

/** Every pod this host has a record of (what a previous agent left running). */
export async function readAllPodRecords(layout: HostLayout): Promise<PodRecord[]> {
  let names: string[];
  try {
    names = await readdir(layout.podsDir);
  } catch {
    return [];
  }
  const records = await Promise.all(names.map((name) => readPodRecord(layout, name)));
  return records.filter((r): r is PodRecord => r !== undefined);
}
