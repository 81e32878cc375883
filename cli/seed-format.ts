import yaml from 'js-yaml';
import { loadCrds } from '../api/crds.js';
import { SEER_API_VERSION, SEER_VERSION } from '../api/names.js';
import { unknownFields } from '../api/schema-walk.js';
import type { AnySeerObject } from '../api/types.js';

/**
 * The original design's manifests (seed 000) look like Kubernetes' with their own envelope:
 * `api_version: v1` and a lowercase `kind` (pod, deployment, component). Their spec already uses
 * Seer's field names, so converting them is a change of envelope, checked against the CRDs.
 */
const KINDS: Record<string, AnySeerObject['kind']> = {
  pod: 'SeerPod',
  deployment: 'SeerDeployment',
  component: 'SeerComponent',
  node: 'SeerNode',
};

/** A document that cannot be converted, with its position in the input (1-based). */
export class SeedFormatError extends Error {}

interface SeedDocument {
  api_version?: unknown;
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: Record<string, unknown>;
  spec?: unknown;
}

/**
 * Converts every document of `text` to a Seer object. Documents already in Seer's form pass through;
 * anything else (another kind, no name, a field the CRD does not declare) is refused with a message
 * naming the document and the field.
 */
export function convertSeedManifests(text: string): AnySeerObject[] {
  let documents: unknown[];
  // Tabs in indentation (the original design's examples have some) are not YAML: read them as spaces.
  const source = text.replace(/^[ \t]+/gm, (indent) => indent.replace(/\t/g, '  '));
  try {
    documents = yaml.loadAll(source).filter((d) => d !== null && d !== undefined);
  } catch (error) {
    throw new SeedFormatError(`not YAML: ${(error as Error).message}`);
  }
  const crds = loadCrds();
  return documents.map((document, index) => {
    const where = `document ${index + 1}`;
    if (typeof document !== 'object' || Array.isArray(document))
      throw new SeedFormatError(`${where}: not a mapping`);
    const { api_version, apiVersion, kind, metadata, spec, ...rest } = document as SeedDocument;
    const version = String(apiVersion ?? api_version ?? '');
    const seerKind = Object.values(KINDS).includes(kind as AnySeerObject['kind'])
      ? (kind as AnySeerObject['kind'])
      : KINDS[String(kind).toLowerCase()];
    if (!seerKind) {
      throw new SeedFormatError(
        `${where}: kind ${String(kind)} is not one of ${Object.keys(KINDS).join(', ')}`,
      );
    }
    if (version !== 'v1' && version !== SEER_API_VERSION) {
      throw new SeedFormatError(
        `${where}: api_version ${version || '(none)'} is neither v1 nor ${SEER_API_VERSION}`,
      );
    }
    if (typeof metadata?.name !== 'string' || metadata.name === '')
      throw new SeedFormatError(`${where}: metadata.name is missing`);
    const object = { apiVersion: SEER_API_VERSION, kind: seerKind, metadata, spec, ...rest } as AnySeerObject;
    const schema = crds
      .find((crd) => crd.spec.names.kind === seerKind)
      ?.spec.versions.find((v) => v.name === SEER_VERSION)?.schema?.openAPIV3Schema;
    const unknown = schema ? unknownFields(object, schema) : [];
    if (unknown.length > 0) {
      throw new SeedFormatError(
        `${where} (${seerKind} ${metadata.name}): unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`,
      );
    }
    return object;
  });
}
