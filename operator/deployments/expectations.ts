type Change = 'creation' | 'deletion';

/**
 * Pod creations and deletions a deployment's reconcile has asked for that the pod cache has not shown
 * yet (Kubernetes' controller expectations). Until it has, a reconcile would count from a cache that
 * is behind and create or delete the same pods twice, so it waits. An expectation that is never seen
 * (a watch event lost to a relist) expires, so nothing waits forever.
 */
export class PodExpectations {
  private readonly pending = new Map<string, { changes: Set<string>; expires: number }>();

  constructor(private readonly timeoutMs = 60_000) {}

  /** The reconcile of `key` is about to create or delete the pod `podName`. */
  expect(key: string, change: Change, podName: string, now = Date.now()): void {
    const entry = this.pending.get(key) ?? { changes: new Set<string>(), expires: 0 };
    entry.changes.add(`${change}:${podName}`);
    entry.expires = now + this.timeoutMs;
    this.pending.set(key, entry);
  }

  /** The cache has shown the change, or the request for it failed: nothing to wait for. */
  observed(key: string, change: Change, podName: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    entry.changes.delete(`${change}:${podName}`);
    if (entry.changes.size === 0) this.pending.delete(key);
  }

  /** How long the reconcile of `key` must still wait; 0 when it may go ahead. */
  waitMs(key: string, now = Date.now()): number {
    const entry = this.pending.get(key);
    if (!entry) return 0;
    if (now >= entry.expires) {
      this.pending.delete(key);
      return 0;
    }
    return entry.expires - now;
  }

  forget(key: string): void {
    this.pending.delete(key);
  }
}
