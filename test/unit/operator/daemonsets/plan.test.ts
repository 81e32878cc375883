import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AGENT_FINALIZER,
  DAEMON_SET_LABEL,
  NODE_LABEL,
  SEER_API_VERSION,
  TEMPLATE_HASH_LABEL,
} from '../../../../api/names.js';
import type {
  PodTemplate,
  SeerDaemonSet,
  SeerDaemonSetSpec,
  SeerNode,
  SeerPod,
} from '../../../../api/types.js';
import {
  daemonSetPods,
  maxUnavailable,
  planDaemonSet,
  shouldRun,
  type DaemonSetPlan,
} from '../../../../operator/daemonsets/plan.js';
import { daemonSetRolloutProgress } from '../../../../workloads/rollout-progress.js';
import { templateHash } from '../../../../workloads/template-hash.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const NOW = new Date(T0 + 600_000);

function template(version = 'v1'): PodTemplate {
  return {
    metadata: { labels: { app: 'agent' } },
    spec: { containers: [{ name: 'agent', package: `file:///packages/agent-${version}.tar.gz` }] },
  };
}

const V1 = templateHash(template('v1'));
const V2 = templateHash(template('v2'));

function daemonSet(spec: Partial<SeerDaemonSetSpec> = {}): SeerDaemonSet {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDaemonSet',
    metadata: { name: 'logs', namespace: 'default', uid: 'uid-logs', generation: 2 },
    spec: { template: template('v1'), ...spec },
  };
}

function node(name: string, labels: Record<string, string> = {}, extra: Partial<SeerNode> = {}): SeerNode {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerNode',
    metadata: { name, labels },
    spec: {},
    ...extra,
  };
}

let counter = 0;

interface PodOptions {
  hash?: string;
  /** Seconds after T0 it became ready; absent: not ready. */
  readyAt?: number;
  deleting?: boolean;
  phase?: 'Running' | 'Failed';
  createdAt?: number;
}

function pod(nodeName: string | undefined, options: PodOptions = {}): SeerPod {
  const hash = options.hash ?? V1;
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name: `logs-${hash}-${String(counter++).padStart(5, '0')}`,
      namespace: 'default',
      labels: { app: 'agent', [DAEMON_SET_LABEL]: 'logs', [TEMPLATE_HASH_LABEL]: hash },
      creationTimestamp: new Date(T0 + (options.createdAt ?? 0) * 1000),
      ...(options.deleting ? { deletionTimestamp: new Date(T0) } : {}),
      finalizers: [AGENT_FINALIZER],
    },
    spec: { ...template().spec, ...(nodeName ? { node_name: nodeName } : {}) },
    status: {
      phase: options.phase ?? 'Running',
      conditions:
        options.readyAt === undefined
          ? [{ type: 'Ready', status: 'False' }]
          : [
              {
                type: 'Ready',
                status: 'True',
                last_transition_time: new Date(T0 + options.readyAt * 1000).toISOString(),
              },
            ],
    },
  };
}

const names = (pods: SeerPod[]) => pods.map((p) => p.metadata.name).sort();
const nodesOf = (pods: SeerPod[]) => pods.map((p) => p.spec.node_name).sort();

function plan(ds: SeerDaemonSet, nodes: SeerNode[], pods: SeerPod[], hash = V1): DaemonSetPlan {
  return planDaemonSet(ds, nodes, pods, NOW, hash);
}

test('every node that matches node_selector (and the template node_selector) should run the pod', () => {
  const ds = daemonSet({ node_selector: { role: 'db' } });
  assert.equal(shouldRun(ds, node('a', { role: 'db' })), true);
  assert.equal(shouldRun(ds, node('b', { role: 'web' })), false);
  assert.equal(shouldRun(ds, node('c')), false);
  assert.equal(shouldRun(daemonSet(), node('c')), true, 'no selector: every node');
  assert.equal(shouldRun(daemonSet({ node_selector: {} }), node('c')), true, 'empty selector: every node');
  const narrowed = daemonSet({
    node_selector: { role: 'db' },
    template: { ...template(), spec: { ...template().spec, node_selector: { disk: 'ssd' } } },
  });
  assert.equal(shouldRun(narrowed, node('a', { role: 'db' })), false);
  assert.equal(shouldRun(narrowed, node('a', { role: 'db', disk: 'ssd' })), true);
});

test('a cordoned or not-Ready node still runs the pod; a node being deleted does not', () => {
  const ds = daemonSet();
  assert.equal(shouldRun(ds, node('a', {}, { spec: { unschedulable: true } })), true);
  assert.equal(shouldRun(ds, node('a', {}, { status: { phase: 'Unknown' } })), true);
  assert.equal(
    shouldRun(ds, node('a', {}, { metadata: { name: 'a', deletionTimestamp: new Date(T0) } })),
    false,
  );
});

