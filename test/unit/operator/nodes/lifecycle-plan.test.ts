import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEPLOYMENT_LABEL, NODE_PHASE, SEER_API_VERSION } from '../../../../api/names.js';
import type { NodePhase, SeerNode, SeerPod } from '../../../../api/types.js';
import { planNode } from '../../../../operator/nodes/lifecycle-plan.js';

const TIMEOUTS = { gracePeriodMs: 40_000, evictionTimeoutMs: 300_000 };

function node(phase: NodePhase): SeerNode {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerNode',
    metadata: { name: 'host-1' },
    spec: {},
    status: { phase },
  };
}

function pod(
  name: string,
  options: { deployment?: boolean; phase?: string; deleting?: boolean } = {},
): SeerPod {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name,
      namespace: 'default',
      ...(options.deployment ? { labels: { [DEPLOYMENT_LABEL]: 'web' } } : {}),
      ...(options.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: { node_name: 'host-1', containers: [{ name: 'app', package: 'file:///app.tar.gz' }] },
    ...(options.phase ? { status: { phase: options.phase } } : {}),
  } as SeerPod;
}

const names = (pods: SeerPod[]) => pods.map((p) => p.metadata.name);

test('a node renewing its lease stays as it is, and is looked at again when the grace period ends', () => {
  const plan = planNode(node(NODE_PHASE.Ready), [pod('a')], 10_000, TIMEOUTS);
  assert.deepEqual(plan, { podsUnknown: [], release: [], recheckAfterMs: 30_100 });
});

test('an Unknown node whose lease is renewed again is Ready again', () => {
  assert.equal(planNode(node(NODE_PHASE.Unknown), [], 0, TIMEOUTS).mark, 'Ready');
});

test('past the grace period the node and its pods are Unknown, once; eviction is planned for later', () => {
  const pods = [pod('a', { deployment: true }), pod('b', { phase: 'Unknown' }), pod('c', { deleting: true })];
  const first = planNode(node(NODE_PHASE.Ready), pods, 40_000, TIMEOUTS);
  assert.equal(first.mark, 'Unknown');
  assert.deepEqual(names(first.podsUnknown), ['a']);
  assert.deepEqual(first.release, []);
  assert.equal(first.recheckAfterMs, 300_100);
  assert.equal(planNode(node(NODE_PHASE.Unknown), pods, 100_000, TIMEOUTS).mark, undefined);
});

test('past the eviction timeout only its deployment pods are released, and nothing is rechecked', () => {
  const pods = [pod('web-1', { deployment: true, phase: 'Unknown' }), pod('hand-made', { phase: 'Unknown' })];
  const plan = planNode(node(NODE_PHASE.Unknown), pods, 340_000, TIMEOUTS);
  assert.deepEqual(names(plan.release), ['web-1']);
  assert.equal(plan.recheckAfterMs, undefined);
});
