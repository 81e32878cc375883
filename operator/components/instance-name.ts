import { createHash } from 'node:crypto';

/** The instance pod of a component on a node: a stable name within the 63 characters of a label. */
export function instanceName(component: string, node: string): string {
  return `${component}-${createHash('sha256').update(node).digest('hex').slice(0, 8)}`;
}
