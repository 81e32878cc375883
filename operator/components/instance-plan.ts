import { COMPONENT_IN_USE_FINALIZER, COMPONENT_LABEL, TEMPLATE_HASH_LABEL } from '../../api/names.js';
import type { SeerComponent, SeerPod } from '../../api/types.js';

/** What the component controller does for one component, decided from its caches alone. */
export interface InstancePlan {
  /** Instances to delete: no dependent holds their node any more, or their template is old. */
  remove: { instance: SeerPod; reason: 'InstanceRemoved' | 'InstanceReplaced' }[];
  /** Nodes that need an instance of the current template. */
  create: string[];
  /**
   * The in-use finalizer: added while pods require the component, removed once none does and its
   * instances are gone; `wait` when only the instances still shutting down hold it.
   */
  finalizer?: 'add' | 'remove' | 'wait';
  /** The pods that require the component and are not being deleted. */
  dependents: SeerPod[];
  /** The nodes those dependents are bound to. */
  wanted: Set<string>;
}

const requires = (pod: SeerPod, component: string) =>
  (pod.spec.required_components ?? []).some((c) => c.name === component);

function nodesOf(pods: SeerPod[]): Set<string> {
  return new Set(pods.map((p) => p.spec.node_name).filter((n): n is string => !!n));
}

/**
 * Plans one instance per node that runs a dependent. `pods` are the pods of the component's
 * namespace; `hash` is the current template's hash.
 */
export function planInstances(component: SeerComponent, hash: string, pods: SeerPod[]): InstancePlan {
  const name = component.metadata.name ?? '';
  const dependents = pods.filter((p) => requires(p, name) && !p.metadata.deletionTimestamp);
  const instances = pods.filter((p) => p.metadata.labels?.[COMPONENT_LABEL] === name);
  const wanted = nodesOf(dependents);
  // A dependent still shutting down removes its config files and reloads the instance before it
  // goes: the instance stays until then.
  const holding = nodesOf(pods.filter((p) => requires(p, name)));
  const deleting = !!component.metadata.deletionTimestamp;

  const remove: InstancePlan['remove'] = [];
  for (const instance of instances) {
    const stale = instance.metadata.labels?.[TEMPLATE_HASH_LABEL] !== hash;
    if (!instance.metadata.deletionTimestamp && (!holding.has(instance.spec.node_name ?? '') || stale))
      remove.push({ instance, reason: stale ? 'InstanceReplaced' : 'InstanceRemoved' });
  }

  const create: string[] = [];
  if (!deleting) {
    for (const node of wanted) {
      const onNode = instances.filter((i) => i.spec.node_name === node);
      const present = onNode.some((i) => i.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash);
      // An old instance still shutting down holds the directory: the new one waits for it.
      const shuttingDown = onNode.some((i) => i.metadata.deletionTimestamp);
      if (!present && !shuttingDown) create.push(node);
    }
  }

  const has = (component.metadata.finalizers ?? []).includes(COMPONENT_IN_USE_FINALIZER);
  let finalizer: InstancePlan['finalizer'];
  if (dependents.length > 0 && !has && !deleting) finalizer = 'add';
  // Let it go only once its instances are gone too.
  else if (dependents.length === 0 && has) finalizer = deleting && instances.length > 0 ? 'wait' : 'remove';

  return { remove, create, finalizer, dependents, wanted };
}
