import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import yaml from 'js-yaml';
import type { AnySeerObject } from '../../api/types.js';
import { METADATA_FILE } from '../../packages/metadata.js';
import { repoPath } from '../../common/paths.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { completeObjects } from '../fixtures/complete-objects.js';
import { runCommand, startTestCluster, type TestCluster } from '../support/control-plane.js';

let cluster: TestCluster;

before(async () => {
  cluster = await startTestCluster({ crds: true });
});

after(async () => {
  await cluster?.stop();
});

/** The header row of a `kubectl get` table, split into column names. */
function headers(table: string): string[] {
  return (table.split('\n')[0] ?? '').trim().split(/\s{2,}/);
}

/** The cells of the row whose first column is `name`. */
function row(table: string, name: string): string[] {
  const line = table.split('\n').find((l) => l.split(/\s+/)[0] === name);
  assert.ok(line, `no row ${name} in:\n${table}`);
  return line.trim().split(/\s{2,}/);
}

describe('the examples', () => {
  before(async () => {
    // Every manifest; a package's own seer-package.yaml is not one.
    const manifests = (await readdir(repoPath('examples'), { recursive: true }))
      .filter((name) => name.endsWith('.yaml') && path.basename(name) !== METADATA_FILE)
      .map((name) => repoPath('examples', name));
    await cluster.kubectlOk(['apply', ...manifests.flatMap((file) => ['-f', file])]);
  });

  test('kubectl get seer lists every example, by category', async () => {
    const out = await cluster.kubectlOk(['get', 'seer', '-o', 'name']);
    for (const expected of [
      'seerpod.seer.io/passport',
      'seerdeployment.seer.io/passport-deployment',
      'seerdaemonset.seer.io/log-agent',
      'seerstatefulset.seer.io/pg',
      'seercomponent.seer.io/nginx-component',
      'seercomponent.seer.io/fpm-component',
    ]) {
      assert.ok(out.includes(expected), `${expected} missing from:\n${out}`);
    }
    const nodes = await cluster.kubectlOk(['get', 'snode', '-o', 'name']);
    assert.match(nodes, /^seernode\.seer\.io\//m);
  });

  test('short names reach each kind', async () => {
    for (const short of ['spod', 'sdeploy', 'sds', 'ssts', 'scomp', 'snode']) {
      const out = await cluster.kubectl(['get', short]);
      assert.equal(out.code, 0, `${short}: ${out.stderr}`);
    }
  });

  test('seerpods show READY, STATUS, RESTARTS, AGE and, wide, NODE and IP, filled from status', async () => {
    await cluster.kubectlOk([
      'patch',
      'seerpod',
      'passport',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Running', ready: '3/3', restarts: 4, host_ip: '127.0.0.2' } }),
    ]);
    await cluster.kubectlOk([
      'patch',
      'seerpod',
      'passport',
      '--type=merge',
      '-p',
      '{"spec":{"node_name":"host-1"}}',
    ]);
    const wide = await cluster.kubectlOk(['get', 'seerpods', '-o', 'wide']);
    assert.deepEqual(headers(wide), ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'NODE', 'IP']);
    const cells = row(wide, 'passport');
    assert.deepEqual(
      [cells[1], cells[2], cells[3], cells[5], cells[6]],
      ['3/3', 'Running', '4', 'host-1', '127.0.0.2'],
    );
    assert.deepEqual(headers(await cluster.kubectlOk(['get', 'seerpods'])), [
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
    ]);
  });

  test('seerdeployments show DESIRED, READY, UP-TO-DATE, AVAILABLE', async () => {
    await cluster.kubectlOk([
      'patch',
      'seerdeployment',
      'passport-deployment',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: { replicas: 3, ready_replicas: 2, updated_replicas: 3, available_replicas: 1 },
      }),
    ]);
    const table = await cluster.kubectlOk(['get', 'seerdeployments']);
    assert.deepEqual(headers(table).slice(0, 5), ['NAME', 'DESIRED', 'READY', 'UP-TO-DATE', 'AVAILABLE']);
    assert.deepEqual(row(table, 'passport-deployment').slice(1, 5), ['3', '2', '3', '1']);
  });

  test('seerdaemonsets show DESIRED, CURRENT, READY, UP-TO-DATE, AVAILABLE, NODE-SELECTOR', async () => {
    await cluster.kubectlOk([
      'patch',
      'seerdaemonset',
      'log-agent',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          desired_number_scheduled: 4,
          current_number_scheduled: 3,
          number_ready: 2,
          updated_number_scheduled: 1,
          number_available: 2,
        },
      }),
    ]);
    const table = await cluster.kubectlOk(['get', 'sds']);
    assert.deepEqual(headers(table), [
      'NAME',
      'DESIRED',
      'CURRENT',
      'READY',
      'UP-TO-DATE',
      'AVAILABLE',
      'NODE-SELECTOR',
      'AGE',
    ]);
    assert.deepEqual(row(table, 'log-agent').slice(1, 7), ['4', '3', '2', '1', '2', '{"role":"db"}']);
  });

  test('seerstatefulsets show READY as ready/desired and AGE, and wide UP-TO-DATE and PARTITION', async () => {
    await cluster.kubectlOk([
      'patch',
      'seerstatefulset',
      'pg',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { replicas: 2, ready_replicas: 1, ready: '1/2', updated_replicas: 2 } }),
    ]);
    const table = await cluster.kubectlOk(['get', 'ssts']);
    assert.deepEqual(headers(table), ['NAME', 'READY', 'AGE']);
    assert.deepEqual(row(table, 'pg').slice(1, 2), ['1/2']);
    const wide = await cluster.kubectlOk(['get', 'ssts', '-o', 'wide']);
    assert.deepEqual(headers(wide), ['NAME', 'READY', 'AGE', 'UP-TO-DATE', 'PARTITION']);
    assert.equal(row(wide, 'pg')[3], '2');
  });

  test('kubectl scale changes a stateful set through the scale subresource', async () => {
    await cluster.kubectlOk(['scale', 'ssts/pg', '--replicas=3']);
    const replicas = await cluster.kubectlOk(['get', 'ssts', 'pg', '-o', 'jsonpath={.spec.replicas}']);
    assert.equal(replicas.trim(), '3');
  });

  test('seernodes show STATUS, PODS, AGENT', async () => {
    const name = (
      await cluster.kubectlOk(['get', 'snode', '-o', 'jsonpath={.items[0].metadata.name}'])
    ).trim();
    await cluster.kubectlOk([
      'patch',
      'seernode',
      name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Ready', pods: 7, node_info: { agent_version: '0.1.0' } } }),
    ]);
    const table = await cluster.kubectlOk(['get', 'seernodes']);
    assert.deepEqual(headers(table).slice(0, 4), ['NAME', 'STATUS', 'PODS', 'AGENT']);
    assert.deepEqual(row(table, name).slice(1, 4), ['Ready', '7', '0.1.0']);
  });

  test('kubectl scale changes a deployment through the scale subresource', async () => {
    await cluster.kubectlOk(['scale', 'seerdeployment/passport-deployment', '--replicas=5']);
    const replicas = await cluster.kubectlOk([
      'get',
      'seerdeployment',
      'passport-deployment',
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    assert.equal(replicas, '5');
    const scale = JSON.parse(
      await cluster.kubectlOk([
        'get',
        '--raw',
        '/apis/seer.io/v1alpha1/namespaces/default/seerdeployments/passport-deployment/scale',
      ]),
    ) as { spec: { replicas: number } };
    assert.equal(scale.spec.replicas, 5);
  });

  test('kubectl wait --for=condition works on a status condition', async () => {
    const notYet = await cluster.kubectl([
      'wait',
      '--for=condition=Ready',
      '--timeout=1s',
      'seerpod/passport',
    ]);
    assert.notEqual(notYet.code, 0, 'no Ready condition yet: the wait must time out');
    await cluster.kubectlOk([
      'patch',
      'seerpod',
      'passport',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'ContainersReady',
              last_transition_time: new Date().toISOString(),
            },
          ],
        },
      }),
    ]);
    const out = await cluster.kubectlOk([
      'wait',
      '--for=condition=Ready',
      '--timeout=10s',
      'seerpod/passport',
    ]);
    assert.match(out, /condition met/);
  });
});

