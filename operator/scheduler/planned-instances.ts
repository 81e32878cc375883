import { COMPONENT_LABEL, NODE_LABEL, SEER_API_VERSION } from '../../api/names.js';
import type { SeerComponent, SeerPod } from '../../api/types.js';
import { instanceName } from '../components/instance-name.js';
import type { NodeUsage } from './node-usage.js';

/**
 * The component instances a pod bound to a node brings there: one per required component the node
 * does not run yet, as the component controller will create it (same name, ports and requests). The
 * scheduler counts them at once, so the next pod does not take a port an instance is about to need.
 */
export function plannedInstances(
  pod: SeerPod,
  usage: NodeUsage,
  component: (namespace: string, name: string) => SeerComponent | undefined,
): SeerPod[] {
  const namespace = pod.metadata.namespace ?? 'default';
  const node = usage.node.metadata.name ?? '';
  const planned: SeerPod[] = [];
  for (const required of pod.spec.required_components ?? []) {
    if (usage.components.has(`${namespace}/${required.name}`)) continue;
    const template = component(namespace, required.name)?.spec.template;
    if (!template) continue;
    planned.push({
      apiVersion: SEER_API_VERSION,
      kind: 'SeerPod',
      metadata: {
        name: instanceName(required.name, node),
        namespace,
        labels: { ...template.metadata?.labels, [COMPONENT_LABEL]: required.name, [NODE_LABEL]: node },
      },
      spec: { ...template.spec, node_name: node },
    });
  }
  return planned;
}
