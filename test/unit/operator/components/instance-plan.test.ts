import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  COMPONENT_IN_USE_FINALIZER,
  COMPONENT_LABEL,
  SEER_API_VERSION,
  TEMPLATE_HASH_LABEL,
} from '../../../../api/names.js';
import type { SeerComponent, SeerPod } from '../../../../api/types.js';
import { planInstances } from '../../../../operator/components/instance-plan.js';

const HASH = 'current';
const DELETED = new Date('2026-03-01T12:00:00Z');

function component(options: { deleting?: boolean; inUse?: boolean } = {}): SeerComponent {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerComponent',
    metadata: {
      name: 'nginx',
      namespace: 'default',
      ...(options.inUse ? { finalizers: [COMPONENT_IN_USE_FINALIZER] } : {}),
      ...(options.deleting ? { deletionTimestamp: DELETED } : {}),
    },
    spec: { template: { spec: { containers: [{ name: 'nginx', package: 'file:///nginx.tar.gz' }] } } },
  };
}

function dependent(name: string, node: string, options: { deleting?: boolean } = {}): SeerPod {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: { name, namespace: 'default', ...(options.deleting ? { deletionTimestamp: DELETED } : {}) },
    spec: {
      node_name: node,
      required_components: [{ name: 'nginx' }],
      containers: [{ name: 'app', package: 'file:///app.tar.gz' }],
    },
  };
}

function instance(node: string, options: { hash?: string; deleting?: boolean } = {}): SeerPod {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name: `nginx-${node}`,
      namespace: 'default',
      labels: { [COMPONENT_LABEL]: 'nginx', [TEMPLATE_HASH_LABEL]: options.hash ?? HASH },
      ...(options.deleting ? { deletionTimestamp: DELETED } : {}),
    },
    spec: { node_name: node, containers: [{ name: 'nginx', package: 'file:///nginx.tar.gz' }] },
  };
}

const names = (plan: ReturnType<typeof planInstances>) => ({
  remove: plan.remove.map((r) => `${r.instance.metadata.name}:${r.reason}`),
  create: plan.create,
  finalizer: plan.finalizer,
});

describe('planInstances', () => {
  test('one instance per node that runs a dependent, and the in-use finalizer added', () => {
    const pods = [
      dependent('a', 'host-1'),
      dependent('b', 'host-1'),
      dependent('c', 'host-2'),
      instance('host-2'),
    ];
    assert.deepEqual(names(planInstances(component(), HASH, pods)), {
      remove: [],
      create: ['host-1'],
      finalizer: 'add',
    });
  });

  test('an instance whose node has no dependent left is removed; one with an old template replaced', () => {
    const pods = [dependent('a', 'host-1'), instance('host-1', { hash: 'old' }), instance('host-3')];
    const plan = planInstances(component({ inUse: true }), HASH, pods);
    assert.deepEqual(names(plan), {
      remove: ['nginx-host-1:InstanceReplaced', 'nginx-host-3:InstanceRemoved'],
      create: ['host-1'],
      finalizer: undefined,
    });
  });

  test('the replacement waits while the old instance on its node is still shutting down', () => {
    const pods = [dependent('a', 'host-1'), instance('host-1', { hash: 'old', deleting: true })];
    assert.deepEqual(names(planInstances(component({ inUse: true }), HASH, pods)).create, []);
  });

  test('an instance stays while a dependent on its node is still shutting down', () => {
    const pods = [dependent('a', 'host-1', { deleting: true }), instance('host-1')];
    const plan = planInstances(component({ inUse: true }), HASH, pods);
    assert.deepEqual(names(plan), { remove: [], create: [], finalizer: 'remove' });
    assert.equal(plan.dependents.length, 0, 'a pod being deleted is no longer a dependent');
  });

  test('a component being deleted gets no new instances, and keeps its finalizer until they are gone', () => {
    const deleting = component({ deleting: true, inUse: true });
    assert.deepEqual(names(planInstances(deleting, HASH, [instance('host-1')])), {
      remove: ['nginx-host-1:InstanceRemoved'],
      create: [],
      finalizer: 'wait',
    });
    assert.equal(planInstances(deleting, HASH, []).finalizer, 'remove');
    // Still required: deletion is blocked, nothing new is created, the finalizer stays.
    const blocked = planInstances(deleting, HASH, [dependent('a', 'host-1')]);
    assert.deepEqual(names(blocked), { remove: [], create: [], finalizer: undefined });
  });
});
