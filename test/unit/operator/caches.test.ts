import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Query, RequestOptions, RestClient } from '../../../kube/rest.js';
import { SeerClient } from '../../../kube/seer-client.js';
import { createCaches, startCaches, stopCaches } from '../../../operator/runtime/caches.js';

/** A collection's path, with its label selector if it has one: two caches may share a path. */
function keyOf(path: string, query: Query | undefined): string {
  const selector = query?.labelSelector;
  return selector ? `${path}?labelSelector=${String(selector)}` : path;
}

/** Answers each list when the test says so; each watch lasts until it is aborted. */
class FakeListWatch {
  readonly lists = new Map<string, { query: Query | undefined; answer: () => void }>();
  readonly watching = new Set<string>();

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    assert.equal(method, 'GET');
    await new Promise<void>((answer) =>
      this.lists.set(keyOf(path, options.query), { query: options.query, answer }),
    );
    return { items: [], metadata: { resourceVersion: '1' } } as T;
  }

  watch(path: string, query: Query, _onEvent: unknown, signal?: AbortSignal): Promise<void> {
    const key = keyOf(path, query);
    this.watching.add(key);
    return new Promise((resolve) =>
      signal?.addEventListener('abort', () => {
        this.watching.delete(key);
        resolve();
      }),
    );
  }
}

test('the operator caches every collection its controllers read, and is synced only once all are', async () => {
  const api = new FakeListWatch();
  const caches = createCaches(new SeerClient(api as unknown as RestClient));
  let synced = false;
  const starting = startCaches(caches).then(() => (synced = true));
  await sleep(20);
  assert.deepEqual([...api.lists.keys()].sort(), [
    '/apis/apps/v1/controllerrevisions?labelSelector=seer.io/deployment',
    '/apis/apps/v1/controllerrevisions?labelSelector=seer.io/stateful-set',
    '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
    '/apis/seer.io/v1alpha1/seercomponents',
    '/apis/seer.io/v1alpha1/seerdaemonsets',
    '/apis/seer.io/v1alpha1/seerdatadirs',
    '/apis/seer.io/v1alpha1/seerdeployments',
    '/apis/seer.io/v1alpha1/seernodes',
    '/apis/seer.io/v1alpha1/seerpods',
    '/apis/seer.io/v1alpha1/seerstatefulsets',
  ]);

  const [last, ...others] = [...api.lists.values()];
  for (const list of others) list.answer();
  await sleep(20);
  assert.equal(synced, false, 'synced with one cache still listing');
  last?.answer();
  await starting;
  assert.ok(Object.values(caches).every((cache) => cache.hasSynced));

  await sleep(20);
  assert.equal(api.watching.size, 10);
  await stopCaches(caches);
  assert.equal(api.watching.size, 0, 'a watch outlived stopCaches');
});
