import { EventEmitter } from 'node:events';
import type { SeerPod } from '../../../api/types.js';
import { objectKey } from '../../../kube/keys.js';
import type { PodStore, StatusPatch } from '../../../agent/pods/pod-store.js';

/** A status write as the store received it. */
export interface StatusWrite {
  key: string;
  patch: StatusPatch;
  resourceVersion?: string;
}

/**
 * Pods held in memory: what the API server would list for this node. Status writes are recorded,
 * not applied (like a watch that has not delivered them yet); `conflicts` makes the next writes fail
 * with 409.
 */
export class MemoryPodStore extends EventEmitter<{ changed: [string] }> implements PodStore {
  readonly pods = new Map<string, SeerPod>();
  readonly writes: StatusWrite[] = [];
  /** What read() returns instead of the listed pod (the API server's newer copy). */
  readonly fresh = new Map<string, SeerPod>();
  conflicts = 0;
  private version = 100;

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  get(key: string): SeerPod | undefined {
    return this.pods.get(key);
  }
  list(): SeerPod[] {
    return [...this.pods.values()];
  }
  async read(key: string): Promise<SeerPod | undefined> {
    return this.fresh.get(key) ?? this.pods.get(key);
  }
  async writeStatus(pod: SeerPod, patch: StatusPatch, resourceVersion?: string): Promise<SeerPod> {
    this.writes.push({ key: objectKey(pod), patch, resourceVersion });
    if (this.conflicts > 0) {
      this.conflicts--;
      throw Object.assign(new Error('409: the object has been modified'), { code: 409 });
    }
    return { ...pod, metadata: { ...pod.metadata, resourceVersion: String(++this.version) } };
  }
  async addFinalizer(): Promise<void> {}
  async removeFinalizer(): Promise<void> {}
  put(pod: SeerPod): void {
    this.pods.set(objectKey(pod), pod);
    this.emit('changed', objectKey(pod));
  }
  remove(pod: SeerPod): void {
    this.pods.delete(objectKey(pod));
    this.emit('changed', objectKey(pod));
  }
}
