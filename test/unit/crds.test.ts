import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { dumpYaml, type V1CustomResourceDefinition, type V1JSONSchemaProps } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { CRD_DIR, loadCrds } from '../../api/crds.js';
import {
  APP_SET_CONDITION,
  APP_SET_PHASE,
  COMPONENT_CONDITION,
  CONDITION_STATUS,
  DAEMON_SET_CONDITION,
  DEPLOYMENT_CONDITION,
  NODE_CONDITION,
  STATEFUL_SET_CONDITION,
  NODE_PHASE,
  CLUSTER_CONDITION,
  CLUSTER_PHASE,
  DATA_DIR_PHASE,
  POD_CONDITION,
  POD_PHASE,
  SEER_CATEGORY,
  SEER_GROUP,
  SEER_RESOURCES,
  SEER_VERSION,
  type SeerKind,
} from '../../api/names.js';
import type { SchemaNode } from '../../api/schema-walk.js';
import type { AppSetUpgradeType } from '../../api/types.js';

const crds = loadCrds();

function crdOf(kind: SeerKind): V1CustomResourceDefinition {
  const crd = crds.find((candidate) => candidate.spec.names.kind === kind);
  assert.ok(crd, `no CRD for ${kind}`);
  return crd;
}

function versionOf(kind: SeerKind) {
  const version = crdOf(kind).spec.versions.find((candidate) => candidate.name === SEER_VERSION);
  assert.ok(version, `${kind} does not define ${SEER_VERSION}`);
  return version;
}

function rootSchema(kind: SeerKind): V1JSONSchemaProps {
  const schema = versionOf(kind).schema?.openAPIV3Schema;
  assert.ok(schema, `${kind} has no schema`);
  return schema;
}

/** The schema at a dotted path of property names, e.g. "spec.template.spec". */
function schemaAt(kind: SeerKind, dotted: string): V1JSONSchemaProps {
  let schema: V1JSONSchemaProps | undefined = rootSchema(kind);
  for (const name of dotted.split('.')) {
    schema = schema?.properties?.[name];
    assert.ok(schema, `${kind} has no schema at ${dotted}`);
  }
  return schema;
}

/** Every property, item and map value schema under `schema`, with its path. */
function* schemaNodes(
  schema: SchemaNode,
  at: string,
): Generator<[string, SchemaNode & { description?: string }]> {
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    yield [`${at}.${name}`, child];
    yield* schemaNodes(child, `${at}.${name}`);
  }
  for (const [suffix, child] of [
    ['[]', schema.items],
    ['{}', schema.additionalProperties],
  ] as const) {
    if (typeof child === 'object' && child !== null) {
      yield [`${at}${suffix}`, child];
      yield* schemaNodes(child as SchemaNode, `${at}${suffix}`);
    }
  }
}

function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

test('crds/ holds one CustomResourceDefinition per kind, one per file', () => {
  for (const file of readdirSync(CRD_DIR).filter((name) => name.endsWith('.yaml'))) {
    const documents = yaml.loadAll(readFileSync(path.join(CRD_DIR, file), 'utf8'));
    assert.equal(documents.length, 1, `${file} must hold exactly one object`);
  }
  assert.deepEqual(crds.map((crd) => crd.spec.names.kind).sort(), Object.keys(SEER_RESOURCES).sort());
  for (const crd of crds) {
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.kind, 'CustomResourceDefinition');
  }
});

test('client-node serializes the CRDs back to exactly what the files say', () => {
  // Guards against fields client-node's model does not know being dropped when the CRDs are applied
  // through it (CEL rules, defaults, list types).
  for (const file of readdirSync(CRD_DIR).filter((name) => name.endsWith('.yaml'))) {
    const text = readFileSync(path.join(CRD_DIR, file), 'utf8');
    const [crd] = loadCrds(CRD_DIR).filter((candidate) => file.startsWith(candidate.spec.names.plural));
    assert.ok(crd, file);
    assert.deepEqual(yaml.load(dumpYaml(crd)), yaml.load(text), file);
  }
});

