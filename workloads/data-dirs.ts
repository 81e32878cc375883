import type { DataDirMount, Quantity, SeerPod } from '../api/types.js';
import { everyContainer } from '../api/pod-containers.js';
import { objectKey } from '../kube/keys.js';

/**
 * The data dirs a pod claims: those of its init containers and containers, once per claim name (the
 * first mention wins, so its size is the one recorded).
 */
export function podDataDirs(pod: SeerPod): DataDirMount[] {
  const claims = new Map<string, DataDirMount>();
  for (const container of everyContainer(pod.spec)) {
    for (const mount of container.data_dirs ?? []) if (!claims.has(mount.name)) claims.set(mount.name, mount);
  }
  return [...claims.values()];
}

/** The cache key of a pod's claim: the SeerDataDir of that name in the pod's namespace. */
export function claimKey(pod: SeerPod, claim: string): string {
  return `${pod.metadata.namespace ?? 'default'}/${claim}`;
}

/** The keys of every SeerDataDir the pod claims. */
export function podClaimKeys(pod: SeerPod): string[] {
  return podDataDirs(pod).map((mount) => claimKey(pod, mount.name));
}

/**
 * Which nodes the pods claiming each data dir are bound to, kept from the pod cache and the bindings
 * the scheduler makes, so that two pods claiming new data are placed together even before the
 * SeerDataDir exists.
 */
export class ClaimBindings {
  private readonly byClaim = new Map<string, Map<string, { node: string; size?: Quantity }>>();
  private readonly byPod = new Map<string, string[]>();

  putPod(pod: SeerPod): void {
    const key = objectKey(pod);
    this.removePod(key);
    const node = pod.spec.node_name;
    if (!node) return;
    const mounts = podDataDirs(pod);
    if (mounts.length === 0) return;
    const claims = mounts.map((mount) => claimKey(pod, mount.name));
    this.byPod.set(key, claims);
    mounts.forEach((mount, i) => {
      const claim = claims[i] ?? '';
      let pods = this.byClaim.get(claim);
      if (!pods) this.byClaim.set(claim, (pods = new Map()));
      pods.set(key, { node, size: mount.size });
    });
  }

  removePod(key: string): void {
    for (const claim of this.byPod.get(key) ?? []) {
      const pods = this.byClaim.get(claim);
      pods?.delete(key);
      if (pods?.size === 0) this.byClaim.delete(claim);
    }
    this.byPod.delete(key);
  }

  /** The node of some pod bound with this claim (they are all on one node unless placed by hand). */
  nodeOf(claim: string): string | undefined {
    const pods = this.byClaim.get(claim);
    return pods ? [...pods.values()].map((p) => p.node).sort()[0] : undefined;
  }

  /** The size the pods bound with this claim ask for, if any does. */
  sizeOf(claim: string): Quantity | undefined {
    return [...(this.byClaim.get(claim)?.values() ?? [])].find((p) => p.size !== undefined)?.size;
  }
}
