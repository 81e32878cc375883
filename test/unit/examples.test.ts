import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { V1JSONSchemaProps } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { loadCrds } from '../../api/crds.js';
import { SEER_API_VERSION, SEER_GROUP, SEER_RESOURCES, SEER_VERSION } from '../../api/names.js';
import { unknownFields } from '../../api/schema-walk.js';
import { METADATA_FILE, parsePackageMetadata } from '../../packages/metadata.js';
import { freePort } from '../../cli/control-plane/ports.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const readme = path.join(repo, 'README.md');
const examplesDir = path.join(repo, 'examples');
const invalidDir = path.join(repo, 'test', 'fixtures', 'invalid');
const crds = loadCrds();

/** The YAML files under `dir`: manifests, or with `packages` the packages' seer-package.yaml files. */
function yamlFiles(dir: string, { packages = false } = {}): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.yaml') && (path.basename(name) === METADATA_FILE) === packages)
    .sort()
    .map((name) => path.join(dir, name));
}

interface Manifest {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown };
}

function documents(text: string): Manifest[] {
  return yaml.loadAll(text).filter((document) => document !== null) as Manifest[];
}

function manifests(file: string): Manifest[] {
  return documents(readFileSync(file, 'utf8'));
}

/** The text of every ```yaml fenced block of a Markdown file, with the line it starts on. */
function yamlBlocks(file: string): { line: number; text: string }[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: { line: number; text: string }[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (!/^\s*```yaml\s*$/.test(lines[index] ?? '')) continue;
    const start = index + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end] ?? '')) end++;
    assert.ok(end < lines.length, `the yaml block on line ${start} of ${file} is never closed`);
    blocks.push({ line: start, text: lines.slice(start, end).join('\n') });
    index = end;
  }
  return blocks;
}

function schemaFor(kind: unknown): V1JSONSchemaProps {
  const crd = crds.find((candidate) => candidate.spec.names.kind === kind);
  assert.ok(crd, `unknown kind ${String(kind)}`);
  const schema = crd.spec.versions.find((version) => version.name === SEER_VERSION)?.schema?.openAPIV3Schema;
  assert.ok(schema);
  return schema;
}

const seerKinds: unknown[] = Object.keys(SEER_RESOURCES);

/** A Seer object of a known kind, with a name, whose every field its CRD declares. */
function assertSeerObject(document: Manifest, where: string): void {
  assert.equal(document.apiVersion, SEER_API_VERSION, where);
  assert.ok(seerKinds.includes(document.kind), where);
  assert.equal(typeof document.metadata?.name, 'string', where);
  assert.deepEqual(unknownFields(document, schemaFor(document.kind)), [], where);
}

test('every example is a Seer object whose every field the CRD declares', () => {
  const files = yamlFiles(examplesDir);
  assert.ok(files.length >= 6, `only ${files.length} examples found`);
  for (const file of files) {
    const documents = manifests(file);
    assert.ok(documents.length > 0, `${file} is empty`);
    for (const document of documents) {
      assertSeerObject(
        document,
        `${path.relative(repo, file)} ${String(document.kind)}/${String(document.metadata?.name)}`,
      );
    }
  }
});

test("every Seer object in the README's yaml blocks is one whose every field the CRD declares", () => {
  let checked = 0;
  for (const block of yamlBlocks(readme)) {
    // Other blocks (seer-package.yaml, objects of other API groups) are not Seer objects. Any
    // version of the group is taken, so that a wrong one fails rather than being skipped.
    const seerObjects = documents(block.text).filter(
      (document) =>
        typeof document.apiVersion === 'string' && document.apiVersion.startsWith(`${SEER_GROUP}/`),
    );
    for (const document of seerObjects) {
      assertSeerObject(
        document,
        `README.md line ${block.line} ${String(document.kind)}/${String(document.metadata?.name)}`,
      );
      checked++;
    }
  }
  assert.ok(checked >= 4, `only ${checked} Seer objects found in README.md`);
});

test("every example package's seer-package.yaml is one the agent accepts", () => {
  const files = yamlFiles(examplesDir, { packages: true });
  assert.ok(files.length >= 3, `only ${files.length} package files found`);
  for (const file of files) {
    const metadata = parsePackageMetadata(readFileSync(file, 'utf8'), file);
    assert.ok(metadata.commands?.start, `${file} names no start command`);
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

test('the hello package serves HTTP on SEER_NODE_IP:SEER_PORT_HTTP, logs, and exits 0 on SIGTERM', async () => {
  const program = path.join(examplesDir, 'hello', 'package', 'bin', 'hello.mjs');
  const port = await freePort();
  const child = spawn(process.execPath, [program], {
    env: {
      SEER_POD_NAME: 'hello-test',
      SEER_NODE_NAME: 'node-test',
      SEER_NODE_IP: '127.0.0.1',
      SEER_PORT_HTTP: String(port),
      HELLO_INTERVAL: '1',
    },
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
  const response = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'hello from hello-test on node-test\n');
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
  assert.match(output, /serving http:\/\/127\.0\.0\.1:\d+\//);
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
