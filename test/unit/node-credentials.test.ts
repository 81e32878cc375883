import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { loadAgentConfig } from '../../agent/config.js';
import {
  checkNodeName,
  nodeKubeconfigYaml,
  nodeObjects,
  nodeRestrictionManifests,
  nodeUsername,
  objectPath,
} from '../../cli/commands/node-credentials.js';
import { UsageError } from '../../cli/command.js';
import { repoPath } from '../../common/paths.js';
import { connectionFromKubeconfig } from '../../kube/rest.js';

test('deploy/agent.yaml is a valid agent configuration', async () => {
  const config = await loadAgentConfig(['--config', repoPath('deploy', 'agent.yaml')], 'host');
  assert.equal(config.kubeconfig, '/etc/seer/agent.kubeconfig');
  assert.equal(config.node_name, 'host-1');
  assert.equal(config.root, '/seer');
  assert.equal(config.heartbeat_interval_seconds, 10);
});

test('deploy/seer-agent.service runs the agent with its config and never kills the pods', async () => {
  const unit = await readFile(repoPath('deploy', 'seer-agent.service'), 'utf8');
  const settings = unit
    .split('\n')
    .filter((line) => /^\w+=/.test(line))
    .map((line) => line.split('=', 2) as [string, string]);
  const value = (key: string) => settings.filter(([k]) => k === key).map(([, v]) => v);
  assert.deepEqual(value('Type'), ['simple']);
  assert.deepEqual(value('ExecStart'), ['/usr/bin/seer-agent --config /etc/seer/agent.yaml']);
  assert.deepEqual(value('Restart'), ['always']);
  assert.deepEqual(value('KillMode'), ['process']);
  assert.deepEqual(value('WantedBy'), ['multi-user.target']);
});

test('the node restriction manifests: roles, the policy and its Deny binding', async () => {
  const objects = await nodeRestrictionManifests();
  const byKind = new Map(objects.map((o) => [o.kind, o]));
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'Namespace/seer-system',
      'ClusterRole/seer:node',
      'Role/seer:node',
      'ValidatingAdmissionPolicy/seer-node-restriction',
      'ValidatingAdmissionPolicyBinding/seer-node-restriction',
    ],
  );
  const rules = byKind.get('ClusterRole')?.rules as { resources: string[]; verbs: string[] }[];
  const verbs = Object.fromEntries(rules.map((r) => [r.resources.join(), r.verbs.sort().join()]));
  assert.deepEqual(verbs, {
    seerpods: 'get,list,patch,watch',
    'seerpods/status': 'patch',
    seernodes: 'create,get,patch',
    'seernodes/status': 'patch',
    seerdatadirs: 'get,list,patch,watch',
    'seerdatadirs/status': 'patch',
    tokenreviews: 'create',
    subjectaccessreviews: 'create',
  });
  const policy = byKind.get('ValidatingAdmissionPolicy') as unknown as {
    spec: { matchConditions: { expression: string }[]; variables: { name: string; expression: string }[] };
  };
  const prefix = 'system:serviceaccount:seer-system:seer-node-';
  assert.ok(nodeUsername('x').startsWith(prefix));
  assert.ok(policy.spec.matchConditions[0]?.expression.includes(`'${prefix}'`));
  assert.ok(policy.spec.variables.find((v) => v.name === 'node')?.expression.includes(`'${prefix}'`));
  const binding = byKind.get('ValidatingAdmissionPolicyBinding') as unknown as {
    spec: { policyName: string; validationActions: string[] };
  };
  assert.equal(binding.spec.policyName, 'seer-node-restriction');
  assert.deepEqual(binding.spec.validationActions, ['Deny']);
});

test('per-node objects and their API paths', () => {
  assert.deepEqual(nodeObjects('h1').map(objectPath), [
    '/api/v1/namespaces/seer-system/serviceaccounts/seer-node-h1',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/seer-node-h1',
    '/apis/rbac.authorization.k8s.io/v1/namespaces/kube-node-lease/rolebindings/seer-node-h1',
  ]);
  assert.equal(
    objectPath({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'seer-system' } }),
    '/api/v1/namespaces/seer-system',
  );
});

test('node names must be object names', () => {
  checkNodeName('host-1.example');
  for (const bad of ['', 'Host', '-a', 'a_b', 'a/b', 'x'.repeat(250)]) {
    assert.throws(() => checkNodeName(bad), UsageError, bad);
  }
});

test('the kubeconfig carries the server, the CA and the token, and reads back', async () => {
  const text = nodeKubeconfigYaml('h1', {
    server: 'https://10.0.0.1:6443',
    caData: Buffer.from('CA PEM'),
    token: 'tok',
  });
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'seer-node-kubeconfig-')), 'kubeconfig');
  await writeFile(file, text);
  const connection = connectionFromKubeconfig(file);
  assert.equal(connection.server, 'https://10.0.0.1:6443');
  assert.equal(connection.ca?.toString(), 'CA PEM');
  assert.equal(connection.token, 'tok');
  assert.equal(connection.cert, undefined);
  assert.equal((yaml.load(text) as { 'current-context': string })['current-context'], 'seer-node-h1');
});