test('each kind matches the names in api/names.ts', () => {
  for (const resource of Object.values(SEER_RESOURCES)) {
    const crd = crdOf(resource.kind);
    assert.equal(crd.metadata?.name, `${resource.plural}.${SEER_GROUP}`);
    assert.equal(crd.spec.group, SEER_GROUP);
    assert.equal(crd.spec.scope, resource.namespaced ? 'Namespaced' : 'Cluster');
    assert.deepEqual(plain(crd.spec.names), {
      kind: resource.kind,
      listKind: resource.listKind,
      plural: resource.plural,
      singular: resource.singular,
      shortNames: [resource.shortName],
      categories: [SEER_CATEGORY],
    });
    assert.equal(crd.spec.versions.length, 1);
    const version = versionOf(resource.kind);
    assert.equal(version.served, true);
    assert.equal(version.storage, true);
  }
});

test('every schema property at every depth has a description', () => {
  const missing: string[] = [];
  for (const kind of Object.keys(SEER_RESOURCES) as SeerKind[]) {
    const root = rootSchema(kind);
    if (!root.description?.trim()) missing.push(kind);
    for (const [at, node] of schemaNodes(root, kind)) {
      // The API server refuses anything on the root metadata but restrictions of name and generateName.
      if (at === `${kind}.metadata`) continue;
      if (!node.description?.trim()) missing.push(at);
    }
  }
  assert.deepEqual(missing, []);
});

test('no schema preserves unknown fields', () => {
  for (const kind of Object.keys(SEER_RESOURCES) as SeerKind[]) {
    for (const [at, node] of schemaNodes(rootSchema(kind), kind)) {
      assert.ok(
        !node.x_kubernetes_preserve_unknown_fields && !node['x-kubernetes-preserve-unknown-fields'],
        `${at} preserves unknown fields`,
      );
    }
  }
});

test('the pod spec schema is the same in SeerPod and every template', () => {
  const podSpec = plain(schemaAt('SeerPod', 'spec'));
  assert.ok(podSpec.properties?.node_name, 'SeerPod.spec.node_name is missing');
  delete podSpec.properties.node_name;
  assert.deepEqual(plain(schemaAt('SeerDeployment', 'spec.template.spec')), podSpec);
  assert.deepEqual(plain(schemaAt('SeerDaemonSet', 'spec.template.spec')), podSpec);
  assert.deepEqual(plain(schemaAt('SeerStatefulSet', 'spec.template.spec')), podSpec);
  assert.deepEqual(plain(schemaAt('SeerComponent', 'spec.template.spec')), podSpec);
  assert.deepEqual(plain(schemaAt('SeerAppSet', 'spec.template.spec')), podSpec);
  // The templates around them differ only in their own description.
  const deploymentTemplate = plain(schemaAt('SeerDeployment', 'spec.template'));
  delete deploymentTemplate.description;
  for (const kind of ['SeerDaemonSet', 'SeerStatefulSet', 'SeerComponent', 'SeerAppSet'] as const) {
    const template = plain(schemaAt(kind, 'spec.template'));
    delete template.description;
    assert.deepEqual(template, deploymentTemplate, kind);
  }
  // The daemon set's selector is the deployment's, but for which pods it selects by default.
  const deploymentSelector = plain(schemaAt('SeerDeployment', 'spec.selector.match_labels'));
  deploymentSelector.description = plain(schemaAt('SeerDaemonSet', 'spec.selector.match_labels')).description;
  assert.deepEqual(plain(schemaAt('SeerDaemonSet', 'spec.selector.match_labels')), deploymentSelector);
  deploymentSelector.description = plain(
    schemaAt('SeerStatefulSet', 'spec.selector.match_labels'),
  ).description;
  assert.deepEqual(plain(schemaAt('SeerStatefulSet', 'spec.selector.match_labels')), deploymentSelector);
});

