import { mkdir, rm } from 'node:fs/promises';
import type { HookEnvironment, PodHook } from './hook.js';

/**
 * The pod's own directory, `<root>/pod/<pod>`, with its log directory. Its stop, the last to run,
 * removes the whole directory: the containers' directories in it, the logs, and the agent's record.
 */
export function directoriesHook(env: HookEnvironment): PodHook {
  return {
    name: 'directories',
    async prestart({ entry }) {
      await mkdir(env.layout.logDir(entry.record.name), { recursive: true });
    },
    async stop({ entry }) {
      await rm(env.layout.podDir(entry.record.name), { recursive: true, force: true });
    },
  };
}
