import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  POD_ORDINAL_LABEL,
  SEER_API_VERSION,
  STATEFUL_SET_LABEL,
  TEMPLATE_HASH_LABEL,
} from '../../../../api/names.js';
import type {
  PodTemplate,
  SeerDataDir,
  SeerPod,
  SeerStatefulSet,
  SeerStatefulSetSpec,
} from '../../../../api/types.js';
import {
  dataDirsOf,
  parseOrdinal,
  planStatefulSet,
  statefulSetPod,
  statefulSetPods,
  type StatefulSetPlan,
  type StatefulSetRevisions,
} from '../../../../operator/statefulsets/plan.js';
import { statefulSetRolloutProgress } from '../../../../workloads/rollout-progress.js';
import { templateHash } from '../../../../workloads/template-hash.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const NOW = new Date(T0 + 600_000);

function template(version = 'v1'): PodTemplate {
  return {
    metadata: { labels: { app: 'db' } },
    spec: {
      containers: [
        {
          name: 'db',
          package: `file:///packages/db-${version}.tar.gz`,
          env: [{ name: 'MODE', value: 'primary' }],
          data_dirs: [{ name: 'pgdata', path: 'data' }],
        },
      ],
    },
  };
}

const V1 = templateHash(template('v1'));
const V2 = templateHash(template('v2'));
const SAME: StatefulSetRevisions = {
  update: { hash: V1, template: template('v1') },
  current: { hash: V1, template: template('v1') },
};
const UPDATING: StatefulSetRevisions = {
  update: { hash: V2, template: template('v2') },
  current: { hash: V1, template: template('v1') },
};

function statefulSet(spec: Partial<SeerStatefulSetSpec> = {}): SeerStatefulSet {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerStatefulSet',
    metadata: { name: 'db', namespace: 'default', uid: 'uid-db', generation: 2 },
    spec: { replicas: 3, template: template('v1'), ...spec },
  };
}

interface PodOptions {
  hash?: string;
  /** Seconds after T0 it became ready; absent: not ready. */
  readyAt?: number;
  deleting?: boolean;
  phase?: 'Running' | 'Failed' | 'Succeeded';
}

function pod(ordinal: number, options: PodOptions = {}): SeerPod {
  const { hash = V1, readyAt, deleting = false, phase = 'Running' } = options;
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name: `db-${ordinal}`,
      namespace: 'default',
      labels: { app: 'db', [STATEFUL_SET_LABEL]: 'db', [TEMPLATE_HASH_LABEL]: hash },
      ...(deleting ? { deletionTimestamp: new Date(T0) } : {}),
    },
    spec: { containers: [] },
    status: {
      phase,
      conditions:
        readyAt === undefined
          ? [{ type: 'Ready', status: 'False' }]
          : [
              {
                type: 'Ready',
                status: 'True',
                last_transition_time: new Date(T0 + readyAt * 1000).toISOString(),
              },
            ],
    },
  };
}

const ready = (ordinal: number, options: PodOptions = {}) => pod(ordinal, { readyAt: 0, ...options });

function dataDir(name: string): SeerDataDir {
  return { apiVersion: SEER_API_VERSION, kind: 'SeerDataDir', metadata: { name, namespace: 'default' } };
}

const created = (plan: StatefulSetPlan) => plan.create.map((c) => c.ordinal);
const deleted = (plan: StatefulSetPlan) => plan.delete.map((p) => p.metadata.name);

test('a pod is named <set>-<ordinal>, claims its own data dirs, knows its ordinal, and is left to the scheduler', () => {
  const set = statefulSet();
  const created = statefulSetPod(set, template('v1'), V1, 2);
  assert.equal(created.metadata.name, 'db-2');
  assert.deepEqual(created.metadata.labels, {
    app: 'db',
    [STATEFUL_SET_LABEL]: 'db',
    [TEMPLATE_HASH_LABEL]: V1,
    [POD_ORDINAL_LABEL]: '2',
  });
  assert.equal(created.metadata.ownerReferences?.[0]?.kind, 'SeerStatefulSet');
  assert.equal(created.metadata.ownerReferences?.[0]?.controller, true);
  assert.equal(created.spec.node_name, undefined);
  assert.equal(created.metadata.finalizers, undefined);
  const [container] = created.spec.containers;
  assert.deepEqual(container?.data_dirs, [{ name: 'pgdata-db-2', path: 'data' }]);
  assert.deepEqual(container?.env, [
    { name: 'MODE', value: 'primary' },
    { name: 'SEER_ORDINAL', value: '2' },
  ]);
  // The template itself is left alone.
  assert.deepEqual(set.spec.template.spec.containers[0]?.data_dirs, [{ name: 'pgdata', path: 'data' }]);
});

