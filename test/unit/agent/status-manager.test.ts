import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergePatch, StatusManager } from '../../../agent/pods/status-manager.js';
import type { SeerPod, SeerPodStatus } from '../../../api/types.js';
import { seerPod } from '../../support/pods.js';
import { MemoryPodStore } from './memory-pod-store.js';

function boundPod(uid = 'uid-1', resourceVersion = '7', status?: SeerPodStatus): SeerPod {
  const pod = seerPod('web', { node_name: 'n1', containers: [{ name: 'main', package: 'file:///p.tgz' }] });
  pod.metadata.uid = uid;
  pod.metadata.resourceVersion = resourceVersion;
  if (status) pod.status = status;
  return pod;
}

const ready = (status: 'True' | 'False', since: string) => ({
  type: 'Ready' as const,
  status,
  reason: status === 'True' ? 'PodReady' : 'ContainersNotReady',
  last_transition_time: since,
});

const running: SeerPodStatus = {
  phase: 'Running',
  node_name: 'n1',
  ready: '1/1',
  restarts: 0,
  conditions: [ready('True', '2026-01-01T00:00:00Z')],
};

function setUp(pod = boundPod()) {
  const store = new MemoryPodStore();
  store.put(pod);
  return { store, statuses: new StatusManager(store), pod };
}

test('a status is written once: nothing is written while nothing changed', async () => {
  const { store, statuses, pod } = setUp();
  await statuses.set(pod, running);
  assert.equal(store.writes.length, 1);
  assert.deepEqual(store.writes[0]?.patch, running);
  assert.equal(store.writes[0]?.resourceVersion, '7', 'written against the version it was based on');

  // The store has not seen the write yet, and then has: neither time is there anything to write.
  await statuses.set(pod, { ...running });
  const written = { ...pod, metadata: { ...pod.metadata, resourceVersion: '101' }, status: running };
  store.put(written);
  await statuses.set(written, { ...running });
  assert.equal(store.writes.length, 1);
  assert.deepEqual(statuses.current(written), running);
});

test('only the difference is written, with null for a field the status no longer has', async () => {
  const { store, statuses, pod } = setUp();
  await statuses.set(pod, { ...running, reason: 'Something', message: 'went wrong' });
  await statuses.set(pod, { ...running, restarts: 1 });
  assert.equal(store.writes.length, 2);
  assert.deepEqual(store.writes[1]?.patch, { restarts: 1, reason: null, message: null });
  assert.equal(store.writes[1]?.resourceVersion, '101', 'the version the first write made');
});

test('a condition whose status stays keeps its transition time', async () => {
  const { store, statuses, pod } = setUp();
  await statuses.set(pod, running);
  await statuses.set(pod, { ...running, restarts: 2, conditions: [ready('True', '2026-01-01T00:09:00Z')] });
  assert.deepEqual(store.writes[1]?.patch, { restarts: 2 });
});

test('a status someone else changed meanwhile is written again', async () => {
  const { store, statuses, pod } = setUp();
  await statuses.set(pod, running);
  // The operator marked the pod Unknown after this agent's write.
  const marked = { ...pod, metadata: { ...pod.metadata, resourceVersion: '102' } };
  marked.status = { ...running, phase: 'Unknown' };
  store.put(marked);
  await statuses.set(marked, running);
  assert.equal(store.writes.length, 2);
  assert.deepEqual(store.writes[1]?.patch, { phase: 'Running' });
  assert.equal(store.writes[1]?.resourceVersion, '102');
});

test('on a conflict the pod is read again and the difference worked out anew', async () => {
  const { store, statuses, pod } = setUp(boundPod('uid-1', '7', running));
  // The API server has moved on: someone else set a reason the store has not seen yet.
  store.fresh.set('default/web', boundPod('uid-1', '9', { ...running, reason: 'Foreign' }));
  store.conflicts = 1;
  await statuses.set(pod, { ...running, restarts: 3 });
  assert.equal(store.writes.length, 2);
  assert.deepEqual(store.writes[0], { key: 'default/web', patch: { restarts: 3 }, resourceVersion: '7' });
  assert.deepEqual(store.writes[1], {
    key: 'default/web',
    patch: { restarts: 3, reason: null },
    resourceVersion: '9',
  });
});

test('a conflict with a pod that is gone (or another pod of the same name) writes nothing more', async () => {
  const { store, statuses, pod } = setUp();
  store.fresh.set('default/web', boundPod('uid-2', '30'));
  store.conflicts = 1;
  await statuses.set(pod, running);
  assert.equal(store.writes.length, 1);
});

test('conflicts that go on fail the write, for the pod sync to retry', async () => {
  const { store, statuses, pod } = setUp();
  store.conflicts = 10;
  await assert.rejects(statuses.set(pod, running), /409/);
  assert.equal(store.writes.length, 5);
});

test('a pod once deleted is forgotten: a new pod of the same name gets its whole status', async () => {
  const { store, statuses, pod } = setUp();
  await statuses.set(pod, running);
  store.remove(pod);
  statuses.forget('default/web');
  assert.equal(statuses.current(pod), undefined);

  const again = boundPod('uid-1', '7');
  store.put(again);
  await statuses.set(again, running);
  assert.equal(store.writes.length, 2);
  assert.deepEqual(store.writes[1]?.patch, running);
});

test('what was written for a pod does not count for another pod of the same name', async () => {
  const { store, statuses, pod } = setUp();
  await statuses.set(pod, running);
  const recreated = boundPod('uid-2', '50');
  store.put(recreated);
  await statuses.set(recreated, running);
  assert.equal(store.writes.length, 2);
  assert.deepEqual(store.writes[1]?.patch, running);
});

test('writes for one pod land in the order they were handed over', async () => {
  const { store, statuses, pod } = setUp();
  await Promise.all([
    statuses.set(pod, { ...running, restarts: 1 }),
    statuses.set(pod, { ...running, restarts: 2 }),
    statuses.set(pod, { ...running, restarts: 3 }),
  ]);
  assert.deepEqual(
    store.writes.map((w) => w.patch.restarts),
    [1, 2, 3],
  );
});

test('a merge patch holds changed fields, nested differences and nulls for removed fields', () => {
  assert.equal(mergePatch({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }), undefined);
  assert.equal(
    mergePatch({ a: { x: 1, y: 2 } }, { a: { y: 2, x: 1 } }),
    undefined,
    'key order does not count',
  );
  assert.deepEqual(mergePatch({ a: 1, b: 2, c: { x: 1, y: 2 } }, { a: 1, c: { x: 1, y: 3 }, d: [1] }), {
    b: null,
    c: { y: 3 },
    d: [1],
  });
  assert.deepEqual(mergePatch({ list: [{ a: 1 }] }, { list: [{ a: 2 }] }), { list: [{ a: 2 }] });
  assert.equal(mergePatch({ a: undefined }, {}), undefined, 'an undefined field is an absent one');
});
