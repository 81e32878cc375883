import {
  chown,
  lstat,
  mkdir,
  readlink,
  realpath,
  rmdir,
  stat,
  statfs,
  symlink,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { everyContainer } from '../../../api/pod-containers.js';
import type { DataDirMount } from '../../../api/types.js';
import { parseQuantity } from '../../../common/quantities.js';
import { errorMessage } from '../../../kube/errors.js';
import { resolveUser } from '../../process/user.js';
import { PodCannotRun, PodNotReady, PodStepFailed, type HookEnvironment, type PodHook } from './hook.js';

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** "10.0Gi": free space in the words of quantities. */
function gibibytes(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)}Gi`;
}

/**
 * Makes a claim's directory under the data root, owned by the container's user and private to it
 * (databases insist), after checking that the filesystem has the space the claim asks for. A directory
 * that exists already is the data itself: only its owner is made right.
 */
async function makeDataDir(dataRoot: string, dir: string, mount: DataDirMount, user?: string): Promise<void> {
  const exists = await stat(dir).then(
    (s) => s.isDirectory(),
    (error: unknown) => {
      if (errno(error) === 'ENOENT') return false;
      throw error;
    },
  );
  if (!exists) {
    await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
    if (mount.size !== undefined) {
      const needed = parseQuantity(mount.size);
      const fs = await statfs(dataRoot);
      const free = fs.bavail * fs.bsize;
      if (free < needed) {
        throw new PodStepFailed({
          reason: 'InsufficientSpace',
          message: `data dir ${mount.name} needs ${String(mount.size)} but ${dataRoot} has ${gibibytes(free)} free`,
        });
      }
    }
    await mkdir(dir, { mode: 0o700 }).catch((error: unknown) => {
      if (errno(error) !== 'EEXIST') throw error;
    });
  }
  if (!user) return;
  let identity;
  try {
    identity = await resolveUser(user);
  } catch (error) {
    throw new PodCannotRun({ reason: 'InvalidContainer', message: errorMessage(error) });
  }
  if (process.getuid?.() === 0) await chown(dir, identity.uid, identity.gid);
}

/**
 * Links `link` (in the container directory) to the data. A link already there is kept; an empty
 * directory the package shipped as a placeholder is replaced; anything else is the package's own
 * content, which the data must not hide. The link's parent must resolve inside the container
 * directory, so a package's symlink cannot send the data elsewhere.
 */
async function linkDataDir(
  containerDir: string,
  mount: DataDirMount,
  dir: string,
  container: string,
): Promise<void> {
  const link = path.join(containerDir, mount.path);
  const refuse = (why: string) =>
    new PodCannotRun({
      reason: 'DataDirConflict',
      message: `container ${container}: data dir ${mount.name} cannot be linked at ${mount.path}: ${why}`,
    });
  await mkdir(path.dirname(link), { recursive: true });
  const [root, parent] = await Promise.all([realpath(containerDir), realpath(path.dirname(link))]);
  if (parent !== root && !parent.startsWith(root + path.sep)) {
    throw refuse(`${path.dirname(mount.path)} leads outside the container directory`);
  }
  const existing = await lstat(link).catch((error: unknown) => {
    if (errno(error) === 'ENOENT') return undefined;
    throw error;
  });
  if (existing?.isSymbolicLink()) {
    if ((await readlink(link)) === dir) return;
    await unlink(link);
  } else if (existing?.isDirectory()) {
    await rmdir(link).catch((error: unknown) => {
      if (errno(error) === 'ENOTEMPTY' || errno(error) === 'EEXIST')
        throw refuse('the package has files there');
      throw error;
    });
  } else if (existing) {
    throw refuse('the package has a file there');
  }
  await symlink(dir, link);
}

/**
 * Gives each container its data dirs: once the claim is placed on this node, the directory under the
 * data root (made the first time), linked at the claimed path in the container directory. Its stop
 * does nothing: the data outlives the pod (the package hook's stop removes the links with the
 * container directories, never what they point to); only deleting the SeerDataDir removes it.
 */
export function dataDirsHook(env: HookEnvironment): PodHook {
  return {
    name: 'data-dirs',
    async prestart({ pod, entry }) {
      const namespace = pod.metadata.namespace ?? 'default';
      for (const container of everyContainer(pod.spec)) {
        const unpacked = entry.record.containers.find((c) => c.name === container.name);
        if (!unpacked) continue;
        for (const mount of container.data_dirs ?? []) {
          const why = env.dataDirs.unavailable(namespace, mount.name);
          if (why) throw new PodNotReady({ reason: 'DataDirPending', message: why });
          const dir = env.layout.dataDir(namespace, mount.name);
          entry.preparing = { reason: 'DataDirs', message: `preparing data dir ${mount.name} at ${dir}` };
          await makeDataDir(env.layout.dataRoot, dir, mount, unpacked.process?.user ?? container.user);
          await linkDataDir(unpacked.directory, mount, dir, container.name);
          await env.dataDirs.made(namespace, mount.name, dir);
        }
      }
    },
  };
}
