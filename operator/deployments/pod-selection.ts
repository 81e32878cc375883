import { DEPLOYMENT_LABEL } from '../../api/names.js';
import type { SeerDeployment, SeerPod } from '../../api/types.js';
import { createdBy, podsWithLabels } from '../runtime/owned-pods.js';

/** The labels a pod must carry to belong to the deployment: its name, plus spec.selector if set. */
export function selectorLabels(deployment: SeerDeployment): Record<string, string> {
  return {
    [DEPLOYMENT_LABEL]: deployment.metadata.name ?? '',
    ...deployment.spec.selector?.match_labels,
  };
}

/** The selector in its string form (status.selector, read by `kubectl scale` and autoscalers). */
export function selectorString(deployment: SeerDeployment): string {
  const { [DEPLOYMENT_LABEL]: name, ...rest } = selectorLabels(deployment);
  const others = Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [[DEPLOYMENT_LABEL, name], ...others].map(([key, value]) => `${key}=${value}`).join(',');
}

/** The pods that belong to the deployment: same namespace, every selector label with its value. */
export function deploymentPods(deployment: SeerDeployment, pods: Iterable<SeerPod>): SeerPod[] {
  return podsWithLabels(deployment.metadata.namespace ?? 'default', selectorLabels(deployment), pods);
}

/** The key (`namespace/name`) of the deployment a pod is labelled with, if any. */
export function deploymentKeyOf(pod: SeerPod): string | undefined {
  const name = pod.metadata.labels?.[DEPLOYMENT_LABEL];
  return name ? `${pod.metadata.namespace ?? 'default'}/${name}` : undefined;
}

/** Whether the pod was created by a deployment of this name (its controller owner reference says so). */
export function createdByDeployment(pod: { metadata: SeerPod['metadata'] }, name: string): boolean {
  return createdBy(pod, 'SeerDeployment', name);
}
