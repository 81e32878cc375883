import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';

/** The repository's crds/ directory (this module runs as dist/api/crds.js). */
export const CRD_DIR = fileURLToPath(new URL('../../crds', import.meta.url));

/**
 * Reads every crds/*.yaml. The objects are in client-node's model (x_kubernetes_validations, _default,
 * ...), so they can be passed to ApiextensionsV1Api as they are; client-node leaves the schemas under
 * `items` and `additionalProperties` in their YAML form, as it types those fields `any`.
 */
export function loadCrds(dir: string = CRD_DIR): V1CustomResourceDefinition[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .flatMap(
      (name) => loadAllYaml(readFileSync(path.join(dir, name), 'utf8')) as V1CustomResourceDefinition[],
    );
}
