import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SeerPod } from '../../api/types.js';
import type { HostLayout } from './layout.js';
import type { SharedFile } from './pod-record.js';

/** A dependent's config file name is already taken in the component's sharing_dir by another pod. */
export class SharedFileConflictError extends Error {}

/** Which pod (by uid) wrote each file into an instance's sharing_dir. */
type Owners = Record<string, { uid: string; pod: string }>;

function ownersFile(layout: HostLayout, instance: string): string {
  return path.join(layout.recordDir(instance), 'shared-files.json');
}

async function readOwners(layout: HostLayout, instance: string): Promise<Owners> {
  try {
    return JSON.parse(await readFile(ownersFile(layout, instance), 'utf8')) as Owners;
  } catch {
    return {};
  }
}

async function writeOwners(layout: HostLayout, instance: string, owners: Owners): Promise<void> {
  const file = ownersFile(layout, instance);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(owners, null, 2));
  await rename(`${file}.tmp`, file);
}

/** The instance's containers that take dependents' files, with their sharing directories. */
export function sharingDirs(instance: SeerPod, layout: HostLayout): { container: string; dir: string }[] {
  const name = instance.metadata.name ?? '';
  return instance.spec.containers
    .filter((c) => c.sharing_dir)
    .map((c) => ({ container: c.name, dir: path.join(layout.containerDir(name, c), c.sharing_dir ?? '') }));
}

/**
 * Writes a dependent's config files into every sharing_dir of a component instance. A file name that
 * another pod already wrote is refused (and nothing of this dependent's is written): the first writer
 * keeps its file.
 */
export async function writeSharedFiles(
  layout: HostLayout,
  dependent: SeerPod,
  instance: SeerPod,
  config: Record<string, string>,
): Promise<SharedFile[]> {
  const instanceName = instance.metadata.name ?? '';
  const uid = dependent.metadata.uid ?? '';
  const dirs = sharingDirs(instance, layout);
  if (dirs.length === 0) {
    throw new Error(
      `component instance ${instanceName} has no container with a sharing_dir for config files`,
    );
  }
  const owners = await readOwners(layout, instanceName);
  const planned: SharedFile[] = [];
  for (const { container, dir } of dirs) {
    for (const fileName of Object.keys(config)) {
      const file = path.join(dir, fileName);
      const owner = owners[file];
      if (owner && owner.uid !== uid) {
        throw new SharedFileConflictError(
          `${fileName} in ${instanceName}'s sharing_dir is already written by pod ${owner.pod}`,
        );
      }
      planned.push({ instance: instanceName, container, path: file });
    }
  }
  for (const shared of planned) {
    await mkdir(path.dirname(shared.path), { recursive: true });
    await writeFile(`${shared.path}.seer-tmp`, config[path.basename(shared.path)] ?? '');
    await rename(`${shared.path}.seer-tmp`, shared.path);
    owners[shared.path] = { uid, pod: dependent.metadata.name ?? '' };
  }
  await writeOwners(layout, instanceName, owners);
  return planned;
}

/** Removes the files a dependent wrote (only those it still owns). */
export async function removeSharedFiles(layout: HostLayout, uid: string, files: SharedFile[]): Promise<void> {
  const byInstance = new Map<string, SharedFile[]>();
  for (const file of files) byInstance.set(file.instance, [...(byInstance.get(file.instance) ?? []), file]);
  for (const [instance, instanceFiles] of byInstance) {
    // The instance is gone, and its directory with it.
    if (!existsSync(layout.podDir(instance))) continue;
    const owners = await readOwners(layout, instance);
    for (const file of instanceFiles) {
      if (owners[file.path] && owners[file.path]?.uid !== uid) continue;
      await rm(file.path, { force: true });
      delete owners[file.path];
    }
    await writeOwners(layout, instance, owners);
  }
}