test('nodes without a pod get one; nodes that should not run it lose theirs', () => {
  const ds = daemonSet({ node_selector: { role: 'db' } });
  const nodes = [node('a', { role: 'db' }), node('b', { role: 'db' }), node('c', { role: 'web' })];
  const onA = pod('a', { readyAt: 0 });
  const onC = pod('c', { readyAt: 0 });
  const planned = plan(ds, nodes, [onA, onC]);
  assert.deepEqual(planned.create, ['b']);
  assert.deepEqual(names(planned.delete), names([onC]));
  assert.deepEqual(planned.release, []);
  assert.equal(planned.status.desired_number_scheduled, 2);
  assert.equal(planned.status.current_number_scheduled, 1);
  assert.equal(planned.status.number_misscheduled, 1);
  assert.equal(planned.status.number_ready, 1);
  assert.equal(planned.status.number_available, 1);
  assert.equal(planned.status.number_unavailable, 1);
  assert.equal(planned.status.observed_generation, 2);
});

test('a node with a pod still stopping waits for it before getting a new one', () => {
  const planned = plan(daemonSet(), [node('a')], [pod('a', { deleting: true })]);
  assert.deepEqual(planned.create, []);
  assert.deepEqual(planned.delete, []);
});

test('pods on nodes that are gone are released; unbound and finished pods are deleted', () => {
  const gone = pod('vanished', { readyAt: 0 });
  const goneStopping = pod('vanished-too', { deleting: true });
  const unbound = pod(undefined);
  const failed = pod('a', { phase: 'Failed' });
  const planned = plan(daemonSet(), [node('a')], [gone, goneStopping, unbound, failed]);
  assert.deepEqual(names(planned.release), names([gone, goneStopping]));
  assert.deepEqual(names(planned.delete), names([unbound, failed]));
  // The failed pod is being deleted: its replacement comes once it is gone.
  assert.deepEqual(planned.create, []);
});

test('of several pods on one node, one of the current template is kept, else the oldest', () => {
  const oldest = pod('a', { hash: V1, createdAt: 1, readyAt: 2 });
  const newer = pod('a', { hash: V1, createdAt: 5, readyAt: 6 });
  assert.deepEqual(names(plan(daemonSet(), [node('a')], [newer, oldest]).delete), names([newer]));
  const current = pod('a', { hash: V2, createdAt: 9, readyAt: 10 });
  const planned = plan(daemonSet({ template: template('v2') }), [node('a')], [oldest, current], V2);
  assert.deepEqual(names(planned.delete), names([oldest]));
});

test('max_unavailable: a count, or a percentage of the desired nodes rounded up, never below 1', () => {
  assert.equal(maxUnavailable(undefined, 10), 1);
  assert.equal(maxUnavailable(3, 10), 3);
  assert.equal(maxUnavailable('10%', 10), 1);
  assert.equal(maxUnavailable('15%', 10), 2, '1.5 rounds up');
  assert.equal(maxUnavailable('30%', 7), 3, '2.1 rounds up');
  assert.equal(maxUnavailable('100%', 4), 4);
  assert.equal(maxUnavailable('50%', 0), 1);
  assert.equal(maxUnavailable(0, 5), 1);
});

const five = ['a', 'b', 'c', 'd', 'e'].map((n) => node(n));

test('rolling update: available old pods are replaced max_unavailable nodes at a time', () => {
  const ds = daemonSet({
    template: template('v2'),
    update_strategy: { type: 'rolling', max_unavailable: 2 },
  });
  const old = five.map((n) => pod(n.metadata.name, { hash: V1, readyAt: 0 }));
  const first = plan(ds, five, old, V2);
  assert.deepEqual(nodesOf(first.delete), ['a', 'b']);
  assert.deepEqual(first.create, []);
  assert.equal(first.status.updated_number_scheduled, 0);
  assert.equal(first.status.conditions?.[0]?.reason, 'TemplateUpdated');

  // a and b are stopping: nothing more may go.
  const stopping = [
    pod('a', { hash: V1, deleting: true }),
    pod('b', { hash: V1, deleting: true }),
    ...old.slice(2),
  ];
  const second = plan(ds, five, stopping, V2);
  assert.deepEqual(second.delete, []);
  assert.deepEqual(second.create, []);

  // a's new pod is ready, b's is not yet: one more node may go.
  const next = [pod('a', { hash: V2, readyAt: 500 }), pod('b', { hash: V2 }), ...old.slice(2)];
  const third = plan(ds, five, next, V2);
  assert.deepEqual(nodesOf(third.delete), ['c']);
  assert.equal(third.status.updated_number_scheduled, 2);
});

