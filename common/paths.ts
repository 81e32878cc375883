import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (or installed package) root: compiled modules live in dist/<dir>/. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function repoPath(...segments: string[]): string {
  return path.join(root, ...segments);
}
