import { everyContainer } from '../../../api/pod-containers.js';
import { rm } from 'node:fs/promises';
import { errorMessage } from '../../../kube/errors.js';
import { applyPackageDefaults } from '../../../packages/metadata.js';
import { unpackPackage } from '../../../packages/unpack.js';
import type { PodRecord } from '../pod-record.js';
import { processSpec } from '../process-spec.js';
import { PodCannotRun, type HookEnvironment, type PodHook } from './hook.js';

/** A status write is worth it only for a pull that takes a while: a cached package is ready at once. */
const SLOW_PULL_MS = 250;

/**
 * Pulls and unpacks each container's package into its directory, and works out what its supervisor
 * will run (the spec with the package's defaults). A container done already is not done again. Its
 * stop removes the containers' directories (a deployment_dir lies outside the pod's directory).
 */
export function packageHook(env: HookEnvironment): PodHook {
  return {
    name: 'package',
    async prestart(context) {
      const { pod, entry, signal } = context;
      const { layout, packages } = env;
      const { record, timings } = entry;
      const name = pod.metadata.name ?? '';
      const slowPull = setTimeout(() => context.reportStatus(), SLOW_PULL_MS);
      try {
        const inits = new Set((pod.spec.init_containers ?? []).map((c) => c.name));
        for (const container of everyContainer(pod.spec)) {
          if (record.containers.some((c) => c.name === container.name && c.process)) continue;
          const directory = layout.containerDir(name, container);
          let mark = performance.now();
          const lap = (stage: 'pull_ms' | 'unpack_ms') => {
            const now = performance.now();
            timings[stage] += Math.round(now - mark);
            mark = now;
          };
          entry.preparing = { reason: 'Pulling', message: `pulling ${container.package}` };
          const fetched = await packages.fetch(container.package, {
            digest: container.package_digest,
            signal,
          });
          lap('pull_ms');
          // Recorded before unpacking: the directory is removed should the pod go meanwhile.
          const unpacked: PodRecord['containers'][number] = {
            name: container.name,
            directory,
            digest: fetched.digest,
            ...(inits.has(container.name) ? { init: true } : {}),
          };
          const index = record.containers.findIndex((c) => c.name === container.name);
          if (index >= 0) record.containers[index] = unpacked;
          else record.containers.push(unpacked);
          entry.preparing = {
            reason: 'Unpacking',
            message: `unpacking ${container.package} into ${directory}`,
          };
          const metadata = await unpackPackage(fetched.path, directory, env.unpackLimits);
          lap('unpack_ms');
          const effective = applyPackageDefaults(container, metadata);
          try {
            unpacked.process = processSpec(pod, effective, layout, env.node, directory, env.cgroups);
          } catch (error) {
            throw new PodCannotRun({ reason: 'InvalidContainer', message: errorMessage(error) });
          }
          await context.save();
        }
      } finally {
        clearTimeout(slowPull);
      }
    },
    async stop({ entry }) {
      for (const container of entry.record.containers) {
        await rm(container.directory, { recursive: true, force: true });
      }
    },
  };
}
