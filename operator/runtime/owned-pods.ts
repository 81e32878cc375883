import { SEER_API_VERSION } from '../../api/names.js';
import type { PodTemplate, SeerPod, SeerPodSpec } from '../../api/types.js';

/** A Seer object that creates pods (or revisions) and is their controller. */
export interface PodOwner {
  kind: 'SeerDeployment' | 'SeerDaemonSet' | 'SeerStatefulSet' | 'SeerComponent';
  metadata: SeerPod['metadata'];
}

/** The reference that marks a pod (or revision) as the owner's. */
export function controllerReference(owner: PodOwner) {
  return {
    apiVersion: SEER_API_VERSION,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
  };
}

/** Whether an object of `kind` named `name` created it (its controller owner reference says so). */
export function createdBy(
  object: { metadata: SeerPod['metadata'] },
  kind: PodOwner['kind'],
  name: string,
): boolean {
  return (object.metadata.ownerReferences ?? []).some(
    (owner) => owner.controller === true && owner.kind === kind && owner.name === name,
  );
}

/** The pods in `namespace` that carry every label of `wanted` with its value. */
export function podsWithLabels(
  namespace: string,
  wanted: Record<string, string>,
  pods: Iterable<SeerPod>,
): SeerPod[] {
  const entries = Object.entries(wanted);
  const selected: SeerPod[] = [];
  for (const pod of pods) {
    if ((pod.metadata.namespace ?? 'default') !== namespace) continue;
    const labels = pod.metadata.labels ?? {};
    if (entries.every(([key, value]) => labels[key] === value)) selected.push(pod);
  }
  return selected;
}

/**
 * A pod of the template, owned by `owner`: the template's labels and annotations plus `labels` and
 * `annotations`, and its spec with no node (the caller binds it, or leaves it to the scheduler).
 */
export function podFromTemplate(
  owner: PodOwner,
  template: PodTemplate,
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string> = {},
): SeerPod {
  const spec: SeerPodSpec = structuredClone(template.spec);
  delete spec.node_name;
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name,
      namespace: owner.metadata.namespace ?? 'default',
      labels: { ...template.metadata?.labels, ...labels },
      annotations: { ...template.metadata?.annotations, ...annotations },
      ownerReferences: [controllerReference(owner)],
    },
    spec,
  };
}
