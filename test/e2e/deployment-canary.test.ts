import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  DEPLOYMENT_LABEL,
  SEER_API_VERSION,
  ROLLOUT_GROUP_LABEL,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import type { SeerDeployment, SeerDeploymentSpec, SeerPod } from '../../api/types.js';
import { createRolloutCommand } from '../../cli/commands/rollout.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { DeploymentController } from '../../operator/deployments/controller.js';
import { createCaches, startCaches, stopCaches } from '../../operator/runtime/caches.js';
import type { OperatorContext } from '../../operator/runtime/context.js';
import { EventRecorder } from '../../operator/runtime/events.js';
import { OperatorMetrics } from '../../operator/runtime/metrics.js';
import { eventually } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';

let cluster: TestCluster;
let rest: RestClient;
let client: SeerClient;
let ctx: OperatorContext;
let controller: DeploymentController;
let agent: FakeAgent;

const isReady = (pod: SeerPod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const live = (pods: SeerPod[]) => pods.filter((p) => !p.metadata.deletionTimestamp);

/**
 * Plays the node agents: every pod that appears is marked Ready at once (no scheduler or agent runs
 * here), except while disabled or for deployments told to stay unready.
 */
class FakeAgent {
  enabled = true;
  readonly neverReady = new Set<string>();

  constructor(private readonly context: OperatorContext) {
    context.caches.pods.on('add', (pod) => this.markReady(pod));
    context.caches.pods.on('update', (_old, pod) => this.markReady(pod));
  }

  enable(): void {
    this.enabled = true;
    for (const pod of this.context.caches.pods.list()) this.markReady(pod);
  }

  private markReady(pod: SeerPod): void {
    const deployment = pod.metadata.labels?.[DEPLOYMENT_LABEL] ?? '';
    if (!this.enabled || pod.metadata.deletionTimestamp || isReady(pod) || this.neverReady.has(deployment))
      return;
    const now = new Date().toISOString();
    this.context.client
      .patchStatus('SeerPod', pod, {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'True', last_transition_time: now }],
      })
      .catch(() => undefined);
  }
}

before(async () => {
  cluster = await startTestCluster({ crds: true });
  rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  client = new SeerClient(rest);
  const logger = pino({ level: 'silent' });
  ctx = {
    client,
    rest,
    caches: createCaches(client),
    events: new EventRecorder(rest, 'seer-operator', 'deployment-canary-e2e', logger),
    metrics: new OperatorMetrics(),
    logger,
  };
  await startCaches(ctx.caches);
  agent = new FakeAgent(ctx);
  controller = new DeploymentController(ctx);
  controller.start();
});

after(async () => {
  await controller?.stop();
  if (ctx) await stopCaches(ctx.caches);
  rest?.close();
  await cluster?.stop();
});

function template(version: string) {
  return {
    metadata: { labels: { app: 'web' } },
    spec: {
      containers: [
        { name: 'web', package: `file:///packages/web-${version}.tar.gz`, commands: { start: 'bin/web' } },
      ],
    },
  };
}

function deployment(name: string, spec: Partial<SeerDeploymentSpec>): SeerDeployment {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    metadata: {
      name,
      namespace: 'default',
    },
    spec: { replicas: 3, template: template('v1'), ...spec },
  };
}

async function podsOf(name: string): Promise<SeerPod[]> {
  const list = await client.list('SeerPod', {
    namespace: 'default',
    labelSelector: `${DEPLOYMENT_LABEL}=${name}`,
  });
  return list.items;
}
async function rollout(...args: string[]): Promise<string> {
  let stdout = '';
  const output = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: () => true } };
  try {
    await createRolloutCommand(output).run([...args, '--kubeconfig', cluster.kubeconfig]);
  } catch (error) {
    throw Object.assign(error as Error, { stdout });
  }
  return stdout;
}

const active = async (name: string) => live(await podsOf(name));
const groupOf = (pod: SeerPod) => pod.metadata.labels?.[ROLLOUT_GROUP_LABEL];
const hashOf = (pod: SeerPod) => pod.metadata.labels?.[TEMPLATE_HASH_LABEL];

