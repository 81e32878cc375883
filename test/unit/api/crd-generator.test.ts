import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import yaml from 'js-yaml';
import {
  COMMAND,
  GENERATED_MARK,
  OUTPUT_DIRS,
  REPO_DIR,
  WIDTH,
  generateCrds,
  layOut,
  renderCrd,
  type ReadSource,
} from '../../../api/schema/generate.js';

/** A reader over sources held in memory. */
function sources(files: Record<string, string>): ReadSource {
  return (name) => {
    const text = files[name];
    if (text === undefined) throw new Error(`no source ${name}`);
    return text;
  };
}

const CRD_HEAD = [
  'apiVersion: apiextensions.k8s.io/v1',
  'kind: CustomResourceDefinition',
  'metadata:',
  '  name: things.example.com',
  'spec:',
  '  schema:',
].join('\n');

/** The generated text without its first (generated-by) line. */
function body(text: string): string {
  return text.slice(text.indexOf('\n') + 1);
}

test(`crds/ and helm/seer-operator/crds/ are what \`${COMMAND}\` generates from api/schema/`, () => {
  const generated = generateCrds();
  assert.ok(
    generated.size >= 8,
    `expected 4 CRDs in ${OUTPUT_DIRS.length} places, got ${[...generated.keys()]}`,
  );
  const stale: string[] = [];
  for (const [file, text] of generated) {
    const target = path.join(REPO_DIR, file);
    if (!existsSync(target)) {
      stale.push(`${file} is missing`);
      continue;
    }
    const onDisk = readFileSync(target, 'utf8');
    if (onDisk === text) continue;
    const lines = onDisk.split('\n');
    const wanted = text.split('\n');
    const line = wanted.findIndex((expected, index) => lines[index] !== expected) + 1 || wanted.length + 1;
    stale.push(`${file} differs from what api/schema/ generates, from line ${line}`);
  }
  for (const dir of OUTPUT_DIRS) {
    for (const name of readdirSync(path.join(REPO_DIR, dir)).filter((file) => file.endsWith('.yaml'))) {
      if (!generated.has(`${dir}/${name}`)) stale.push(`${dir}/${name} has no source in api/schema/`);
    }
  }
  assert.deepEqual(
    stale,
    [],
    `edit api/schema/, not the generated files, then run \`${COMMAND}\`:\n  ${stale.join('\n  ')}`,
  );
});

test('each generated file says on its first line that it is generated, from what and by what command', () => {
  for (const [file, text] of generateCrds()) {
    const first = text.split('\n', 1)[0] ?? '';
    assert.ok(
      first.startsWith(`${GENERATED_MARK} from api/schema/${path.basename(file)}`),
      `${file}: ${first}`,
    );
  }
  const pods = generateCrds().get('crds/seerpods.yaml') ?? '';
  assert.match(pods.split('\n', 1)[0] ?? '', /api\/schema\/pod-spec\.yaml/);
});

test('an include puts the fragment under its key, without the properties named, and drops comments', () => {
  const read = sources({
    'thing.yaml': [
      '# The Thing CRD.',
      CRD_HEAD,
      '    openAPIV3Schema:',
      '      # the spec is shared',
      '      spec: !include shared.yaml without second, third',
      '      status:',
      '        type: object',
      '',
    ].join('\n'),
    'shared.yaml': [
      '# A shared schema.',
      'type: object',
      'x-kubernetes-validations:',
      '  - rule: |-',
      '      # not a comment: part of the rule',
      '      self.first != ""',
      '    message: first must not be empty',
      'properties:',
      '  first:',
      '    type: string',
      '  # only in some',
      '  second:',
      '    type: object',
      '    properties:',
      '      nested:',
      '        type: string',
      '  third:',
      '    type: string',
      '  fourth:',
      '    type: integer',
      '',
    ].join('\n'),
  });
  const text = renderCrd('thing.yaml', read);
  assert.equal(
    text.split('\n', 1)[0],
    `${GENERATED_MARK} from api/schema/thing.yaml and api/schema/shared.yaml; edit those, not this file.`,
  );
  assert.equal(
    body(text),
    [
      CRD_HEAD,
      '    openAPIV3Schema:',
      '      spec:',
      '        type: object',
      '        x-kubernetes-validations:',
      '          - rule: |-',
      '              # not a comment: part of the rule',
      '              self.first != ""',
      '            message: first must not be empty',
      '        properties:',
      '          first:',
      '            type: string',
      '          fourth:',
      '            type: integer',
      '      status:',
      '        type: object',
      '',
    ].join('\n'),
  );
});

