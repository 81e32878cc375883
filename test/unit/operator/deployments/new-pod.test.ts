import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SeerPodSpec } from '../../../../api/types.js';
import { newPod } from '../../../../operator/deployments/new-pod.js';
import {
  createdByDeployment,
  deploymentKeyOf,
  deploymentPods,
} from '../../../../operator/deployments/pod-selection.js';
import { deployment, pod, template } from './fixtures.js';

test('a new pod carries the template labels plus the deployment and hash labels, and the revision', () => {
  const base = template('v1');
  const d = deployment({
    template: {
      metadata: { labels: { app: 'web', 'seer.io/deployment': 'spoofed' }, annotations: { team: 'a' } },
      spec: { ...base.spec, node_selector: { disk: 'ssd' } },
    },
  });
  const created = newPod(d, d.spec.template, 'web-abc-12345', 'abc', 4);
  assert.equal(created.apiVersion, 'seer.io/v1alpha1');
  assert.equal(created.kind, 'SeerPod');
  assert.equal(created.metadata.name, 'web-abc-12345');
  assert.equal(created.metadata.namespace, 'default');
  assert.deepEqual(created.metadata.labels, {
    app: 'web',
    'seer.io/deployment': 'web',
    'seer.io/template-hash': 'abc',
  });
  assert.deepEqual(created.metadata.annotations, { team: 'a', 'seer.io/revision': '4' });
  assert.deepEqual(created.metadata.ownerReferences, [
    { apiVersion: 'seer.io/v1alpha1', kind: 'SeerDeployment', name: 'web', uid: 'uid-web', controller: true },
  ]);
  assert.deepEqual(created.spec, d.spec.template.spec);
});

test('a new pod is never bound, and does not share objects with the template', () => {
  const d = deployment();
  (d.spec.template.spec as SeerPodSpec).node_name = 'node-9';
  const created = newPod(d, d.spec.template, 'web-abc-12345', 'abc', 1);
  assert.equal(created.spec.node_name, undefined);
  created.spec.containers[0]!.package = 'changed';
  assert.notEqual(d.spec.template.spec.containers[0]?.package, 'changed');
});

test('a deployment selects the pods of its namespace labelled with its name and its selector', () => {
  const d = deployment({ selector: { match_labels: { app: 'web' } } });
  const mine = pod();
  const otherNamespace = { ...pod(), metadata: { ...pod().metadata, namespace: 'other' } };
  const otherDeployment = pod({ deployment: 'api' });
  const wrongApp = pod();
  wrongApp.metadata.labels = { ...wrongApp.metadata.labels, app: 'db' };
  assert.deepEqual(deploymentPods(d, [mine, otherNamespace, otherDeployment, wrongApp]), [mine]);
  assert.deepEqual(deploymentPods(deployment(), [mine, wrongApp]), [mine, wrongApp]);
});

test('a pod names its deployment by label, and its creator by owner reference', () => {
  const d = deployment();
  const created = newPod(d, d.spec.template, 'web-abc-12345', 'abc', 1);
  assert.equal(deploymentKeyOf(created), 'default/web');
  assert.ok(createdByDeployment(created, 'web'));
  assert.ok(!createdByDeployment(created, 'api'));
  assert.ok(!createdByDeployment(pod(), 'web'), 'labelled by hand, not created by it');
  assert.equal(deploymentKeyOf({ ...pod(), metadata: { name: 'x', namespace: 'default' } }), undefined);
});
