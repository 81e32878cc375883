import { isDeepStrictEqual } from 'node:util';
import type { SeerKind } from '../../api/names.js';
import type { SeerObjects } from '../../kube/seer-client.js';
import { isNotFound } from '../../kube/errors.js';
import type { OperatorContext } from './context.js';

/** The status as the API server would return it (no undefined fields), for comparing. */
function plain(status: unknown): unknown {
  return status === undefined ? undefined : JSON.parse(JSON.stringify(status));
}

type StatusOf<K extends SeerKind> = SeerObjects[K] extends { status?: infer S } ? S : never;

/**
 * kubelet's status manager for a controller's own objects: it writes a status only when it differs,
 * and remembers what it wrote until the cache shows it, so a reconcile right after a write starts
 * from that status rather than an older cached one.
 */
export class WrittenStatus<K extends SeerKind> {
  private readonly written = new Map<string, { uid: string | undefined; status: StatusOf<K> }>();

  constructor(
    private readonly ctx: Pick<OperatorContext, 'client'>,
    private readonly kind: K,
  ) {}

  /** The status last written, while the cache still shows an older one; else the cached one. */
  previous(key: string, cached: SeerObjects[K]): StatusOf<K> | undefined {
    const current = (cached as { status?: StatusOf<K> }).status;
    const mine = this.written.get(key);
    if (!mine || mine.uid !== cached.metadata?.uid) return current;
    if (isDeepStrictEqual(plain(mine.status), plain(current))) this.written.delete(key);
    return mine.status;
  }

  /** Writes `status` unless `object` (with the previous status) already has it; a vanished object is fine. */
  async write(key: string, object: SeerObjects[K], status: StatusOf<K>): Promise<void> {
    if (isDeepStrictEqual(plain(status), plain((object as { status?: unknown }).status))) return;
    try {
      const updated = await this.ctx.client.patchStatus(this.kind, object, status as object);
      const stored = (updated as { status?: StatusOf<K> }).status ?? status;
      this.written.set(key, { uid: object.metadata?.uid, status: stored });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
  }

  /** Writes only `fields` of the status (a merge patch), and remembers the status that results. */
  async patch(key: string, object: SeerObjects[K], fields: object): Promise<void> {
    const updated = await this.ctx.client.patchStatus(this.kind, object, fields);
    this.remember(key, object, ((updated as { status?: StatusOf<K> }).status ?? {}) as StatusOf<K>);
  }

  /** Records a status written some other way (a patch of one field). */
  remember(key: string, object: SeerObjects[K], status: StatusOf<K>): void {
    this.written.set(key, { uid: object.metadata?.uid, status });
  }

  forget(key: string): void {
    this.written.delete(key);
  }
}
