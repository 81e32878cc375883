import { DEPLOYMENT_LABEL, NODE_PHASE } from '../../api/names.js';
import type { SeerNode, SeerPod } from '../../api/types.js';

export interface NodeTimeouts {
  /** A node whose Lease has not been renewed for this long is Unknown. */
  gracePeriodMs: number;
  /** A node Unknown for this long has its deployment-owned pods released, to be replaced elsewhere. */
  evictionTimeoutMs: number;
}

/** What the node lifecycle controller does for one node, decided from its caches and a clock. */
export interface NodePlan {
  /** The node's Ready condition to write, when it changes. */
  mark?: 'Ready' | 'Unknown';
  /** Its pods whose phase becomes Unknown. */
  podsUnknown: SeerPod[];
  /** Its deployment pods to release, so their deployments replace them on healthy nodes. */
  release: SeerPod[];
  /** Look again after this long, when the next deadline passes. */
  recheckAfterMs?: number;
}

/** A little past each deadline, so the recheck never lands just before it. */
const MARGIN_MS = 100;

/**
 * Plans one node: Ready again while its Lease is renewed within the grace period; Unknown (and its
 * pods with it) after that; its deployment pods released once the eviction timeout has passed too.
 * `silentMs` is how long since this operator last saw the node's Lease renewed.
 */
export function planNode(
  node: SeerNode,
  pods: SeerPod[],
  silentMs: number,
  timeouts: NodeTimeouts,
): NodePlan {
  const { gracePeriodMs, evictionTimeoutMs } = timeouts;
  const unknown = node.status?.phase === NODE_PHASE.Unknown;
  if (silentMs < gracePeriodMs) {
    return {
      ...(unknown ? { mark: 'Ready' as const } : {}),
      podsUnknown: [],
      release: [],
      recheckAfterMs: gracePeriodMs - silentMs + MARGIN_MS,
    };
  }
  const podsUnknown = pods.filter((p) => p.status?.phase !== 'Unknown' && !p.metadata.deletionTimestamp);
  const evict = silentMs >= gracePeriodMs + evictionTimeoutMs;
  return {
    ...(unknown ? {} : { mark: 'Unknown' as const }),
    podsUnknown,
    release: evict ? pods.filter((p) => p.metadata.labels?.[DEPLOYMENT_LABEL]) : [],
    ...(evict ? {} : { recheckAfterMs: gracePeriodMs + evictionTimeoutMs - silentMs + MARGIN_MS }),
  };
}
