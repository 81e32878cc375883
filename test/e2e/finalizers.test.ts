import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AGENT_FINALIZER } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { addFinalizer, removeFinalizer } from '../../kube/finalizers.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { seerPod } from '../support/pods.js';
import { objectRef } from '../../kube/keys.js';

const OTHER = 'example.com/backup';
const CONTAINERS = [{ name: 'app', package: 'file:///srv/app.tar.gz', commands: { start: 'bin/app' } }];

let cluster: TestCluster;
let client: SeerClient;

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
});

after(async () => {
  client?.rest.close();
  await cluster?.stop();
});

async function finalizersOf(name: string): Promise<string[]> {
  return (await client.get('SeerPod', name, 'default')).metadata.finalizers ?? [];
}

test('removing a finalizer from a stale copy keeps one someone else added meanwhile', async () => {
  const created = await client.create('SeerPod', {
    ...seerPod('stale', { containers: CONTAINERS }),
    metadata: { name: 'stale', namespace: 'default', finalizers: [AGENT_FINALIZER] },
  } as SeerPod);
  // What a controller's cache still holds, while another controller adds its own finalizer.
  const stale = structuredClone(created);
  await client.patch('SeerPod', objectRef('stale', 'default'), {
    metadata: { finalizers: [AGENT_FINALIZER, OTHER] },
  });

  // Writing the stale list minus the agent's finalizer would drop OTHER (as releasing a lost
  // node's pods once did); the precondition fails and the current list is edited instead.
  await removeFinalizer(client, 'SeerPod', stale, AGENT_FINALIZER);
  assert.deepEqual(await finalizersOf('stale'), [OTHER]);

  await removeFinalizer(client, 'SeerPod', await client.get('SeerPod', 'stale', 'default'), OTHER);
  assert.deepEqual(await finalizersOf('stale'), []);
});

test('adding a finalizer is idempotent and keeps the others; a missing object is no error', async () => {
  const created = await client.create('SeerPod', {
    ...seerPod('adds', { containers: CONTAINERS }),
    metadata: { name: 'adds', namespace: 'default', finalizers: [OTHER] },
  } as SeerPod);
  await addFinalizer(client, 'SeerPod', created, AGENT_FINALIZER);
  await addFinalizer(client, 'SeerPod', created, AGENT_FINALIZER);
  assert.deepEqual(await finalizersOf('adds'), [OTHER, AGENT_FINALIZER]);

  await client.patch('SeerPod', objectRef('adds', 'default'), { metadata: { finalizers: [] } });
  await client.delete('SeerPod', objectRef('adds', 'default'));
  assert.equal(await removeFinalizer(client, 'SeerPod', created, AGENT_FINALIZER), undefined);
});
