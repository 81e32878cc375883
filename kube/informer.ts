import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { objectKey, type KubernetesObject } from './keys.js';
import type { RestClient, WatchEvent } from './rest.js';

export interface InformerOptions {
  client: RestClient;
  /** The collection's URL path, e.g. /apis/seer.io/v1alpha1/seerpods. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** After a failed list or watch, wait this long (doubling up to maxBackoffMs) before listing again. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Ask the server to end each watch after this many seconds (then it resumes from the last version). */
  watchTimeoutSeconds?: number;
  /**
   * Every this many milliseconds, tell the handlers about every cached object again (an `update` with
   * the same object twice), so a controller that missed or mishandled an event converges anyway.
   */
  resyncMs?: number;
  /** Told about failures; the informer keeps retrying on its own. */
  onError?: (error: unknown) => void;
}

export interface InformerEvents<T> {
  add: [T];
  update: [T, T];
  delete: [T];
  synced: [];
}

/**
 * A shared cache of one collection kept current by list + watch. Unlike client-node's ListWatch it
 * never gives up: a failed list or watch is retried with exponential backoff and jitter (so an API
 * server coming back is not flooded), an expired resource version (410) relists, and a watch that
 * ends normally resumes from the last version it saw.
 */
export class Informer<T extends KubernetesObject> extends EventEmitter<InformerEvents<T>> {
  private readonly objects = new Map<string, T>();
  private resourceVersion = '';
  private stopped = false;
  private synced = false;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private wakeBackoff: (() => void) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: InformerOptions) {
    super();
  }

  /** Starts listing and watching; resolves once the first list has filled the cache. */
  start(): Promise<void> {
    const synced = new Promise<void>((resolve) => this.once('synced', resolve));
    this.loop = this.run();
    if (this.options.resyncMs) {
      this.resyncTimer = setInterval(() => {
        for (const object of this.objects.values()) this.emit('update', object, object);
      }, this.options.resyncMs);
      this.resyncTimer.unref();
    }
    return synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.abort?.abort();
    this.wakeBackoff?.();
    await this.loop;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  private async run(): Promise<void> {
    let backoffMs = this.options.initialBackoffMs ?? 200;
    const maxBackoffMs = this.options.maxBackoffMs ?? 30_000;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        const watchStarted = Date.now();
        await this.watchOnce();
        // A watch the server ends at once, again and again, must not become a busy loop.
        if (Date.now() - watchStarted < 1000) await this.backoff(backoffMs);
        else backoffMs = this.options.initialBackoffMs ?? 200;
      } catch (error) {
        if (this.stopped) break;
        if (isGone(error)) {
          this.resourceVersion = '';
          continue;
        }
        this.options.onError?.(error);
        this.resourceVersion = '';
        await this.backoff(backoffMs * (0.5 + Math.random()));
        backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
      }
    }
  }

  private async backoff(ms: number): Promise<void> {
    await Promise.race([sleep(ms), new Promise<void>((resolve) => (this.wakeBackoff = resolve))]);
  }

  private async relist(): Promise<void> {
    const list = await this.options.client.request<{ items: T[]; metadata?: { resourceVersion?: string } }>(
      'GET',
      this.options.path,
      { query: { labelSelector: this.options.labelSelector, fieldSelector: this.options.fieldSelector } },
    );
    const seen = new Set<string>();
    for (const object of list.items) {
      const key = objectKey(object);
      seen.add(key);
      this.store(key, object);
    }
    for (const [key, old] of this.objects) {
      if (!seen.has(key)) {
        this.objects.delete(key);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    if (!this.synced) {
      this.synced = true;
      this.emit('synced');
    }
  }

  private store(key: string, object: T): void {
    const old = this.objects.get(key);
    this.objects.set(key, object);
    if (!old) this.emit('add', object);
    else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion)
      this.emit('update', old, object);
  }

  /** One watch request, from the last resource version until the server or an error ends it. */
  private async watchOnce(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    if (this.stopped) abort.abort();
    let failed: unknown;
    const onEvent = ({ type, object }: WatchEvent<T & { code?: number }>) => {
      if (type === 'ERROR') {
        // The server reports an expired resource version (410) as an event, not a status code.
        failed = Object.assign(new Error(`watch error: ${JSON.stringify(object)}`), { code: object.code });
        abort.abort();
        return;
      }
      const version = object.metadata?.resourceVersion;
      if (version) this.resourceVersion = version;
      if (type === 'BOOKMARK') return;
      const key = objectKey(object);
      if (type === 'DELETED') {
        const old = this.objects.get(key);
        this.objects.delete(key);
        this.emit('delete', old ?? object);
      } else {
        this.store(key, object);
      }
    };
    try {
      await this.options.client.watch<T & { code?: number }>(
        this.options.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.options.watchTimeoutSeconds ?? Math.round(240 + Math.random() * 120),
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
        },
        onEvent,
        abort.signal,
      );
    } finally {
      this.abort = undefined;
    }
    if (failed) throw failed;
  }
}

function isGone(error: unknown): boolean {
  const e = error as { statusCode?: number; code?: number } | undefined;
  return e?.statusCode === 410 || e?.code === 410;
}
