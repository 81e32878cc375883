import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SEER_API_VERSION } from '../../../../api/names.js';
import type { SeerDataDir } from '../../../../api/types.js';
import { dataDirPin, type ClaimLocation } from '../../../../operator/scheduler/data-dir-placement.js';
import { ClaimBindings, podClaimKeys, podDataDirs } from '../../../../workloads/data-dirs.js';
import { seerPod } from '../../../support/pods.js';

const dataDir = (name: string, node?: string, deleting = false): SeerDataDir => ({
  apiVersion: SEER_API_VERSION,
  kind: 'SeerDataDir',
  metadata: {
    name,
    namespace: 'db',
    ...(deleting ? { deletionTimestamp: new Date('2026-01-01T00:00:00Z') } : {}),
  },
  spec: node ? { node_name: node } : {},
});

const at = (locations: Record<string, ClaimLocation>) => (claim: string) => locations[claim] ?? {};

test("a pod's claims are its init containers' and containers', once each, the first size winning", () => {
  const pod = seerPod(
    'db-0',
    {
      init_containers: [
        { name: 'init', package: 'file:///i.tgz', data_dirs: [{ name: 'pgdata', path: 'd', size: '1Gi' }] },
      ],
      containers: [
        {
          name: 'pg',
          package: 'file:///p.tgz',
          data_dirs: [
            { name: 'pgdata', path: 'data', size: '5Gi' },
            { name: 'pgwal', path: 'wal' },
          ],
        },
      ],
    },
    'db',
  );
  assert.deepEqual(
    podDataDirs(pod).map((m) => [m.name, m.size]),
    [
      ['pgdata', '1Gi'],
      ['pgwal', undefined],
    ],
  );
  assert.deepEqual(podClaimKeys(pod), ['db/pgdata', 'db/pgwal']);
});

test('new data goes anywhere; data on a node pins the pod there, whether its SeerDataDir or a bound pod says so', () => {
  assert.deepEqual(dataDirPin(['db/a'], at({})), { anywhere: true });
  assert.deepEqual(dataDirPin(['db/a'], at({ 'db/a': { dataDir: dataDir('a') } })), { anywhere: true });
  assert.deepEqual(dataDirPin(['db/a'], at({ 'db/a': { dataDir: dataDir('a', 'n2') } })), {
    node: 'n2',
    claim: 'a',
  });
  assert.deepEqual(dataDirPin(['db/a', 'db/b'], at({ 'db/b': { boundOn: 'n3' } })), {
    node: 'n3',
    claim: 'b',
  });
  // The SeerDataDir is the record; a bound pod only stands in until it exists.
  assert.deepEqual(dataDirPin(['db/a'], at({ 'db/a': { dataDir: dataDir('a', 'n2'), boundOn: 'n9' } })), {
    node: 'n2',
    claim: 'a',
  });
});

test('data on two nodes, or data being deleted, makes the pod wait, saying why', () => {
  assert.deepEqual(
    dataDirPin(
      ['db/a', 'db/b'],
      at({ 'db/a': { dataDir: dataDir('a', 'n1') }, 'db/b': { dataDir: dataDir('b', 'n2') } }),
    ),
    {
      wait: "the pod's data dirs are on different nodes (a on node n1, b on node n2): no node has all its data",
    },
  );
  assert.deepEqual(dataDirPin(['db/a'], at({ 'db/a': { dataDir: dataDir('a', 'n1', true) } })), {
    wait: 'data dir a is being deleted; the pod waits until it is gone',
  });
});

test('claim bindings follow pods as they are bound, rebound and removed', () => {
  const bindings = new ClaimBindings();
  const spec = (node?: string) => ({
    ...(node ? { node_name: node } : {}),
    containers: [
      { name: 'pg', package: 'file:///p.tgz', data_dirs: [{ name: 'a', path: 'data', size: '2Gi' }] },
    ],
  });
  bindings.putPod(seerPod('db-0', spec(), 'db'));
  assert.equal(bindings.nodeOf('db/a'), undefined, 'an unbound pod places nothing');
  bindings.putPod(seerPod('db-0', spec('n1'), 'db'));
  assert.equal(bindings.nodeOf('db/a'), 'n1');
  assert.equal(bindings.sizeOf('db/a'), '2Gi');
  assert.equal(bindings.nodeOf('other/a'), undefined, 'claims are per namespace');
  bindings.removePod('db/db-0');
  assert.equal(bindings.nodeOf('db/a'), undefined);
});
