// A local stand-in for the API server's pruning: which fields of an object its CRD schema does not
// declare. Accepts schemas both in client-node's model and in YAML form, since loadCrds yields both.

export interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: unknown;
  additionalProperties?: unknown;
  x_kubernetes_preserve_unknown_fields?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asSchema(value: unknown): SchemaNode | undefined {
  return isRecord(value) ? (value as SchemaNode) : undefined;
}

function preservesUnknownFields(schema: SchemaNode): boolean {
  return (
    schema.x_kubernetes_preserve_unknown_fields === true ||
    schema['x-kubernetes-preserve-unknown-fields'] === true
  );
}

function walk(value: unknown, schema: SchemaNode, path: string, isRoot: boolean): string[] {
  if (preservesUnknownFields(schema)) return [];
  if (Array.isArray(value)) {
    const items = asSchema(schema.items);
    return items ? value.flatMap((item, index) => walk(item, items, `${path}[${index}]`, false)) : [];
  }
  if (!isRecord(value)) return [];

  const unknown: string[] = [];
  const additional = asSchema(schema.additionalProperties);
  for (const [key, child] of Object.entries(value)) {
    // metadata is validated as ObjectMeta, whatever the root schema says about it.
    if (isRoot && key === 'metadata') continue;
    const childPath = path === '' ? key : `${path}.${key}`;
    const declared = schema.properties?.[key];
    if (declared) unknown.push(...walk(child, declared, childPath, false));
    else if (additional) unknown.push(...walk(child, additional, `${path}[${key}]`, false));
    else if (schema.additionalProperties !== true) unknown.push(childPath);
  }
  return unknown;
}

/**
 * The paths (as the API server spells them, e.g. `spec.containers[0].image`) of the fields in `object`
 * that `schema`, a CRD version's openAPIV3Schema, does not declare.
 */
export function unknownFields(object: unknown, schema: SchemaNode): string[] {
  return walk(object, schema, '', true);
}
