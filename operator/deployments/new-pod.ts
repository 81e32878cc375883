import {
  DEPLOYMENT_LABEL,
  REVISION_ANNOTATION,
  SEER_API_VERSION,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import type { PodTemplate, SeerDeployment, SeerPod, SeerPodSpec } from '../../api/types.js';

/** The reference that marks a pod (or revision) as the deployment's. */
export function ownerReference(deployment: SeerDeployment) {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    name: deployment.metadata.name ?? '',
    uid: deployment.metadata.uid ?? '',
    controller: true,
  };
}

/**
 * A replica of the template: its labels plus the deployment and template hash labels, its annotations
 * plus the revision, owned by the deployment. Never bound to a node here, even if the template names
 * one: placing it is the scheduler's decision.
 */
export function newPod(
  deployment: SeerDeployment,
  template: PodTemplate,
  name: string,
  hash: string,
  revision: number,
): SeerPod {
  const spec: SeerPodSpec = structuredClone(template.spec);
  delete spec.node_name;
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name,
      namespace: deployment.metadata.namespace ?? 'default',
      labels: {
        ...template.metadata?.labels,
        [DEPLOYMENT_LABEL]: deployment.metadata.name ?? '',
        [TEMPLATE_HASH_LABEL]: hash,
      },
      annotations: { ...template.metadata?.annotations, [REVISION_ANNOTATION]: String(revision) },
      ownerReferences: [ownerReference(deployment)],
    },
    spec,
  };
}
