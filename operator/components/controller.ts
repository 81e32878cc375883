import {
  AGENT_FINALIZER,
  COMPONENT_CONDITION,
  COMPONENT_IN_USE_FINALIZER,
  COMPONENT_LABEL,
  CONDITION_STATUS,
  SEER_API_VERSION,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import type {
  Condition,
  ComponentConditionType,
  SeerComponent,
  SeerComponentStatus,
  SeerPod,
} from '../../api/types.js';
import { transition } from '../../api/conditions.js';
import { hashOf } from '../../common/hashing.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import { addFinalizer, removeFinalizer } from '../../kube/finalizers.js';
import { objectKey } from '../../kube/keys.js';
import { QueueController } from '../runtime/controller.js';
import { instancePod } from './instance-pod.js';
import type { Controller, OperatorContext } from '../runtime/context.js';

function templateHash(component: SeerComponent): string {
  return hashOf(component.spec.template, 10);
}

const requires = (pod: SeerPod, component: string) =>
  (pod.spec.required_components ?? []).some((c) => c.name === component);

/**
 * Keeps exactly one instance pod of each component on every node where a pod requires it (bound
 * there directly, owned by the component), removes instances no dependent needs any more, and
 * protects a component from deletion while pods still require it (a finalizer, and an InUse
 * condition naming them).
 */
export class ComponentController implements Controller {
  readonly name = 'components';
  private readonly queue: QueueController;

  constructor(private readonly ctx: OperatorContext) {
    this.queue = new QueueController({
      name: this.name,
      reconcile: (key) => this.reconcile(key),
      metrics: ctx.metrics,
      logger: ctx.logger,
    });
    const { components, pods } = ctx.caches;
    components.on('add', (c) => this.queue.enqueue(objectKey(c)));
    components.on('update', (_old, c) => this.queue.enqueue(objectKey(c)));
    const onPod = (pod: SeerPod) => {
      const namespace = pod.metadata.namespace ?? 'default';
      for (const required of pod.spec.required_components ?? [])
        this.queue.enqueue(`${namespace}/${required.name}`);
      const instanceOf = pod.metadata.labels?.[COMPONENT_LABEL];
      if (instanceOf) this.queue.enqueue(`${namespace}/${instanceOf}`);
    };
    pods.on('add', onPod);
    pods.on('update', (old, pod) => {
      onPod(old);
      onPod(pod);
    });
    pods.on('delete', onPod);
  }

  start(): void {
    for (const component of this.ctx.caches.components.list()) this.queue.enqueue(objectKey(component));
    this.queue.start();
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const [namespace = 'default', name = ''] = key.split('/');
    const component = this.ctx.caches.components.get(key);
    const pods = this.ctx.caches.pods.list().filter((p) => (p.metadata.namespace ?? 'default') === namespace);
    const dependents = pods.filter((p) => requires(p, name) && !p.metadata.deletionTimestamp);
    const instances = pods.filter((p) => p.metadata.labels?.[COMPONENT_LABEL] === name);

    if (!component) {
      // Gone (it had no dependents, or was forced): its instances go too.
      for (const instance of instances) await this.deletePod(instance);
      return;
    }
    const hash = templateHash(component);
    const nodesOf = (list: SeerPod[]) =>
      new Set(list.map((p) => p.spec.node_name).filter((n): n is string => !!n));
    const wanted = nodesOf(dependents);
    // A dependent still shutting down removes its config files and reloads the instance before it
    // goes: the instance stays until then.
    const holding = nodesOf(pods.filter((p) => requires(p, name)));
    const deleting = !!component.metadata.deletionTimestamp;

    for (const instance of instances) {
      const node = instance.spec.node_name ?? '';
      const stale = instance.metadata.labels?.[TEMPLATE_HASH_LABEL] !== hash;
      if (!instance.metadata.deletionTimestamp && (!holding.has(node) || stale)) {
        await this.deletePod(instance);
        this.ctx.events.record(
          component,
          'Normal',
          stale ? 'InstanceReplaced' : 'InstanceRemoved',
          `instance on ${node} removed`,
        );
      }
    }
    if (!deleting) {
      for (const node of wanted) {
        const present = instances.some(
          (i) => i.spec.node_name === node && i.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash,
        );
        // An old instance still shutting down holds the directory: the new one waits for it.
        const shuttingDown = instances.some((i) => i.spec.node_name === node && i.metadata.deletionTimestamp);
        if (!present && !shuttingDown) await this.createInstance(component, node, hash);
      }
    }

    await this.protect(component, dependents, deleting);
    await this.writeStatus(component, dependents, instances, wanted);
  }

  private async createInstance(component: SeerComponent, node: string, hash: string): Promise<void> {
    const name = component.metadata.name ?? '';
    const base = instancePod(component, node);
    const pod: SeerPod = {
      ...base,
      metadata: {
        ...base.metadata,
        labels: { ...base.metadata.labels, [TEMPLATE_HASH_LABEL]: hash },
        finalizers: [AGENT_FINALIZER],
        ownerReferences: [
          {
            apiVersion: SEER_API_VERSION,
            kind: 'SeerComponent',
            name,
            uid: component.metadata.uid ?? '',
            controller: true,
          },
        ],
      },
    };
    try {
      await this.ctx.client.create('SeerPod', pod);
      this.ctx.events.record(
        component,
        'Normal',
        'InstanceCreated',
        `instance ${pod.metadata.name} on ${node}`,
      );
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }

  private async deletePod(pod: SeerPod): Promise<void> {
    try {
      await this.ctx.client.delete('SeerPod', pod.metadata.name ?? '', pod.metadata.namespace);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** The in-use finalizer stays while pods require the component, and goes once none does. */
  private async protect(component: SeerComponent, dependents: SeerPod[], deleting: boolean): Promise<void> {
    const has = (component.metadata.finalizers ?? []).includes(COMPONENT_IN_USE_FINALIZER);
    const { client } = this.ctx;
    if (dependents.length > 0 && !has && !deleting) {
      await addFinalizer(client, 'SeerComponent', component, COMPONENT_IN_USE_FINALIZER);
    } else if (dependents.length === 0 && has) {
      // Let it go only once its instances are gone too (deleting them happened above).
      const instancesLeft = this.ctx.caches.pods
        .list()
        .some(
          (p) =>
            p.metadata.namespace === component.metadata.namespace &&
            p.metadata.labels?.[COMPONENT_LABEL] === component.metadata.name,
        );
      if (!deleting || !instancesLeft)
        await removeFinalizer(client, 'SeerComponent', component, COMPONENT_IN_USE_FINALIZER);
      else this.queue.enqueueAfter(objectKey(component), 500);
    }
  }

  private async writeStatus(
    component: SeerComponent,
    dependents: SeerPod[],
    instances: SeerPod[],
    nodes: Set<string>,
  ): Promise<void> {
    const live = instances.filter((i) => !i.metadata.deletionTimestamp);
    const ready = live.filter((i) =>
      i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    const now = new Date().toISOString();
    const previous = component.status?.conditions ?? [];
    const condition = (
      type: ComponentConditionType,
      status: 'True' | 'False',
      reason: string,
      message: string,
    ): Condition<ComponentConditionType> => transition(previous, { type, status, reason, message }, now);
    const names = dependents.map((p) => p.metadata.name).sort();
    const shown =
      names.slice(0, 10).join(', ') + (names.length > 10 ? `, and ${names.length - 10} more` : '');
    const status: SeerComponentStatus = {
      observed_generation: component.metadata.generation,
      instances: live.length,
      dependents: dependents.length,
      nodes: [...nodes].sort(),
      conditions: [
        dependents.length > 0
          ? condition(
              COMPONENT_CONDITION.InUse,
              CONDITION_STATUS.True,
              component.metadata.deletionTimestamp ? 'DeletionBlocked' : 'Required',
              `required by ${dependents.length} pod${dependents.length > 1 ? 's' : ''}: ${shown}`,
            )
          : condition(
              COMPONENT_CONDITION.InUse,
              CONDITION_STATUS.False,
              'NotRequired',
              'no pod requires this component',
            ),
        ready.length === live.length
          ? condition(
              COMPONENT_CONDITION.Ready,
              CONDITION_STATUS.True,
              'InstancesReady',
              `${ready.length} of ${live.length} instances ready`,
            )
          : condition(
              COMPONENT_CONDITION.Ready,
              CONDITION_STATUS.False,
              'InstancesNotReady',
              `${ready.length} of ${live.length} instances ready`,
            ),
      ],
    };
    if (JSON.stringify(status) === JSON.stringify(component.status)) return;
    try {
      await this.ctx.client.patchStatus(
        'SeerComponent',
        component.metadata.name ?? '',
        component.metadata.namespace,
        status,
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
