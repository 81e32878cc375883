import { transition } from '../../api/conditions.js';
import type { SeerPod, SeerPodStatus } from '../../api/types.js';
import { isConflict } from '../../kube/errors.js';
import { objectKey } from '../../kube/keys.js';
import type { PodStore, StatusPatch } from './pod-store.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Equal as JSON values: key order does not matter, an undefined field is an absent one. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]))
    );
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((key) => sameJson(a[key], b[key]));
  }
  return a === b;
}

/**
 * The JSON merge patch (RFC 7386) that turns `from` into `to`: changed fields, and null for the
 * fields `to` no longer has. Undefined when there is no difference.
 */
export function mergePatch(from: Json, to: Json): Json | undefined {
  const patch: Json = {};
  for (const [key, value] of Object.entries(from)) {
    if (value !== undefined && to[key] === undefined) patch[key] = null;
  }
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) continue;
    const before = from[key];
    if (isObject(value) && isObject(before)) {
      const inner = mergePatch(before, value);
      if (inner) patch[key] = inner;
    } else if (!sameJson(before, value)) {
      patch[key] = value;
    }
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** A condition whose status has not changed keeps its transition time, as Kubernetes conditions do. */
function keepTransitionTimes(base: SeerPodStatus | undefined, status: SeerPodStatus): SeerPodStatus {
  if (!base?.conditions || !status.conditions) return status;
  return {
    ...status,
    conditions: status.conditions.map((condition) =>
      transition(base.conditions, condition, condition.last_transition_time ?? new Date()),
    ),
  };
}

/** What this agent last wrote for a pod. */
interface Written {
  uid?: string;
  status: SeerPodStatus;
  /** The pod's resourceVersion after the write, and before it (as the store had it then). */
  resourceVersion?: string;
  storeVersion?: string;
}

/** A status to build on: the pod's current one, and the resourceVersion it was current at. */
interface Base {
  status?: SeerPodStatus;
  resourceVersion?: string;
  storeVersion?: string;
}

const MAX_ATTEMPTS = 5;

/**
 * Writes pods' statuses, like kubelet's status manager: the pod manager hands it each pod's status
 * as computed, and it patches only what differs from the pod's current status, in order per pod.
 *
 * The current status is what this agent last wrote, unless the store has seen the pod change since
 * (someone else may have written it: the operator marks pods of a lost node Unknown), then the
 * store's copy. A write is made against the resourceVersion of that status: on a conflict, the pod is
 * read again and the difference worked out anew.
 */
export class StatusManager {
  private readonly written = new Map<string, Written>();
  private readonly writes = new Map<string, Promise<void>>();

  constructor(private readonly store: PodStore) {}

  /** The status the pod has now, as far as this agent knows: what a new status builds on. */
  current(pod: SeerPod): SeerPodStatus | undefined {
    return this.base(pod).status;
  }

  /**
   * Hands over the pod's status as computed now. Resolves once it is written (or nothing needed to
   * be); writes for one pod are chained, so an older status never lands after a newer one.
   */
  set(pod: SeerPod, status: SeerPodStatus): Promise<void> {
    const key = objectKey(pod);
    const write = (this.writes.get(key) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.write(key, pod, status));
    this.writes.set(key, write);
    void write
      .finally(() => {
        if (this.writes.get(key) === write) this.writes.delete(key);
      })
      .catch(() => undefined);
    return write;
  }

  /** The pod is gone: what was written for it no longer counts (a new pod may take its name). */
  forget(key: string): void {
    this.written.delete(key);
  }

  private base(pod: SeerPod): Base {
    const key = objectKey(pod);
    const stored = this.store.get(key) ?? pod;
    const storeVersion = stored.metadata.resourceVersion;
    const written = this.written.get(key);
    // The store has not seen the pod change since this agent's write (or has seen just that write).
    if (
      written &&
      written.uid === pod.metadata.uid &&
      (storeVersion === written.storeVersion || storeVersion === written.resourceVersion)
    ) {
      return { status: written.status, resourceVersion: written.resourceVersion, storeVersion };
    }
    return { status: stored.status, resourceVersion: storeVersion, storeVersion };
  }

  private async write(key: string, pod: SeerPod, computed: SeerPodStatus): Promise<void> {
    let base = this.base(pod);
    for (let attempt = 1; ; attempt++) {
      const status = keepTransitionTimes(base.status, computed);
      const patch = mergePatch((base.status ?? {}) as Json, status as Json);
      if (!patch) return;
      try {
        const result = await this.store.writeStatus(pod, patch as StatusPatch, base.resourceVersion);
        this.written.set(key, {
          uid: pod.metadata.uid,
          status,
          resourceVersion: result ? result.metadata.resourceVersion : base.resourceVersion,
          storeVersion: base.storeVersion,
        });
        return;
      } catch (error) {
        if (!isConflict(error) || attempt >= MAX_ATTEMPTS) throw error;
        const fresh = await this.store.read(key);
        if (!fresh || fresh.metadata.uid !== pod.metadata.uid) {
          this.forget(key);
          return;
        }
        base = {
          status: fresh.status,
          resourceVersion: fresh.metadata.resourceVersion,
          storeVersion: this.store.get(key)?.metadata.resourceVersion,
        };
      }
    }
  }
}
