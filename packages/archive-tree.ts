/** What one archive entry made at a path inside the package root. */
export type NodeKind = 'directory' | 'file' | 'symlink';

interface TreeNode {
  kind: NodeKind;
  /** For symlinks: the target as written in the archive. */
  target?: string;
}

// The kernel gives up after 40 symlinks in one lookup; so does the check, treating deeper chains as escapes.
const MAX_SYMLINK_DEPTH = 40;

/**
 * Splits an entry path into its components, or says why it is not allowed: absolute paths and `..`
 * anywhere are refused, `.` and empty components are dropped. The empty list is the root itself.
 */
export function entryPathComponents(entryPath: string): string[] | string {
  if (entryPath.startsWith('/')) return 'is an absolute path';
  if (entryPath.includes('\0')) return 'contains a NUL byte';
  const components = entryPath.split('/').filter((c) => c !== '' && c !== '.');
  if (components.includes('..')) return "contains '..'";
  return components;
}

/**
 * The tree an archive has built so far, kept in memory. Extraction consults it instead of the file
 * system: the staging directory is fresh and private, so the archive's own entries are the only
 * things in it, and nothing needs to be looked up (or followed) on disk.
 */
export class ArchiveTree {
  private readonly nodes = new Map<string, TreeNode>();

  get(components: string[]): TreeNode | undefined {
    return this.nodes.get(components.join('/'));
  }

  add(components: string[], kind: NodeKind, target?: string): void {
    this.nodes.set(components.join('/'), target === undefined ? { kind } : { kind, target });
  }

  /**
   * Why `components` cannot be created, if it cannot: an ancestor that is a symlink (writing through
   * it could land anywhere) or a file. Ancestors not yet in the tree are returned in `missing`, in
   * order, for the caller to create as directories.
   */
  checkAncestors(components: string[]): { refusal?: string; missing: string[][] } {
    const missing: string[][] = [];
    for (let depth = 1; depth < components.length; depth += 1) {
      const ancestor = components.slice(0, depth);
      const node = this.get(ancestor);
      if (node?.kind === 'symlink')
        return { refusal: `passes through the symlink ${ancestor.join('/')}`, missing };
      if (node?.kind === 'file')
        return { refusal: `is inside ${ancestor.join('/')}, which is a file`, missing };
      if (!node) missing.push(ancestor);
    }
    return { missing };
  }

  *symlinks(): Generator<[string, string]> {
    for (const [name, node] of this.nodes) if (node.kind === 'symlink') yield [name, node.target ?? ''];
  }

  /**
   * Whether following the symlink at `linkPath` (to `target`) stays inside the root, resolving any
   * symlinks of the archive it passes through the way the kernel would. Absolute targets are outside.
   */
  symlinkStaysInside(linkPath: string[], target: string): boolean {
    return this.resolve(linkPath.slice(0, -1), target, 0) !== undefined;
  }

  private resolve(start: string[], target: string, depth: number): string[] | undefined {
    if (target.startsWith('/') || depth > MAX_SYMLINK_DEPTH) return undefined;
    let current = [...start];
    for (const component of target.split('/')) {
      if (component === '' || component === '.') continue;
      if (component === '..') {
        if (current.length === 0) return undefined;
        current.pop();
        continue;
      }
      current.push(component);
      const node = this.get(current);
      if (node?.kind === 'symlink') {
        const resolved = this.resolve(current.slice(0, -1), node.target ?? '', depth + 1);
        if (!resolved) return undefined;
        current = resolved;
      }
    }
    return current;
  }
}
