import { createHash } from 'node:crypto';
import { COMPONENT_LABEL, NODE_LABEL, SEER_API_VERSION } from '../../api/names.js';
import type { SeerComponent, SeerPod } from '../../api/types.js';

/** The instance pod of a component on a node: a stable name within the 63 characters of a label. */
export function instanceName(component: string, node: string): string {
  return `${component}-${createHash('sha256').update(node).digest('hex').slice(0, 8)}`;
}

/**
 * A component's instance pod on a node, bound there: the component controller creates it (adding its
 * ownership and finalizer), and the scheduler counts it before it exists.
 */
export function instancePod(component: SeerComponent, node: string): SeerPod {
  const name = component.metadata.name ?? '';
  const { metadata, spec } = component.spec.template;
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name: instanceName(name, node),
      namespace: component.metadata.namespace ?? 'default',
      labels: { ...metadata?.labels, [COMPONENT_LABEL]: name, [NODE_LABEL]: node },
      annotations: metadata?.annotations,
    },
    spec: { ...spec, node_name: node },
  };
}
