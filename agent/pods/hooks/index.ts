import { componentConfigHook } from './component-config.js';
import { dataDirsHook } from './data-dirs.js';
import { directoriesHook } from './directories.js';
import type { HookEnvironment, PodHook } from './hook.js';
import { initContainersHook } from './init-containers.js';
import { packageHook } from './package.js';
import { processesHook } from './processes.js';

export { HookRunner, preparationOf } from './runner.js';
export * from './hook.js';

/**
 * A pod's steps on this host, in the order their prestarts run (stops run in reverse). A new step is
 * one hook module and one line here.
 */
export function podHooks(env: HookEnvironment): PodHook[] {
  return [
    // First, so that its stop, removing the pod's directory and the record in it, runs last.
    directoriesHook(env),
    packageHook(env),
    dataDirsHook(env),
    componentConfigHook(env),
    initContainersHook(env),
    processesHook(env),
  ];
}