test('each kind has the status subresource, and SeerDeployment and SeerStatefulSet the scale subresource', () => {
  for (const kind of Object.keys(SEER_RESOURCES) as SeerKind[]) {
    assert.ok(versionOf(kind).subresources?.status, `${kind} has no status subresource`);
  }
  for (const kind of ['SeerDeployment', 'SeerStatefulSet'] as const) {
    assert.deepEqual(plain(versionOf(kind).subresources?.scale), {
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    });
  }
  assert.equal(versionOf('SeerPod').subresources?.scale, undefined);
  // As Kubernetes' DaemonSet: the nodes decide how many pods there are.
  assert.equal(versionOf('SeerDaemonSet').subresources?.scale, undefined);
});

test('agents can select SeerPods by spec.node_name', () => {
  assert.deepEqual(plain(versionOf('SeerPod').selectableFields), [{ jsonPath: '.spec.node_name' }]);
});

const printerColumns: Record<SeerKind, [name: string, jsonPath: string, type: string, priority: number][]> = {
  SeerPod: [
    ['READY', '.status.ready', 'string', 0],
    ['STATUS', '.status.phase', 'string', 0],
    ['RESTARTS', '.status.restarts', 'integer', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
    ['NODE', '.spec.node_name', 'string', 1],
    ['IP', '.status.host_ip', 'string', 1],
  ],
  SeerDeployment: [
    ['DESIRED', '.spec.replicas', 'integer', 0],
    ['READY', '.status.ready_replicas', 'integer', 0],
    ['UP-TO-DATE', '.status.updated_replicas', 'integer', 0],
    ['AVAILABLE', '.status.available_replicas', 'integer', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
    ['PAUSED', '.spec.paused', 'boolean', 1],
  ],
  SeerDaemonSet: [
    ['DESIRED', '.status.desired_number_scheduled', 'integer', 0],
    ['CURRENT', '.status.current_number_scheduled', 'integer', 0],
    ['READY', '.status.number_ready', 'integer', 0],
    ['UP-TO-DATE', '.status.updated_number_scheduled', 'integer', 0],
    ['AVAILABLE', '.status.number_available', 'integer', 0],
    ['NODE-SELECTOR', '.spec.node_selector', 'string', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
  ],
  SeerStatefulSet: [
    ['READY', '.status.ready', 'string', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
    ['UP-TO-DATE', '.status.updated_replicas', 'integer', 1],
    ['PARTITION', '.spec.update_strategy.rolling_update.partition', 'integer', 1],
  ],
  SeerComponent: [
    ['INSTANCES', '.status.instances', 'integer', 0],
    ['DEPENDENTS', '.status.dependents', 'integer', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
  ],
  SeerNode: [
    ['STATUS', '.status.phase', 'string', 0],
    ['PODS', '.status.pods', 'integer', 0],
    ['AGENT', '.status.node_info.agent_version', 'string', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
    ['ADDRESS', '.status.addresses[0].address', 'string', 1],
    ['OS', '.status.node_info.os', 'string', 1],
    ['ARCH', '.status.node_info.arch', 'string', 1],
  ],
  SeerDataDir: [
    ['NODE', '.spec.node_name', 'string', 0],
    ['SIZE', '.spec.size', 'string', 0],
    ['PHASE', '.status.phase', 'string', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
  ],
  SeerCluster: [
    ['STATUS', '.status.phase', 'string', 0],
    ['NODES', '.status.nodes', 'string', 0],
    ['VERSION', '.status.seer_version', 'string', 0],
    ['HEARTBEAT', '.status.last_heartbeat_time', 'date', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
    ['SERVER', '.status.server', 'string', 1],
  ],
  SeerAppSet: [
    ['DESIRED', '.status.replicas', 'integer', 0],
    ['AVAILABLE', '.status.available_replicas', 'integer', 0],
    ['UNAVAILABLE', '.status.unavailable_replicas', 'integer', 0],
    ['VERSION', '.status.version', 'string', 0],
    ['STATUS', '.status.phase', 'string', 0],
    ['AGE', '.metadata.creationTimestamp', 'date', 0],
    ['REVISION', '.status.revision', 'string', 1],
  ],
};

test('each kind has the printer columns kubectl get shows', () => {
  for (const [kind, expected] of Object.entries(printerColumns) as [
    SeerKind,
    typeof printerColumns.SeerPod,
  ][]) {
    const columns = (versionOf(kind).additionalPrinterColumns ?? []).map(
      (column) => [column.name.toUpperCase(), column.jsonPath, column.type, column.priority ?? 0] as const,
    );
    assert.deepEqual(columns, expected, kind);
  }
});

test('every printer column points at a field the schema declares', () => {
  for (const kind of Object.keys(SEER_RESOURCES) as SeerKind[]) {
    for (const column of versionOf(kind).additionalPrinterColumns ?? []) {
      if (column.jsonPath.startsWith('.metadata.')) continue;
      const dotted = column.jsonPath.slice(1).replace(/\[\d+\]/g, '');
      let schema: SchemaNode | undefined = rootSchema(kind);
      for (const name of dotted.split('.')) {
        const items = schema?.items as SchemaNode | undefined;
        schema = schema?.properties?.[name] ?? items?.properties?.[name];
      }
      assert.ok(schema, `${kind} column ${column.name}: ${column.jsonPath} is not in the schema`);
    }
  }
});

function enumOf(kind: SeerKind, dotted: string): unknown[] {
  return plain(schemaAt(kind, dotted))._enum ?? [];
}

test('phases and condition statuses in api/names.ts match the schema enums', () => {
  assert.deepEqual(enumOf('SeerPod', 'status.phase'), Object.values(POD_PHASE));
  assert.deepEqual(enumOf('SeerNode', 'status.phase'), Object.values(NODE_PHASE));
  assert.deepEqual(enumOf('SeerDataDir', 'status.phase'), Object.values(DATA_DIR_PHASE));
  assert.deepEqual(enumOf('SeerCluster', 'status.phase'), Object.values(CLUSTER_PHASE));
  assert.deepEqual(enumOf('SeerAppSet', 'status.phase'), Object.values(APP_SET_PHASE));
  // Every AppSetUpgradeType, and no other (the Record's keys are checked by the compiler), canary by default.
  const upgradeTypes: Record<AppSetUpgradeType, true> = { canary: true, blue: true, green: true };
  const upgradeType = plain(schemaAt('SeerAppSet', 'spec.update_strategy.upgrade_type'));
  assert.deepEqual(upgradeType._enum, Object.keys(upgradeTypes));
  assert.equal(upgradeType._default, 'canary');
  // A data directory has a phase only, as a Kubernetes PersistentVolume does.
  for (const kind of (Object.keys(SEER_RESOURCES) as SeerKind[]).filter((k) => k !== 'SeerDataDir')) {
    const conditions = schemaAt(kind, 'status.conditions');
    const status = (conditions.items as SchemaNode & { enum?: unknown[] }).properties?.status as {
      enum?: unknown[];
    };
    assert.deepEqual(status.enum, Object.values(CONDITION_STATUS), kind);
  }
});

test('the conditions description of each kind names its condition types', () => {
  const types: Record<Exclude<SeerKind, 'SeerDataDir'>, Record<string, string>> = {
    SeerPod: POD_CONDITION,
    SeerDeployment: DEPLOYMENT_CONDITION,
    SeerDaemonSet: DAEMON_SET_CONDITION,
    SeerStatefulSet: STATEFUL_SET_CONDITION,
    SeerComponent: COMPONENT_CONDITION,
    SeerNode: NODE_CONDITION,
    SeerCluster: CLUSTER_CONDITION,
    SeerAppSet: APP_SET_CONDITION,
  };
  for (const [kind, conditionTypes] of Object.entries(types) as [SeerKind, Record<string, string>][]) {
    const description = schemaAt(kind, 'status.conditions').description ?? '';
    for (const type of Object.values(conditionTypes)) {
      assert.match(description, new RegExp(`\\b${type}\\b`), `${kind}: ${type}`);
    }
  }
});

test('every list CEL rules iterate over is bounded, so the API server can estimate their cost', () => {
  // The API server refuses a CRD whose rules may cost too much; unbounded lists and strings make the
  // estimate explode. Arrays and maps in the pod spec must all carry a bound.
  for (const [at, node] of schemaNodes(schemaAt('SeerPod', 'spec'), 'SeerPod.spec')) {
    const schema = node as SchemaNode & { type?: string; maxItems?: number; maxProperties?: number };
    if (schema.type === 'array') assert.ok(schema.maxItems !== undefined, `${at} needs maxItems`);
    if (schema.type === 'object' && schema.additionalProperties !== undefined) {
      assert.ok(schema.maxProperties !== undefined, `${at} needs maxProperties`);
    }
  }
});

test("the app set's CEL rules and list keys are bounded, and its pod set names are SeerDeployment names", () => {
  // Read as YAML: client-node's model would spell the keys under `items` differently from the rest.
  interface RawSchema {
    type?: string;
    enum?: unknown[];
    minItems?: number;
    maxItems?: number;
    maxProperties?: number;
    maxLength?: number;
    pattern?: string;
    properties?: Record<string, RawSchema>;
    items?: RawSchema;
    additionalProperties?: RawSchema;
    'x-kubernetes-list-type'?: string;
    'x-kubernetes-list-map-keys'?: string[];
  }
  const crd = yaml.load(readFileSync(path.join(CRD_DIR, 'seerappsets.yaml'), 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: RawSchema } }[] };
  };
  const spec = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec;
  assert.ok(spec);
  // The rules compare names across clusters, pod sets and canary_clusters: each list needs maxItems
  // and each string maxLength, or the API server refuses the CRD as too costly.
  for (const [at, node] of schemaNodes(spec as SchemaNode, 'SeerAppSet.spec')) {
    if (at.startsWith('SeerAppSet.spec.template')) continue; // the pod spec, checked above
    const schema = node as RawSchema;
    if (schema.type === 'array') assert.ok(schema.maxItems !== undefined, `${at} needs maxItems`);
    if (schema.type === 'object' && schema.additionalProperties !== undefined) {
      assert.ok(schema.maxProperties !== undefined, `${at} needs maxProperties`);
    }
    if (schema.type === 'string' && !schema.enum) {
      assert.ok(schema.maxLength !== undefined, `${at} needs maxLength`);
    }
  }
  const clusters = spec.properties?.cluster_topology?.properties?.clusters;
  const podSets = clusters?.items?.properties?.pod_sets;
  for (const [at, list] of [
    ['clusters', clusters],
    ['pod_sets', podSets],
  ] as const) {
    assert.equal(list?.['x-kubernetes-list-type'], 'map', at);
    assert.deepEqual(list?.['x-kubernetes-list-map-keys'], ['name'], at);
    assert.equal(list?.minItems, 1, at);
  }
  // Each pod set becomes a SeerDeployment of its name: the same pattern and length limit.
  const podSetName = podSets?.items?.properties?.name;
  assert.ok(podSetName?.pattern && podSetName.maxLength);
  const deploymentRule = (
    rootSchema('SeerDeployment').x_kubernetes_validations?.find((r) => r.fieldPath === '.metadata.name')
      ?.rule ?? ''
  ).replace(/\s+/g, ' ');
  assert.ok(deploymentRule.includes(`matches('${podSetName.pattern}')`), deploymentRule);
  assert.ok(deploymentRule.includes(`size(self.metadata.name) <= ${podSetName.maxLength}`), deploymentRule);
});

interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
}

test('every CEL rule explains itself, with a static message when it spans lines', () => {
  // The API server refuses a multi-line rule without `message`, even when messageExpression is set.
  for (const kind of Object.keys(SEER_RESOURCES) as SeerKind[]) {
    const root = rootSchema(kind);
    for (const [at, node] of [[kind, root] as const, ...schemaNodes(root, kind)]) {
      const schema = node as SchemaNode & {
        x_kubernetes_validations?: ValidationRule[];
        'x-kubernetes-validations'?: ValidationRule[];
      };
      for (const rule of schema.x_kubernetes_validations ?? schema['x-kubernetes-validations'] ?? []) {
        assert.ok(rule.message?.trim(), `${at}: rule ${rule.rule} has no message`);
      }
    }
  }
});