test('ordinals are parsed from names only when the rest is a plain decimal number', () => {
  assert.equal(parseOrdinal('db', 'db-0'), 0);
  assert.equal(parseOrdinal('db', 'db-12'), 12);
  assert.equal(parseOrdinal('db', 'db-01'), undefined);
  assert.equal(parseOrdinal('db', 'db-x'), undefined);
  assert.equal(parseOrdinal('db', 'db-1-0'), undefined);
  assert.equal(parseOrdinal('db', 'dbx-0'), undefined);
});

test('ordered_ready creates db-0 first, and db-1 only once db-0 is ready', () => {
  const set = statefulSet();
  assert.deepEqual(created(planStatefulSet(set, [], [], NOW, SAME)), [0]);
  // db-0 exists but is not ready: nothing more.
  assert.deepEqual(created(planStatefulSet(set, [pod(0)], [], NOW, SAME)), []);
  assert.deepEqual(created(planStatefulSet(set, [ready(0)], [], NOW, SAME)), [1]);
  assert.deepEqual(created(planStatefulSet(set, [ready(0), ready(1)], [], NOW, SAME)), [2]);
  // A gap is filled before anything above it; db-0 terminating blocks db-1.
  assert.deepEqual(created(planStatefulSet(set, [ready(1), ready(2)], [], NOW, SAME)), [0]);
  assert.deepEqual(
    created(planStatefulSet(set, [pod(0, { deleting: true, readyAt: 0 })], [], NOW, SAME)),
    [],
  );
});

test('ordered_ready waits min_ready_seconds before the next ordinal, and says when to look again', () => {
  const set = statefulSet({ min_ready_seconds: 30 });
  const justReady = pod(0, { readyAt: 590 });
  const plan = planStatefulSet(set, [justReady], [], NOW, SAME);
  assert.deepEqual(created(plan), []);
  assert.equal(plan.recheckAfterMs, 20_000);
  assert.deepEqual(created(planStatefulSet(set, [pod(0, { readyAt: 500 })], [], NOW, SAME)), [1]);
});

test('parallel creates every missing ordinal at once', () => {
  const set = statefulSet({ pod_management_policy: 'parallel' });
  assert.deepEqual(created(planStatefulSet(set, [], [], NOW, SAME)), [0, 1, 2]);
  assert.deepEqual(created(planStatefulSet(set, [pod(1)], [], NOW, SAME)), [0, 2]);
});

test('scaling down removes the highest ordinal first, one at a time, once the one before is gone', () => {
  const set = statefulSet({ replicas: 1 });
  const all = [ready(0), ready(1), ready(2)];
  assert.deepEqual(deleted(planStatefulSet(set, all, [], NOW, SAME)), ['db-2']);
  // db-2 still stopping: db-1 waits.
  const stopping = [ready(0), ready(1), ready(2, { deleting: true })];
  assert.deepEqual(deleted(planStatefulSet(set, stopping, [], NOW, SAME)), []);
  assert.deepEqual(deleted(planStatefulSet(set, [ready(0), ready(1)], [], NOW, SAME)), ['db-1']);
  // Not while a remaining replica is unready.
  assert.deepEqual(deleted(planStatefulSet(set, [pod(0), ready(1)], [], NOW, SAME)), []);
});

test('parallel scales down every condemned ordinal at once', () => {
  const set = statefulSet({ replicas: 1, pod_management_policy: 'parallel' });
  const plan = planStatefulSet(set, [ready(0), ready(1), ready(2)], [], NOW, SAME);
  assert.deepEqual(deleted(plan).sort(), ['db-1', 'db-2']);
});

