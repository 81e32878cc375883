import type { SeerDataDir } from '../../api/types.js';

/** Where a pod may go because of the data it claims. */
export type DataDirPin =
  /** No claimed data is on any node yet: every node is a candidate. */
  | { anywhere: true }
  /** Claimed data is on this node: only it is a candidate. */
  | { node: string; claim: string }
  /** The pod cannot be placed now, for this reason. */
  | { wait: string };

/** What the scheduler knows of one claim: the SeerDataDir, and the node of any bound pod claiming it. */
export interface ClaimLocation {
  dataDir?: SeerDataDir;
  /** The node of a bound pod claiming it, for data whose SeerDataDir is not written or seen yet. */
  boundOn?: string;
}

const claimName = (key: string) => key.slice(key.indexOf('/') + 1);

/**
 * Decides the candidates for a pod that claims data dirs. Data is sticky: once a claim's directory is
 * on a node (its SeerDataDir's node_name, or a pod claiming it is bound there), every pod claiming it
 * goes there or waits; it is never placed elsewhere. A claim being deleted makes the pod wait until the
 * data is gone, so it does not start on data that is about to be removed.
 */
export function dataDirPin(claims: string[], locate: (claim: string) => ClaimLocation): DataDirPin {
  const nodes = new Map<string, string>();
  for (const claim of claims) {
    const { dataDir, boundOn } = locate(claim);
    if (dataDir?.metadata.deletionTimestamp) {
      return { wait: `data dir ${claimName(claim)} is being deleted; the pod waits until it is gone` };
    }
    const node = dataDir?.spec?.node_name ?? boundOn;
    if (node && !nodes.has(node)) nodes.set(node, claim);
  }
  if (nodes.size > 1) {
    const where = [...nodes].map(([node, claim]) => `${claimName(claim)} on node ${node}`).join(', ');
    return { wait: `the pod's data dirs are on different nodes (${where}): no node has all its data` };
  }
  const [only] = nodes;
  return only ? { node: only[0], claim: claimName(only[1]) } : { anywhere: true };
}
