import {
  DEPLOYMENT_LABEL,
  REVISION_ANNOTATION,
  ROLLOUT_GROUP_LABEL,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import type { PodTemplate, SeerDeployment, SeerPod } from '../../api/types.js';
import { controllerReference, podFromTemplate } from '../runtime/owned-pods.js';

/** The reference that marks a pod (or revision) as the deployment's. */
export function ownerReference(deployment: SeerDeployment) {
  return controllerReference(deployment);
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
  group?: string,
): SeerPod {
  return podFromTemplate(
    deployment,
    template,
    name,
    {
      [DEPLOYMENT_LABEL]: deployment.metadata.name ?? '',
      [TEMPLATE_HASH_LABEL]: hash,
      ...(group === undefined ? {} : { [ROLLOUT_GROUP_LABEL]: group }),
    },
    { [REVISION_ANNOTATION]: String(revision) },
  );
}
