import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SeerDeployment } from '../../../../api/types.js';
import {
  isLeftOver,
  newRevision,
  revisionsOfDeleted,
  revisionsToPrune,
} from '../../../../operator/deployments/revisions.js';
import {
  historyOf,
  nextRevisionNumber,
  previousRevision,
  rolledOutRevision,
  type ControllerRevision,
} from '../../../../workloads/revisions.js';
import { templateHash } from '../../../../workloads/template-hash.js';
import { deployment, template } from './fixtures.js';

function revisionOf(d: SeerDeployment, version: string, number: number): ControllerRevision {
  return newRevision(d, template(version), templateHash(template(version)), number);
}

const annotated = (d: SeerDeployment, revision: number): SeerDeployment => ({
  ...d,
  metadata: { ...d.metadata, annotations: { 'seer.io/revision': String(revision) } },
});

test('a revision: named after the deployment and hash, labelled, owned, with the template and change cause', () => {
  const d = deployment();
  d.metadata.annotations = { 'seer.io/change-cause': 'first release' };
  const hash = templateHash(template('v1'));
  const revision = newRevision(d, template('v1'), hash, 1);
  assert.equal(revision.apiVersion, 'apps/v1');
  assert.equal(revision.kind, 'ControllerRevision');
  assert.equal(revision.metadata.name, `web-${hash}`);
  assert.equal(revision.metadata.namespace, 'default');
  assert.deepEqual(revision.metadata.labels, { 'seer.io/deployment': 'web', 'seer.io/template-hash': hash });
  assert.deepEqual(revision.metadata.annotations, { 'seer.io/change-cause': 'first release' });
  assert.equal(revision.metadata.ownerReferences?.[0]?.uid, 'uid-web');
  assert.equal(revision.metadata.ownerReferences?.[0]?.controller, true);
  assert.equal(revision.revision, 1);
  assert.deepEqual(revision.data, { template: template('v1') });
});

test('a deployment’s history: its own revisions by uid, oldest first; an earlier namesake’s are left-overs', () => {
  const d = deployment();
  const earlier = { ...deployment(), metadata: { ...deployment().metadata, uid: 'uid-earlier' } };
  const other = deployment({}, 'api');
  const second = revisionOf(d, 'v2', 2);
  const first = revisionOf(d, 'v1', 1);
  const stale = revisionOf(earlier, 'v3', 7);
  const history = historyOf([second, stale, revisionOf(other, 'v1', 1), first], d);
  assert.deepEqual(history, [first, second]);
  assert.ok(isLeftOver(stale, d));
  assert.ok(!isLeftOver(first, d));
  assert.equal(nextRevisionNumber(history), 3);
  assert.equal(nextRevisionNumber([]), 1);
});

test('the rolled-out revision is the annotated one, else the latest', () => {
  const d = deployment();
  const history = [revisionOf(d, 'v1', 1), revisionOf(d, 'v2', 2), revisionOf(d, 'v3', 3)];
  assert.equal(rolledOutRevision(history, annotated(d, 2))?.revision, 2);
  assert.equal(rolledOutRevision(history, d)?.revision, 3);
  assert.equal(rolledOutRevision([], d), undefined);
});

test('undo goes to the latest revision before the current one', () => {
  const d = deployment();
  const history = [revisionOf(d, 'v1', 1), revisionOf(d, 'v3', 4), revisionOf(d, 'v2', 5)];
  assert.equal(previousRevision(history, annotated(d, 5))?.revision, 4);
  assert.equal(previousRevision(history, annotated(d, 4))?.revision, 1);
  assert.equal(previousRevision(history, d)?.revision, 4, 'not annotated: the latest is current');
  assert.equal(previousRevision(history.slice(0, 1), d), undefined);
});

test('pruning keeps revision_history_limit old revisions, the current one, and any still with pods', () => {
  const d = deployment();
  const history = [1, 2, 3, 4, 5].map((n) => revisionOf(d, `v${n}`, n));
  const current = history[4]?.metadata.name ?? '';
  const numbers = (revisions: ControllerRevision[]) => revisions.map((r) => r.revision);
  assert.deepEqual(numbers(revisionsToPrune(history, current, 2, new Set())), [1, 2]);
  assert.deepEqual(numbers(revisionsToPrune(history, current, 10, new Set())), []);
  assert.deepEqual(numbers(revisionsToPrune(history, current, 0, new Set())), [1, 2, 3, 4]);
  const inUse = new Set([templateHash(template('v1'))]);
  assert.deepEqual(numbers(revisionsToPrune(history, current, 2, inUse)), [2], 'v1 still has pods');
  // The current revision is never pruned, whatever its number.
  assert.deepEqual(
    numbers(revisionsToPrune(history, history[0]?.metadata.name ?? '', 0, new Set())),
    [2, 3, 4, 5],
  );
});

test('the revisions a deleted deployment left: its name, created by it', () => {
  const d = deployment();
  const mine = revisionOf(d, 'v1', 1);
  const handMade = {
    ...revisionOf(d, 'v2', 2),
    metadata: { ...revisionOf(d, 'v2', 2).metadata, ownerReferences: [] },
  };
  const elsewhere = { ...mine, metadata: { ...mine.metadata, namespace: 'other' } };
  assert.deepEqual(revisionsOfDeleted([mine, handMade, elsewhere], 'default', 'web'), [mine]);
});
