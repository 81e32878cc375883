import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SEER_API_VERSION } from '../../api/names.js';
import type { Container, SeerPod, SeerPodSpec } from '../../api/types.js';
import { buildPackage } from '../../packages/build.js';

/** Files of a package: path → content (a string starting with #! is made executable). */
export type PackageFiles = Record<string, string>;

/** Builds a package from `files` and returns its file:// reference and digest. */
export async function makePackage(
  files: PackageFiles,
): Promise<{ reference: string; digest: string; file: string }> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'seer-test-package-'));
  const dir = path.join(work, 'content');
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    if (content.startsWith('#!')) await chmod(file, 0o755);
  }
  await mkdir(dir, { recursive: true });
  const file = path.join(work, 'package.tar.gz');
  const built = await buildPackage(dir, file);
  return { reference: `file://${file}`, digest: built.digest, file };
}

export function seerPod(
  name: string,
  spec: Partial<SeerPodSpec> & { containers: Container[] },
  namespace = 'default',
): SeerPod {
  return { apiVersion: SEER_API_VERSION, kind: 'SeerPod', metadata: { name, namespace }, spec };
}

/** A shell program that prints its environment and working directory, then sleeps until SIGTERM. */
export const SLEEPER = `#!/bin/sh
echo "cwd=$(pwd)"
env | sort
trap 'echo bye; exit 0' TERM
while true; do sleep 0.2; done
`;
