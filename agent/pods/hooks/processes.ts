import type { HookEnvironment, PodHook } from './hook.js';

/**
 * The containers' processes: hands each container to a supervisor, which starts it (or, on a fresh
 * supervisor whose state file names a live process, adopts that one) and keeps it running. After an
 * agent restart it adopts what the previous agent left running; its stop runs each stop sequence.
 */
export function processesHook(env: HookEnvironment): PodHook {
  return {
    name: 'processes',
    async prestart({ entry }) {
      entry.startTime ??= new Date().toISOString();
      const begun = performance.now();
      for (const container of entry.record.containers) {
        if (container.init || !container.process || entry.supervisors.has(container.name)) continue;
        const supervisor = env.supervisor(entry.key, container.process);
        entry.supervisors.set(container.name, supervisor);
        await supervisor.start();
      }
      entry.timings.start_ms += Math.round(performance.now() - begun);
      env.logger.info({ pod: entry.key, ...entry.timings }, 'pod started');
    },
    async restore({ entry }) {
      entry.startTime = new Date().toISOString();
      for (const container of entry.record.containers) {
        if (container.init || !container.process || entry.supervisors.has(container.name)) continue;
        const supervisor = env.supervisor(entry.key, container.process);
        entry.supervisors.set(container.name, supervisor);
        const adopted = await supervisor.adopt();
        env.logger.info(
          { pod: entry.key, container: container.name, adopted },
          'took over from the previous agent',
        );
      }
    },
    async stop({ entry }) {
      const supervisors = [...entry.supervisors.values()];
      await Promise.all(supervisors.map((s) => s.stop('pod removed from this node')));
      entry.supervisors.clear();
    },
  };
}