test('a failed pod is deleted, and created again once it is gone', () => {
  const set = statefulSet();
  const failed = pod(1, { phase: 'Failed' });
  const plan = planStatefulSet(set, [ready(0), failed, ready(2)], [], NOW, SAME);
  assert.deepEqual(deleted(plan), ['db-1']);
  assert.deepEqual(created(plan), []);
  const again = planStatefulSet(set, [ready(0), ready(2)], [], NOW, SAME);
  assert.deepEqual(again.create, [{ ordinal: 1, revision: 'update' }]);
});

test('a rolling update replaces the highest ordinal first, and the next once the new one is ready', () => {
  const set = statefulSet({ template: template('v2') });
  const old = [ready(0), ready(1), ready(2)];
  assert.deepEqual(deleted(planStatefulSet(set, old, [], NOW, UPDATING)), ['db-2']);
  // db-2 replaced, not ready yet: wait.
  const replaced = [ready(0), ready(1), pod(2, { hash: V2 })];
  assert.deepEqual(deleted(planStatefulSet(set, replaced, [], NOW, UPDATING)), []);
  const replacedReady = [ready(0), ready(1), ready(2, { hash: V2 })];
  assert.deepEqual(deleted(planStatefulSet(set, replacedReady, [], NOW, UPDATING)), ['db-1']);
  // A missing ordinal comes back from the update revision.
  const plan = planStatefulSet(set, [ready(0), ready(2, { hash: V2 })], [], NOW, UPDATING);
  assert.deepEqual(plan.create, [{ ordinal: 1, revision: 'update' }]);
  assert.deepEqual(deleted(plan), []);
});

test('with a partition, ordinals below it keep the current revision, even when recreated', () => {
  const set = statefulSet({
    template: template('v2'),
    update_strategy: { type: 'rolling_update', rolling_update: { partition: 1 } },
  });
  const upToOne = [ready(0), ready(1, { hash: V2 }), ready(2, { hash: V2 })];
  const plan = planStatefulSet(set, upToOne, [], NOW, UPDATING);
  assert.deepEqual(deleted(plan), []);
  assert.equal(plan.status.updated_replicas, 2);
  assert.equal(plan.status.current_replicas, 1);
  assert.equal(plan.status.current_revision, `db-${V1}`);
  assert.equal(plan.status.update_revision, `db-${V2}`);
  assert.equal(plan.status.conditions?.[0]?.reason, 'NewRevisionAvailable');
  const recreate = planStatefulSet(set, [ready(1, { hash: V2 }), ready(2, { hash: V2 })], [], NOW, UPDATING);
  assert.deepEqual(recreate.create, [{ ordinal: 0, revision: 'current' }]);
});

test('on_delete leaves old pods alone; a deleted one comes back from the update revision', () => {
  const set = statefulSet({ template: template('v2'), update_strategy: { type: 'on_delete' } });
  const old = [ready(0), ready(1), ready(2)];
  assert.deepEqual(deleted(planStatefulSet(set, old, [], NOW, UPDATING)), []);
  const plan = planStatefulSet(set, [ready(0), ready(1)], [], NOW, UPDATING);
  assert.deepEqual(plan.create, [{ ordinal: 2, revision: 'update' }]);
});

test('when_scaled delete removes the data dirs of removed ordinals once their pod is gone; retain keeps them', () => {
  const dirs = ['pgdata-db-0', 'pgdata-db-1', 'pgdata-db-2', 'pgdata-other-1', 'logs-db-2'].map(dataDir);
  const pods = [ready(0), ready(1, { deleting: true })];
  const deleting = planStatefulSet(
    statefulSet({ replicas: 1, data_retention: { when_scaled: 'delete' } }),
    pods,
    dirs,
    NOW,
    SAME,
  );
  assert.deepEqual(
    deleting.deleteDataDirs.map((d) => d.metadata.name),
    ['pgdata-db-2'],
  );
  const retaining = planStatefulSet(statefulSet({ replicas: 1 }), pods, dirs, NOW, SAME);
  assert.deepEqual(retaining.deleteDataDirs, []);
});

