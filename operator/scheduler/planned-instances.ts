import type { SeerComponent, SeerPod } from '../../api/types.js';
import { instancePod } from '../components/instance-pod.js';
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
  return (pod.spec.required_components ?? [])
    .filter((required) => !usage.components.has(`${namespace}/${required.name}`))
    .map((required) => component(namespace, required.name))
    .filter((found): found is SeerComponent => found !== undefined)
    .map((found) => instancePod(found, node));
}