test("seer convert turns the original design's manifests into objects the API server accepts", async () => {
  const dir = repoPath('test', 'fixtures', 'seed');
  for (const file of (await readdir(dir)).sort()) {
    const converted = await runCommand(process.execPath, [
      repoPath('dist', 'cli', 'main.js'),
      'convert',
      '-f',
      path.join(dir, file),
    ]);
    assert.equal(converted.code, 0, converted.stderr);
    const out = await cluster.kubectlOk(['apply', '--dry-run=server', '-f', '-'], converted.stdout);
    assert.match(out, /seer\.io\/\S+ (created|configured|unchanged) \(server dry run\)/, file);
  }
});

describe('kubectl explain', () => {
  test('describes the container commands', async () => {
    const out = await cluster.kubectlOk(['explain', 'seerpod.spec.containers.commands']);
    assert.match(out, /GROUP:\s+seer\.io/);
    for (const field of ['start', 'stop', 'reload', 'restart'])
      assert.match(out, new RegExp(`^\\s+${field}\\s+<string>`, 'm'));
    assert.doesNotMatch(out, /<empty>/);
  });

  test('describes every field of every kind', async () => {
    for (const kind of ['seerpod', 'seerdeployment', 'seercomponent', 'seernode']) {
      const out = await cluster.kubectlOk(['explain', kind, '--recursive']);
      assert.match(out, /DESCRIPTION:\n\s+\S/, kind);
      assert.match(out, /spec\s+<Object>/, kind);
      assert.match(out, /status\s+<Object>/, kind);
    }
  });
});

