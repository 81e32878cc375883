import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaseClient, leasePath, leasesPath, type Lease } from '../../../kube/leases.js';
import { ApiError, MERGE_PATCH, type RequestOptions, type RestClient } from '../../../kube/rest.js';

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

interface Call {
  method: string;
  path: string;
  options: RequestOptions;
}

/** Records each request and answers it with the next of `answers` (an error is thrown). */
function fakeApi(...answers: (unknown | ApiError)[]) {
  const calls: Call[] = [];
  const api: Pick<RestClient, 'request'> = {
    async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
      calls.push({ method, path, options });
      const answer = answers.shift();
      if (answer instanceof ApiError) throw answer;
      return (answer ?? options.body) as T;
    },
  };
  return { api, calls };
}

const notFound = () => new ApiError(404, { message: 'not found' });

test("the paths of a namespace's Leases, with names escaped", () => {
  assert.equal(
    leasesPath('kube-node-lease'),
    '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
  );
  assert.equal(
    leasePath('seer-system', 'a b'),
    '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases/a%20b',
  );
});

test('get: the Lease, or undefined when there is none; other failures are thrown', async () => {
  const lease: Lease = { metadata: { name: 'x', resourceVersion: '7' }, spec: { holderIdentity: 'a' } };
  const { api, calls } = fakeApi(lease, notFound(), new ApiError(500, { message: 'boom' }));
  const leases = new LeaseClient(api, 'seer-system');
  assert.deepEqual(await leases.get('x', { timeoutMs: 100 }), lease);
  assert.deepEqual(calls[0], {
    method: 'GET',
    path: '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases/x',
    options: { timeoutMs: 100 },
  });
  assert.equal(await leases.get('x'), undefined);
  await assert.rejects(leases.get('x'), /boom/);
});

test('create: a full Lease in the namespace, acquired and renewed now (MicroTime)', async () => {
  const { api, calls } = fakeApi();
  const leases = new LeaseClient(api, 'seer-system');
  const created = await leases.create('seer-operator', { holderIdentity: 'a', leaseDurationSeconds: 15 });
  const call = calls[0];
  assert.equal(call?.method, 'POST');
  assert.equal(call?.path, '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases');
  assert.equal(created.apiVersion, 'coordination.k8s.io/v1');
  assert.equal(created.kind, 'Lease');
  assert.deepEqual(created.metadata, { name: 'seer-operator', namespace: 'seer-system' });
  assert.equal(created.spec?.holderIdentity, 'a');
  assert.equal(created.spec?.leaseDurationSeconds, 15);
  assert.match(created.spec?.renewTime ?? '', MICRO_TIME);
  assert.equal(created.spec?.acquireTime, created.spec?.renewTime);
});

test('update: replaces the spec of the Lease as read (its resourceVersion), renewTime now', async () => {
  const { api, calls } = fakeApi();
  const leases = new LeaseClient(api, 'seer-system');
  const read: Lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'seer-operator', namespace: 'seer-system', resourceVersion: '42' },
    spec: { holderIdentity: 'a', acquireTime: '2000-01-01T00:00:00.000000Z', leaseTransitions: 3 },
  };
  const kept = await leases.update(read, {
    holderIdentity: 'a',
    acquireTime: '2000-01-01T00:00:00.000000Z',
    leaseTransitions: 3,
  });
  assert.equal(calls[0]?.method, 'PUT');
  assert.equal(calls[0]?.path, '/apis/coordination.k8s.io/v1/namespaces/seer-system/leases/seer-operator');
  assert.equal(kept.metadata.resourceVersion, '42');
  assert.equal(kept.spec?.acquireTime, '2000-01-01T00:00:00.000000Z');
  assert.match(kept.spec?.renewTime ?? '', MICRO_TIME);
  assert.notEqual(kept.spec?.renewTime, '2000-01-01T00:00:00.000000Z');

  // Terms without an acquireTime mean acquired now.
  const taken = await leases.update(read, { holderIdentity: 'b', leaseTransitions: 4 });
  assert.equal(taken.spec?.acquireTime, taken.spec?.renewTime);
  assert.deepEqual(Object.keys(taken.spec ?? {}).sort(), [
    'acquireTime',
    'holderIdentity',
    'leaseTransitions',
    'renewTime',
  ]);
});

test('renew: a merge patch of holder, duration and renewTime; creates the Lease when it is missing', async () => {
  const { api, calls } = fakeApi(undefined, notFound());
  const leases = new LeaseClient(api, 'kube-node-lease');
  await leases.renew('seer-node-a', { holderIdentity: 'a', leaseDurationSeconds: 40 });
  const patch = calls[0];
  assert.equal(patch?.method, 'PATCH');
  assert.equal(patch?.path, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/seer-node-a');
  assert.equal(patch?.options.contentType, MERGE_PATCH);
  const body = patch?.options.body as { spec: Record<string, unknown> };
  assert.deepEqual(Object.keys(body).sort(), ['spec']);
  assert.equal(body.spec.holderIdentity, 'a');
  assert.equal(body.spec.leaseDurationSeconds, 40);
  assert.match(String(body.spec.renewTime), MICRO_TIME);
  assert.equal(body.spec.acquireTime, undefined, 'a renewal keeps the acquireTime');

  const created = await leases.renew('seer-node-a', { holderIdentity: 'a', leaseDurationSeconds: 40 });
  assert.deepEqual(
    calls.slice(1).map((c) => `${c.method} ${c.path}`),
    [
      'PATCH /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/seer-node-a',
      'POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
    ],
  );
  assert.equal(created.metadata.name, 'seer-node-a');
  assert.equal(created.spec?.holderIdentity, 'a');
  assert.match(created.spec?.acquireTime ?? '', MICRO_TIME);
});

test('renew: a failure other than a missing Lease is thrown, and nothing is created', async () => {
  const { api, calls } = fakeApi(new ApiError(403, { message: 'forbidden' }));
  const leases = new LeaseClient(api, 'kube-node-lease');
  await assert.rejects(
    leases.renew('seer-node-a', { holderIdentity: 'a', leaseDurationSeconds: 40 }),
    /forbidden/,
  );
  assert.equal(calls.length, 1);
});
