import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerState } from './status.js';

/**
 * What a later agent needs to re-adopt a container's process, or to carry on its restart policy
 * when the process died while no agent was watching.
 */
export interface PersistedContainer {
  version: 1;
  name: string;
  /** `running`: `pid` is the supervised process; `backoff`: a restart was due at `next_restart_at`. */
  phase: 'running' | 'backoff' | 'stopped' | 'exited' | 'failed';
  pid?: number;
  /** /proc/<pid>/stat field 22, to recognise a reused pid. */
  proc_start_time?: number;
  /** Signals go to the process group `pid` leads. */
  signals_group?: boolean;
  /** The pid is the program itself rather than a shell running it (SIGHUP goes to the pid alone). */
  execs?: boolean;
  started_at?: string;
  restart_count: number;
  state: ContainerState;
  last_state?: ContainerState;
  backoff: { failures: number; next_restart_at?: string };
  /** Automatic restarts within the restart limit's window (see RestartLimit). */
  recent_restarts?: string[];
}

/** Written with a temporary file and a rename, so a reader (or a crash) never sees half a file. */
export function writeStateFile(file: string, state: PersistedContainer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

export class CorruptStateFileError extends Error {}

/** Undefined when there is no state file (never started here). */
export async function readStateFile(file: string): Promise<PersistedContainer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CorruptStateFileError(`state file ${file} is not JSON: ${(error as Error).message}`);
  }
  const state = value as Partial<PersistedContainer> | null;
  if (
    !state ||
    state.version !== 1 ||
    typeof state.phase !== 'string' ||
    typeof state.restart_count !== 'number' ||
    typeof state.state !== 'object' ||
    typeof state.backoff?.failures !== 'number'
  ) {
    throw new CorruptStateFileError(`state file ${file} is not a version 1 container state`);
  }
  return state as PersistedContainer;
}
