import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { CRD_DIR } from '../../api/crds.js';
import { SEER_RESOURCES } from '../../api/names.js';
import { unknownFields } from '../../api/schema-walk.js';
import { completeObjects } from '../fixtures/complete-objects.js';

interface Schema {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
}

/** Every field path a schema declares; `[]` stands for any list item and `{}` for any map value. */
function declaredPaths(schema: Schema, prefix: string): string[] {
  const paths: string[] = [];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const childPath = prefix ? `${prefix}.${name}` : name;
    paths.push(childPath, ...declaredPaths(child, childPath));
  }
  if (schema.items) paths.push(...declaredPaths(schema.items, `${prefix}[]`));
  if (typeof schema.additionalProperties === 'object') {
    paths.push(...declaredPaths(schema.additionalProperties, `${prefix}{}`));
  }
  return paths;
}

/** The field paths an object sets, spelled as declaredPaths spells them. */
function setPaths(value: unknown, schema: Schema, prefix: string): string[] {
  if (Array.isArray(value))
    return value.flatMap((item) => (schema.items ? setPaths(item, schema.items, `${prefix}[]`) : []));
  if (typeof value !== 'object' || value === null) return [];
  const paths: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const declared = schema.properties?.[key];
    if (declared) {
      const childPath = prefix ? `${prefix}.${key}` : key;
      paths.push(childPath, ...setPaths(child, declared, childPath));
    } else if (typeof schema.additionalProperties === 'object') {
      paths.push(...setPaths(child, schema.additionalProperties, `${prefix}{}`));
    }
  }
  return paths;
}

async function specAndStatusSchema(plural: string): Promise<Schema> {
  const crd = yaml.load(await readFile(path.join(CRD_DIR, `${plural}.yaml`), 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: Schema } }[] };
  };
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
  assert.ok(root?.properties);
  return { properties: { spec: root.properties.spec ?? {}, status: root.properties.status ?? {} } };
}

// A kind's complete objects together set every field: some fields exclude others (a deployment's
// canary settings and its rolling_update limits), so one object cannot hold them all.
const kinds = [...new Set(completeObjects.map((object) => object.kind))];
for (const kind of kinds) {
  test(`the complete ${kind} objects set every spec and status field its CRD declares, and no other`, async () => {
    const schema = await specAndStatusSchema(SEER_RESOURCES[kind].plural);
    const set = new Set<string>();
    for (const object of completeObjects.filter((o) => o.kind === kind)) {
      const fields = { spec: object.spec, status: object.status };
      for (const p of setPaths(fields, schema, '')) set.add(p);
      assert.deepEqual(unknownFields(fields, schema), [], object.metadata.name);
    }
    // Init containers share the container item schema (api/schema/container.yaml), so a field is
    // covered for them when the fixture's containers set it; the CRD refuses probes and ports on them.
    const covered = (p: string) => set.has(p) || set.has(p.replace('.init_containers[]', '.containers[]'));
    const missing = declaredPaths(schema, '').filter((p) => !covered(p));
    assert.deepEqual(missing, [], `fields of the CRD that the typed fixtures do not set`);
  });
}