test('descriptions are laid out for the depth they land at', () => {
  const words = 'word '.repeat(40).trim();
  const rule = `self.x == 'y' || ${'self.z && '.repeat(12)}true`;
  const deep = ' '.repeat(60);
  const input = [
    'short:',
    '  description: >-',
    '    a folded',
    '    description',
    'deep:',
    `${deep}fits:`,
    `${deep}  description: ${words.slice(0, 30)}`,
    `${deep}description: ${words}`,
    `${deep}message: ${words}`,
    `${deep}pattern: ${'x'.repeat(80)}`,
    `${deep}title: 'quoted ${words}'`,
    `${deep}rule: |-`,
    `${deep}  ${rule}`,
  ].join('\n');
  const lines = layOut(input, 'test').split('\n');
  assert.deepEqual(lines.slice(0, 7), [
    'short:',
    '  description: >-',
    '    a folded description',
    'deep:',
    `${deep}fits:`,
    `${deep}  description: ${words.slice(0, 30)}`,
    `${deep}description: >-`,
  ]);
  const filled = lines.filter((line) => line.startsWith(`${deep}  word`));
  assert.ok(filled.length > 4, 'the long description and message are folded');
  for (const [index, line] of lines.entries()) {
    if (!filled.includes(line)) continue;
    assert.ok(line.length <= WIDTH, `${line.length} columns: ${line}`);
    // As many words as fit: the next line's first word would not have.
    if (lines[index + 1]?.startsWith(`${deep}  word`)) assert.ok(line.length + ' word'.length > WIDTH, line);
  }
  assert.ok(lines.includes(`${deep}message: >-`));
  // Other keys, quoted values and literal rules stay as written.
  assert.ok(lines.includes(`${deep}pattern: ${'x'.repeat(80)}`));
  assert.ok(lines.includes(`${deep}title: 'quoted ${words}'`));
  assert.ok(lines.includes(`${deep}  ${rule}`));
  assert.deepEqual(yaml.load(lines.join('\n')), yaml.load(input));
});

test('the generator refuses what it cannot lay out or expand', () => {
  const crd = (spec: string) => ({ 'crd.yaml': `${CRD_HEAD}\n    openAPIV3Schema:\n${spec}\n` });
  assert.throws(
    () =>
      renderCrd(
        'crd.yaml',
        sources({
          ...crd('      spec: !include part.yaml without missing'),
          'part.yaml': 'type: object\nproperties:\n  present:\n    type: string\n',
        }),
      ),
    /part\.yaml has no top-level property missing to leave out/,
  );
  assert.throws(
    () =>
      renderCrd(
        'crd.yaml',
        sources({ ...crd('      spec: !include part.yaml'), 'part.yaml': 'spec: !include crd.yaml\n' }),
      ),
    /include cycle/,
  );
  assert.throws(() => renderCrd('crd.yaml', sources(crd('      - !include part.yaml'))), /on its own line/);
  assert.throws(
    () => renderCrd('crd.yaml', sources(crd('      description: >-\n        two  spaces'))),
    /runs of spaces/,
  );
  assert.throws(
    () => renderCrd('crd.yaml', sources({ 'crd.yaml': 'apiVersion: v1\nkind: ConfigMap\n' })),
    /exactly one CustomResourceDefinition/,
  );
});
