import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { V1JSONSchemaProps } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { loadCrds } from '../../api/crds.js';
import { SEER_API_VERSION, SEER_RESOURCES, SEER_VERSION } from '../../api/names.js';
import { unknownFields } from '../../api/schema-walk.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const examplesDir = path.join(repo, 'examples');
const invalidDir = path.join(repo, 'test', 'fixtures', 'invalid');
const crds = loadCrds();

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => path.join(dir, name));
}

interface Manifest {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown };
}

function manifests(file: string): Manifest[] {
  return yaml.loadAll(readFileSync(file, 'utf8')).filter((document) => document !== null) as Manifest[];
}

function schemaFor(kind: unknown): V1JSONSchemaProps {
  const crd = crds.find((candidate) => candidate.spec.names.kind === kind);
  assert.ok(crd, `unknown kind ${String(kind)}`);
  const schema = crd.spec.versions.find((version) => version.name === SEER_VERSION)?.schema?.openAPIV3Schema;
  assert.ok(schema);
  return schema;
}

const seerKinds: unknown[] = Object.keys(SEER_RESOURCES);

test('every example is a Seer object whose every field the CRD declares', () => {
  const files = yamlFiles(examplesDir);
  assert.ok(files.length >= 6, `only ${files.length} examples found`);
  for (const file of files) {
    const documents = manifests(file);
    assert.ok(documents.length > 0, `${file} is empty`);
    for (const document of documents) {
      const where = `${path.relative(repo, file)} ${String(document.kind)}/${String(document.metadata?.name)}`;
      assert.equal(document.apiVersion, SEER_API_VERSION, where);
      assert.ok(seerKinds.includes(document.kind), where);
      assert.equal(typeof document.metadata?.name, 'string', where);
      assert.deepEqual(unknownFields(document, schemaFor(document.kind)), [], where);
    }
  }
});

test('unknownFields names the fields a schema does not declare, as the API server would', () => {
  const pod = {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: { name: 'web', labels: { app: 'web' }, annotations: { note: 'metadata is never pruned' } },
    spec: {
      containers: [
        { name: 'web', package: 'registry.example.com/web:v1', image: 'nginx', commands: { begin: 'x' } },
        {
          name: 'sidecar',
          package: 'registry.example.com/sidecar:v1',
          env: [{ name: 'A', value: 'b', from: 'c' }],
        },
      ],
      required_components: [{ name: 'nginx', config: { 'web.conf': 'server {}' } }],
      node_selector: { disk: 'ssd' },
      replicas: 2,
    },
    status: { phase: 'Running', colour: 'green' },
    extra: true,
  };
  assert.deepEqual(unknownFields(pod, schemaFor('SeerPod')).sort(), [
    'extra',
    'spec.containers[0].commands.begin',
    'spec.containers[0].image',
    'spec.containers[1].env[0].from',
    'spec.replicas',
    'status.colour',
  ]);
});

test('unknownFields follows maps and lists in either schema form', () => {
  const schema = {
    properties: {
      labels: { additionalProperties: { type: 'string' } },
      things: {
        items: { properties: { name: {}, config: { additionalProperties: { properties: { a: {} } } } } },
      },
      free: { 'x-kubernetes-preserve-unknown-fields': true },
      alsoFree: { x_kubernetes_preserve_unknown_fields: true },
    },
  };
  const object = {
    labels: { anything: 'goes' },
    things: [{ name: 'x', config: { one: { a: 1, b: 2 } }, other: 1 }],
    free: { whatever: { deep: 1 } },
    alsoFree: { whatever: 1 },
  };
  assert.deepEqual(unknownFields(object, schema), ['things[0].config[one].b', 'things[0].other']);
});

test('the hello package program is an executable sh script that exits 0 on SIGTERM', async () => {
  const program = path.join(examplesDir, 'hello', 'package', 'bin', 'hello');
  accessSync(program, constants.X_OK);
  assert.match(readFileSync(program, 'utf8'), /^#!\/bin\/sh\n/);

  const child = spawn(program, [], {
    env: { ...process.env, SEER_POD_NAME: 'hello-test', HELLO_INTERVAL: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (code, signal) => resolve([code, signal])),
  );
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('is alive')) resolve();
    }),
  );
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
  assert.match(output, /hello from hello-test/);
  assert.match(output, /hello-test stopping/);
});

test('each invalid manifest is one Seer object with an expectation, refused for its own reason', () => {
  const files = yamlFiles(invalidDir);
  assert.ok(files.length >= 22, `only ${files.length} invalid manifests found`);
  const names = new Set<string>();
  for (const file of files) {
    const where = path.relative(repo, file);
    const text = readFileSync(file, 'utf8');
    const expectation = /^# expect: (.+)\n/.exec(text)?.[1];
    assert.ok(expectation, `${where} must start with "# expect: <substring>"`);
    const documents = manifests(file);
    assert.equal(documents.length, 1, where);
    const [document] = documents as [Manifest];
    assert.equal(document.apiVersion, SEER_API_VERSION, where);
    assert.ok(seerKinds.includes(document.kind), where);
    const name = String(document.metadata?.name);
    assert.ok(!names.has(name), `${where}: metadata.name ${name} is used twice`);
    names.add(name);
    // Only the manifests about unknown fields may hold fields the schema does not declare, so the
    // others are refused for the rule they are about rather than for a typo.
    const unknown = unknownFields(document, schemaFor(document.kind));
    const expectedUnknown = /^unknown field "(.+)"$/.exec(expectation)?.[1];
    assert.deepEqual(unknown, expectedUnknown ? [expectedUnknown] : [], where);
  }
});