describe('invalid manifests are refused by the API server, naming the field', async () => {
  const dir = repoPath('test', 'fixtures', 'invalid');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length >= 20, `expected a fixture per rule, found ${files.length}`);
  for (const file of files) {
    test(file, async () => {
      const text = await readFile(path.join(dir, file), 'utf8');
      const expectations = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => (m[1] ?? '').trim());
      assert.ok(expectations.length > 0, `${file} has no "# expect:" line`);
      const result = await cluster.kubectl(['apply', '-f', path.join(dir, file)]);
      assert.notEqual(result.code, 0, `${file} was accepted: ${result.stdout}`);
      for (const expected of expectations)
        assert.ok(result.stderr.includes(expected), `expected "${expected}" in:\n${result.stderr}`);
    });
  }
});

/** Where `sent` and `received` differ, leaf by leaf, ignoring what only `received` has (defaults). */
function differences(sent: unknown, received: unknown, at = ''): string[] {
  if (typeof sent !== 'object' || sent === null) {
    return sent === received ? [] : [`${at}: sent ${JSON.stringify(sent)}, got ${JSON.stringify(received)}`];
  }
  if (typeof received !== 'object' || received === null) return [`${at}: missing`];
  return Object.entries(sent).flatMap(([key, value]) =>
    differences(value, (received as Record<string, unknown>)[key], `${at}.${key}`),
  );
}

async function exampleObjects(): Promise<AnySeerObject[]> {
  const files = [
    'passport-pod.yaml',
    'passport-deployment.yaml',
    'log-agent-daemonset.yaml',
    'postgres-statefulset.yaml',
    'php-stack.yaml',
    'node.yaml',
    'hello/hello-pod.yaml',
  ];
  const objects: AnySeerObject[] = [];
  for (const file of files) {
    for (const doc of yaml.loadAll(await readFile(repoPath('examples', file), 'utf8'))) {
      if (doc) objects.push(doc as AnySeerObject);
    }
  }
  return objects;
}

describe('types and CRDs agree: typed objects sent with client-node come back unchanged', () => {
  let client: SeerClient;
  const namespace = 'roundtrip';

  before(async () => {
    await cluster.kubectlOk(['create', 'namespace', namespace]);
    client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  });

  let created = 0;
  async function roundTrip(object: AnySeerObject): Promise<string[]> {
    const sent = structuredClone(object);
    const namespaced = sent.kind !== 'SeerNode';
    // Two examples share a name (the seed's passport-deployment): number every copy.
    const name = `rt${++created}-${sent.metadata.name}`;
    sent.metadata = { ...sent.metadata, name, namespace: namespaced ? namespace : undefined };
    const { status, ...withoutStatus } = sent;
    await client.create(sent.kind, withoutStatus as AnySeerObject);
    if (status) await client.patchStatus(sent.kind, sent, status);
    const received = await client.get(sent.kind, sent.metadata.name ?? '', sent.metadata.namespace);
    return differences({ spec: sent.spec, status }, received);
  }

  for (const object of completeObjects) {
    test(`complete ${object.kind}: every field survives exactly`, async () => {
      assert.deepEqual(await roundTrip(object), []);
    });
  }

  test('every example manifest', async () => {
    const examples = await exampleObjects();
    assert.ok(examples.length >= 6);
    for (const example of examples) {
      assert.deepEqual(await roundTrip(example), [], `${example.kind} ${example.metadata.name}`);
    }
  });
});
