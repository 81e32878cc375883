import { runToCompletion } from '../../process/run-to-completion.js';
import { PodCannotRun, PodStepFailed, type HookEnvironment, type PodHook } from './hook.js';

/**
 * Runs the pod's init containers once each, in order, to completion, before its containers start
 * (Kubernetes' init containers, systemd's oneshot units ordered Before=). One that fails is run again
 * with the pod's back-off (never, with restart_policy never); those done are recorded and not run
 * again, after an agent restart either.
 */
export function initContainersHook(env: HookEnvironment): PodHook {
  return {
    name: 'init-containers',
    async prestart(context) {
      const { entry, signal } = context;
      const inits = entry.record.containers.filter((c) => c.init && c.process);
      const done = (entry.record.init_done ??= []);
      for (const [index, init] of inits.entries()) {
        if (done.includes(init.name) || !init.process) continue;
        entry.preparing = {
          reason: 'PodInitializing',
          message: `init container ${index + 1}/${inits.length} (${init.name}) running`,
        };
        context.reportStatus();
        env.logger.info({ pod: entry.key, container: init.name }, 'init container started');
        const failure = await runToCompletion(init.process, signal);
        if (signal.aborted) throw new Error(`pod ${entry.key} is going away`);
        if (failure) {
          const preparation = {
            reason: 'InitContainerFailed',
            message: `init container ${init.name} ${failure}`,
          };
          if (init.process.restart_policy === 'never') throw new PodCannotRun(preparation);
          throw new PodStepFailed(preparation);
        }
        done.push(init.name);
        await context.save();
        env.logger.info({ pod: entry.key, container: init.name }, 'init container completed');
      }
    },
  };
}