/** Waits until the live pods, by group label, are exactly `groups` (e.g. { canary: 1, stable: 2 }). */
async function groups(name: string, wanted: Record<string, number>): Promise<SeerPod[]> {
  return eventually(`${name} pods in groups ${JSON.stringify(wanted)}`, async () => {
    const pods = await active(name);
    const counts: Record<string, number> = {};
    for (const pod of pods) counts[groupOf(pod) ?? 'none'] = (counts[groupOf(pod) ?? 'none'] ?? 0) + 1;
    const same =
      Object.keys({ ...counts, ...wanted }).every((k) => (counts[k] ?? 0) === (wanted[k] ?? 0)) &&
      pods.every(isReady);
    return same ? pods : undefined;
  });
}

async function bump(name: string, version: string): Promise<void> {
  await client.patch(
    'SeerDeployment',
    { metadata: { name, namespace: 'default' } },
    {
      spec: { template: template(version) },
    },
  );
}

describe('canary', () => {
  test('1 of 3 stops with 1 canary pod and 2 stable, waits for promotion, then completes', async () => {
    await client.create(
      'SeerDeployment',
      deployment('can', { strategy: { type: 'canary', canary: { replicas: 1 } } }),
    );
    const stable = await groups('can', { stable: 3 });
    const v1 = hashOf(stable[0]!);
    await bump('can', 'v2');
    const during = await groups('can', { canary: 1, stable: 2 });
    assert.equal(during.filter((p) => hashOf(p) === v1).length, 2);
    const waiting = await eventually('waiting for promotion', async () => {
      const d = await client.get('SeerDeployment', 'can', 'default');
      const c = d.status?.conditions?.find((x) => x.type === 'Progressing');
      return c?.reason === 'WaitingForPromotion' ? c : undefined;
    });
    assert.equal(waiting.message, 'waiting for promotion: 1 canary pod ready of 1');
    // Still 1 canary a moment later: nothing goes on without promotion.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await active('can')).filter((p) => groupOf(p) === 'canary').length, 1);
    assert.match(await rollout('promote', 'sdeploy/can'), /promoted/);
    const done = await groups('can', { stable: 3 });
    assert.ok(done.every((p) => hashOf(p) !== v1));
    await rollout('status', 'sdeploy/can', '--timeout', '30s');
  });

  test('with auto_revert, canary pods that never get ready are removed', async () => {
    await client.create(
      'SeerDeployment',
      deployment('rev', {
        progress_deadline_seconds: 3,
        strategy: { type: 'canary', canary: { replicas: 1, auto_revert: true } },
      }),
    );
    const stable = await groups('rev', { stable: 3 });
    const v1 = hashOf(stable[0]!);
    agent.enabled = false;
    await bump('rev', 'v2');
    await eventually('a canary pod', async () =>
      (await active('rev')).some((p) => groupOf(p) === 'canary') ? true : undefined,
    );
    agent.enabled = true;
    agent.neverReady.add('rev');
    const back = await groups('rev', { stable: 3 });
    assert.ok(back.every((p) => hashOf(p) === v1));
    const d = await client.get('SeerDeployment', 'rev', 'default');
    assert.ok(d.metadata.annotations?.['seer.io/aborted-template-hash']);
    await eventually('the RolloutAborted condition', async () => {
      const now = await client.get('SeerDeployment', 'rev', 'default');
      const c = now.status?.conditions?.find((x) => x.type === 'Progressing');
      return c?.reason === 'RolloutAborted' ? c : undefined;
    });
    await assert.rejects(rollout('status', 'sdeploy/rev', '--timeout', '10s'), /rollout aborted/);
  });

  test('abort goes back to the stable revision', async () => {
    await client.create(
      'SeerDeployment',
      deployment('abt', { strategy: { type: 'canary', canary: { percent: 34 } } }),
    );
    const stable = await groups('abt', { stable: 3 });
    const v1 = hashOf(stable[0]!);
    await bump('abt', 'v2');
    await groups('abt', { canary: 2, stable: 1 });
    assert.match(await rollout('abort', 'sdeploy/abt'), /aborted/);
    const back = await groups('abt', { stable: 3 });
    assert.ok(back.every((p) => hashOf(p) === v1));
  });
});

describe('blue/green', () => {
  test('both colours run until promoted, then only the new one', async () => {
    await client.create(
      'SeerDeployment',
      deployment('bg', { replicas: 2, strategy: { type: 'blue_green' } }),
    );
    await groups('bg', { blue: 2 });
    await bump('bg', 'v2');
    await groups('bg', { blue: 2, green: 2 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await active('bg')).length, 4);
    await rollout('promote', 'sdeploy/bg');
    await groups('bg', { green: 2 });
  });
});