test('rolling update: a new pod counts as unavailable until it has been ready min_ready_seconds', () => {
  const ds = daemonSet({ template: template('v2'), min_ready_seconds: 120 });
  // Ready 60 s before NOW: available in 60 s.
  const fresh = pod('a', { hash: V2, readyAt: 540 });
  const old = ['b', 'c'].map((n) => pod(n, { hash: V1, readyAt: 0 }));
  const planned = plan(ds, five.slice(0, 3), [fresh, ...old], V2);
  assert.deepEqual(planned.delete, []);
  assert.equal(planned.recheckAfterMs, 60_000);
  assert.equal(planned.status.number_ready, 3);
  assert.equal(planned.status.number_available, 2);
  const later = planDaemonSet(ds, five.slice(0, 3), [fresh, ...old], new Date(NOW.getTime() + 60_000), V2);
  assert.deepEqual(nodesOf(later.delete), ['b']);
});

test('rolling update: old pods that are not available are replaced at once, beyond the limit', () => {
  const ds = daemonSet({ template: template('v2') });
  const pods = [pod('a', { hash: V1 }), pod('b', { hash: V1 }), pod('c', { hash: V1, readyAt: 0 })];
  const planned = plan(ds, five.slice(0, 3), pods, V2);
  // a and b are unavailable anyway and go; 2 unavailable already exceed max_unavailable 1, so c stays.
  assert.deepEqual(nodesOf(planned.delete), ['a', 'b']);
});

test('rolling update: a percentage limit rounds up against the desired nodes', () => {
  const ds = daemonSet({ template: template('v2'), update_strategy: { max_unavailable: '30%' } });
  const old = five.map((n) => pod(n.metadata.name, { hash: V1, readyAt: 0 }));
  // 30% of 5 is 1.5: 2 nodes at a time.
  assert.deepEqual(nodesOf(plan(ds, five, old, V2).delete), ['a', 'b']);
});

test('on_delete: old pods stay; a deleted one comes back from the current template', () => {
  const ds = daemonSet({ template: template('v2'), update_strategy: { type: 'on_delete' } });
  const old = five.slice(1).map((n) => pod(n.metadata.name, { hash: V1, readyAt: 0 }));
  const planned = plan(ds, five, old, V2);
  assert.deepEqual(planned.delete, []);
  assert.deepEqual(planned.create, ['a']);
  assert.equal(planned.status.updated_number_scheduled, 0);
  assert.equal(planned.status.current_number_scheduled, 4);
});

test('conditions: Progressing complete and Available once every node runs an available current pod', () => {
  const ds = daemonSet();
  const pods = five.map((n) => pod(n.metadata.name, { readyAt: 0 }));
  const done = plan(ds, five, pods);
  const [progressing, available] = done.status.conditions ?? [];
  assert.equal(progressing?.type, 'Progressing');
  assert.equal(progressing?.reason, 'NewTemplateAvailable');
  assert.equal(available?.type, 'Available');
  assert.equal(available?.status, 'True');
  const missing = plan(ds, five, pods.slice(1));
  assert.equal(missing.status.conditions?.[1]?.status, 'False');
  assert.equal(missing.status.conditions?.[0]?.reason, 'TemplateUpdated');
});

test('the daemon set selects its pods by its label and selector, in its namespace', () => {
  const ds = daemonSet({ selector: { match_labels: { app: 'agent' } } });
  const mine = pod('a');
  const otherNamespace = { ...pod('a'), metadata: { ...pod('a').metadata, namespace: 'other' } };
  const otherSet = {
    ...pod('a'),
    metadata: { ...pod('a').metadata, labels: { app: 'agent', [DAEMON_SET_LABEL]: 'x', [NODE_LABEL]: 'a' } },
  };
  assert.deepEqual(daemonSetPods(ds, [mine, otherNamespace, otherSet]), [mine]);
});

test('seer rollout status reads a daemon set as kubectl rollout status does', () => {
  const at = (status: SeerDaemonSet['status'], spec: Partial<SeerDaemonSetSpec> = {}) =>
    daemonSetRolloutProgress({ ...daemonSet(spec), status });
  const all = { desired_number_scheduled: 3, updated_number_scheduled: 3, number_available: 3 };
  assert.equal(
    at({ ...all, observed_generation: 1 }).message,
    'Waiting for daemon set spec update to be observed...',
  );
  assert.deepEqual(at({ ...all, observed_generation: 2, updated_number_scheduled: 1 }), {
    state: 'waiting',
    message: 'Waiting for daemon set "logs" rollout to finish: 1 out of 3 new pods have been updated...',
  });
  assert.equal(
    at({ ...all, observed_generation: 2, number_available: 2 }).message,
    'Waiting for daemon set "logs" rollout to finish: 2 of 3 updated pods are available...',
  );
  assert.deepEqual(at({ ...all, observed_generation: 2 }), {
    state: 'done',
    message: 'daemon set "logs" successfully rolled out',
  });
  assert.equal(
    at({ ...all, observed_generation: 2 }, { update_strategy: { type: 'on_delete' } }).state,
    'failed',
  );
});
