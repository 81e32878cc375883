import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SEER_API_VERSION } from '../../api/names.js';
import type { SeerNode } from '../../api/types.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { objectRef } from '../../kube/keys.js';

let cluster: TestCluster;
let client: SeerClient;

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
});

after(async () => {
  await cluster?.stop();
});

const node = (name: string): SeerNode => ({
  apiVersion: SEER_API_VERSION,
  kind: 'SeerNode',
  metadata: { name },
  spec: {},
});

test('an informer lists, follows changes, resyncs, and relists after the API server was away', async () => {
  await client.create('SeerNode', node('before-start'));
  const events: string[] = [];
  const errors: unknown[] = [];
  const informer = client.informer('SeerNode', { resyncMs: 300, onError: (error) => errors.push(error) });
  informer.on('add', (n) => events.push(`add ${n.metadata.name}`));
  informer.on('update', (old, n) =>
    events.push(old === n ? `resync ${n.metadata.name}` : `update ${n.metadata.name}`),
  );
  informer.on('delete', (n) => events.push(`delete ${n.metadata.name}`));
  await informer.start();
  try {
    assert.ok(informer.hasSynced);
    assert.deepEqual(events, ['add before-start']);

    await client.create('SeerNode', node('later'));
    await client.patch('SeerNode', objectRef('later'), { spec: { unschedulable: true } });
    await client.delete('SeerNode', objectRef('before-start'));
    await eventually('add, update, delete', () =>
      ['add later', 'update later', 'delete before-start'].every((e) => events.includes(e)),
    );
    assert.equal(informer.get('before-start'), undefined);
    assert.equal(informer.get('later')?.spec.unschedulable, true);
    await eventually('a resync', () => events.includes('resync later'));

    // Changes made while the API server is away are picked up by the relist when it is back.
    await cluster.stopApiServer();
    await eventually('the watch failure noticed', () => errors.length > 0, 10_000);
    await cluster.startApiServer();
    await client.delete('SeerNode', objectRef('later'));
    await client.create('SeerNode', node('after-outage'));
    await eventually(
      'the cache caught up',
      () => !informer.get('later') && !!informer.get('after-outage'),
      30_000,
    );
  } finally {
    await informer.stop();
  }
});