test('the set’s data dirs are named <claim>-<set>-<ordinal>', () => {
  const dirs = ['pgdata-db-0', 'pgdata-db-x', 'pgdata-db-1-0', 'wal-db-3', 'pgdata-dbx-0'].map(dataDir);
  const found = dataDirsOf(statefulSet(), ['pgdata', 'wal'], dirs).map((d) => [
    d.dataDir.metadata.name,
    d.ordinal,
  ]);
  assert.deepEqual(found, [
    ['pgdata-db-0', 0],
    ['wal-db-3', 3],
  ]);
});

test('status counts pods, revisions and READY as ready/desired, with the selector for kubectl scale', () => {
  const set = statefulSet({ selector: { match_labels: { app: 'db' } } });
  const plan = planStatefulSet(set, [ready(0), pod(1), ready(2, { deleting: true })], [], NOW, SAME);
  assert.deepEqual(
    { ...plan.status, conditions: plan.status.conditions?.map((c) => [c.type, c.status, c.reason]) },
    {
      observed_generation: 2,
      replicas: 2,
      ready_replicas: 1,
      current_replicas: 2,
      updated_replicas: 2,
      available_replicas: 1,
      current_revision: `db-${V1}`,
      update_revision: `db-${V1}`,
      ready: '1/3',
      selector: 'seer.io/stateful-set=db,app=db',
      conditions: [
        ['Progressing', 'True', 'RevisionUpdated'],
        ['Available', 'False', 'ReplicasUnavailable'],
      ],
    },
  );
});

test('once every replica runs the update revision and is ready, it becomes the current revision', () => {
  const set = statefulSet({ template: template('v2') });
  const plan = planStatefulSet(
    set,
    [ready(0, { hash: V2 }), ready(1, { hash: V2 }), ready(2, { hash: V2 })],
    [],
    NOW,
    UPDATING,
  );
  assert.equal(plan.status.current_revision, `db-${V2}`);
  assert.equal(plan.status.current_replicas, 3);
  assert.equal(plan.status.conditions?.[1]?.status, 'True');
});

test('the pods of a set are those with its labels, in its namespace', () => {
  const other = { ...ready(0), metadata: { ...ready(0).metadata, namespace: 'other' } };
  assert.deepEqual(statefulSetPods(statefulSet(), [ready(0), other]).length, 1);
});

test('rollout status follows kubectl: ready pods, then the partition, then the revisions', () => {
  const base = statefulSet();
  const at = (status: SeerStatefulSet['status'], spec: Partial<SeerStatefulSetSpec> = {}) =>
    statefulSetRolloutProgress({ ...base, spec: { ...base.spec, ...spec }, status });
  assert.equal(at({ observed_generation: 1 }).state, 'waiting');
  assert.match(at({ observed_generation: 2, ready_replicas: 1 }).message, /Waiting for 2 pods to be ready/);
  const rolling = {
    observed_generation: 2,
    ready_replicas: 3,
    updated_replicas: 1,
    current_revision: 'a',
    update_revision: 'b',
  };
  assert.match(
    at(rolling).message,
    /waiting for stateful set rolling update to complete 1 pods at revision b/,
  );
  assert.equal(
    at({ ...rolling, current_revision: 'b', current_replicas: 3, updated_replicas: 3 }).state,
    'done',
  );
  // Right after an undo the revisions agree while pods of the undone one remain.
  assert.equal(at({ ...rolling, current_revision: 'b' }).state, 'waiting');
  const partitioned = { type: 'rolling_update' as const, rolling_update: { partition: 1 } };
  assert.match(
    at(rolling, { update_strategy: partitioned }).message,
    /1 out of 2 new pods have been updated/,
  );
  assert.equal(at({ ...rolling, updated_replicas: 2 }, { update_strategy: partitioned }).state, 'done');
  assert.equal(at(rolling, { update_strategy: { type: 'on_delete' } }).state, 'failed');
});
