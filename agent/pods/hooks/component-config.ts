import { COMPONENT_LABEL } from '../../../api/names.js';
import { errorMessage } from '../../../kube/errors.js';
import { objectKey } from '../../../kube/keys.js';
import type { PodRecord } from '../pod-record.js';
import { removeSharedFiles, SharedFileConflictError, writeSharedFiles } from '../shared-config.js';
import { PodCannotRun, PodNotReady, type HookEnvironment, type PodHook } from './hook.js';

/**
 * The pod's required components: waits until each one's instance on this node runs and is ready,
 * writes the pod's config files into the instance's sharing_dir and reloads the instance. Its stop
 * removes those files and reloads the instances again.
 */
export function componentConfigHook(env: HookEnvironment): PodHook {
  const { layout, logger } = env;
  return {
    name: 'component-config',
    async prestart({ pod, entry }) {
      const uid = pod.metadata.uid ?? '';
      const written: PodRecord['shared_files'] = [];
      for (const required of pod.spec.required_components ?? []) {
        const instance = env
          .pods()
          .find(
            (p) =>
              p.metadata.namespace === pod.metadata.namespace &&
              p.metadata.labels?.[COMPONENT_LABEL] === required.name &&
              !p.metadata.deletionTimestamp,
          );
        const supervisors = instance && env.supervisorsOf(objectKey(instance));
        const ready =
          supervisors !== undefined &&
          supervisors.size > 0 &&
          [...supervisors.values()].every((s) => s.status().ready && s.status().started);
        if (!instance || !supervisors || !ready) {
          await removeSharedFiles(layout, uid, written);
          throw new PodNotReady({
            reason: 'WaitingForComponent',
            message: instance
              ? `waiting for component ${required.name} (pod ${instance.metadata.name}) to be running and ready on this node`
              : `waiting for an instance of component ${required.name} on this node`,
          });
        }
        if (!required.config || Object.keys(required.config).length === 0) continue;
        try {
          const files = await writeSharedFiles(layout, pod, instance, required.config);
          written.push(...files);
          for (const container of new Set(files.map((f) => f.container))) {
            await supervisors.get(container)?.reload();
          }
        } catch (error) {
          await removeSharedFiles(layout, uid, written);
          const reason =
            error instanceof SharedFileConflictError ? 'ConfigConflict' : 'ComponentConfigFailed';
          throw new PodCannotRun({ reason, message: errorMessage(error) });
        }
      }
      entry.record.shared_files = written;
    },
    async stop({ entry }) {
      const { record } = entry;
      if (record.shared_files.length === 0) return;
      await removeSharedFiles(layout, record.uid, record.shared_files);
      const reloads = new Set(
        record.shared_files.map((f) => `${record.namespace}/${f.instance}\0${f.container}`),
      );
      // Removed and reloaded once: stopping again has nothing left to do.
      record.shared_files = [];
      for (const entry of reloads) {
        const [instanceKey = '', container = ''] = entry.split('\0');
        try {
          await env.supervisorsOf(instanceKey)?.get(container)?.reload();
        } catch (error) {
          logger.warn({ instance: instanceKey, err: errorMessage(error) }, 'component reload failed');
        }
      }
    },
  };
}
