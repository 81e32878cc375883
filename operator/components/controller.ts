import {
  AGENT_FINALIZER,
  COMPONENT_CONDITION,
  COMPONENT_IN_USE_FINALIZER,
  COMPONENT_LABEL,
  CONDITION_STATUS,
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
import { canonicalJson, hashOf } from '../../common/hashing.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import { addFinalizer, removeFinalizer } from '../../kube/finalizers.js';
import { objectKey } from '../../kube/keys.js';
import { QueueController } from '../runtime/controller.js';
import { controllerReference } from '../runtime/owned-pods.js';
import { instancePod } from './instance-pod.js';
import { planInstances } from './instance-plan.js';
import type { Controller, OperatorContext } from '../runtime/context.js';

function templateHash(component: SeerComponent): string {
  return hashOf(component.spec.template, 10);
}

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
    if (!component) {
      // Gone (it had no dependents, or was forced): its instances go too.
      for (const instance of pods.filter((p) => p.metadata.labels?.[COMPONENT_LABEL] === name))
        await this.deletePod(instance);
      return;
    }
    const hash = templateHash(component);
    const plan = planInstances(component, hash, pods);
    for (const { instance, reason } of plan.remove) {
      await this.deletePod(instance);
      this.ctx.events.record(component, 'Normal', reason, `instance on ${instance.spec.node_name} removed`);
    }
    for (const node of plan.create) await this.createInstance(component, node, hash);

    const { client } = this.ctx;
    if (plan.finalizer === 'add')
      await addFinalizer(client, 'SeerComponent', component, COMPONENT_IN_USE_FINALIZER);
    else if (plan.finalizer === 'remove')
      await removeFinalizer(client, 'SeerComponent', component, COMPONENT_IN_USE_FINALIZER);
    else if (plan.finalizer === 'wait') this.queue.enqueueAfter(key, 500);

    const instances = pods.filter((p) => p.metadata.labels?.[COMPONENT_LABEL] === name);
    await this.writeStatus(component, plan.dependents, instances, plan.wanted);
  }

  private async createInstance(component: SeerComponent, node: string, hash: string): Promise<void> {
    const base = instancePod(component, node);
    const pod: SeerPod = {
      ...base,
      metadata: {
        ...base.metadata,
        labels: { ...base.metadata.labels, [TEMPLATE_HASH_LABEL]: hash },
        finalizers: [AGENT_FINALIZER],
        ownerReferences: [controllerReference(component)],
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
      await this.ctx.client.delete('SeerPod', pod);
    } catch (error) {
      if (!isNotFound(error)) throw error;
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
    // Key order differs between what is built here and what the API server returns.
    if (canonicalJson(status) === canonicalJson(component.status)) return;
    try {
      await this.ctx.client.patchStatus('SeerComponent', component, status);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
