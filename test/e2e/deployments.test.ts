import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  CHANGE_CAUSE_ANNOTATION,
  DEPLOYMENT_LABEL,
  REVISION_ANNOTATION,
  SEER_API_VERSION,
  TEMPLATE_HASH_LABEL,
} from '../../api/names.js';
import type { SeerDeployment, SeerDeploymentSpec, SeerPod } from '../../api/types.js';
import { createRolloutCommand } from '../../cli/commands/rollout.js';
import { isNotFound } from '../../kube/errors.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { DeploymentController } from '../../operator/deployments/controller.js';
import { createCaches, startCaches, stopCaches } from '../../operator/runtime/caches.js';
import type { OperatorContext } from '../../operator/runtime/context.js';
import { EventRecorder } from '../../operator/runtime/events.js';
import { OperatorMetrics } from '../../operator/runtime/metrics.js';
import { revisionsPath, type ControllerRevision } from '../../workloads/revisions.js';
import { eventually } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { objectRef } from '../../kube/keys.js';

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
    events: new EventRecorder(rest, 'seer-operator', 'deployments-e2e', logger),
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

function deployment(name: string, spec: Partial<SeerDeploymentSpec>, changeCause?: string): SeerDeployment {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    metadata: {
      name,
      namespace: 'default',
      annotations: changeCause ? { [CHANGE_CAUSE_ANNOTATION]: changeCause } : undefined,
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

async function revisionsOf(name: string): Promise<ControllerRevision[]> {
  const list = await rest.request<{ items: ControllerRevision[] }>('GET', revisionsPath('default'), {
    query: { labelSelector: `${DEPLOYMENT_LABEL}=${name}` },
  });
  return list.items.sort((a, b) => a.revision - b.revision);
}

/** Waits for `replicas` ready pods, all from the template with this hash (or any one template). */
async function settled(name: string, replicas: number, hash?: string): Promise<SeerPod[]> {
  return eventually(`${replicas} ready pods of ${name}${hash ? ` from template ${hash}` : ''}`, async () => {
    const pods = await podsOf(name);
    const hashes = new Set(pods.map((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL]));
    const done =
      pods.length === replicas &&
      pods.every((p) => isReady(p) && !p.metadata.deletionTimestamp) &&
      hashes.size <= 1 &&
      (hash === undefined || hashes.has(hash));
    return done ? pods : undefined;
  });
}

/** The status once it describes the latest spec and satisfies `check`. */
async function statusOf(name: string, check: (d: SeerDeployment) => boolean): Promise<SeerDeployment> {
  return eventually(`the status of ${name}`, async () => {
    const d = await client.get('SeerDeployment', name, 'default');
    return d.status?.observed_generation === d.metadata.generation && check(d) ? d : undefined;
  });
}

/** Runs `seer rollout ...` in-process against the test cluster; returns what it printed. */
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

/**
 * Follows the deployment's pods through every state the watch shows: the most that existed at once
 * and the fewest ready among those not being deleted.
 */
function watchLimits(name: string) {
  const seen = { most: 0, fewestReady: Infinity };
  const check = () => {
    const pods = live(ctx.caches.pods.list().filter((p) => p.metadata.labels?.[DEPLOYMENT_LABEL] === name));
    seen.most = Math.max(seen.most, pods.length);
    seen.fewestReady = Math.min(seen.fewestReady, pods.filter(isReady).length);
  };
  check();
  ctx.caches.pods.on('add', check);
  ctx.caches.pods.on('update', check);
  ctx.caches.pods.on('delete', check);
  return {
    seen,
    stop() {
      ctx.caches.pods.off('add', check);
      ctx.caches.pods.off('update', check);
      ctx.caches.pods.off('delete', check);
    },
  };
}

async function eventReasons(name: string): Promise<string[]> {
  const list = await rest.request<{ items: { reason?: string; regarding?: { name?: string } }[] }>(
    'GET',
    '/apis/events.k8s.io/v1/namespaces/default/events',
  );
  return list.items.filter((e) => e.regarding?.name === name).map((e) => e.reason ?? '');
}

describe('a rolling deployment', () => {
  let firstHash = '';
  let secondHash = '';

  test('gets its replicas: labelled with the template hash, owned by it, not bound', async () => {
    agent.enabled = false;
    const created = await client.create(
      'SeerDeployment',
      deployment(
        'web',
        { strategy: { type: 'rolling_update', rolling_update: { max_surge: 1, max_unavailable: 1 } } },
        'first release',
      ),
    );
    const pods = await eventually('3 pods', async () => {
      const found = await podsOf('web');
      return found.length === 3 ? found : undefined;
    });
    firstHash = pods[0]?.metadata.labels?.[TEMPLATE_HASH_LABEL] ?? '';
    assert.match(firstHash, /^[a-z0-9]{10}$/);
    for (const pod of pods) {
      assert.match(pod.metadata.name ?? '', new RegExp(`^web-${firstHash}-[a-z0-9]{5}$`));
      assert.equal(pod.metadata.labels?.[DEPLOYMENT_LABEL], 'web');
      assert.equal(pod.metadata.labels?.app, 'web');
      assert.equal(pod.metadata.labels?.[TEMPLATE_HASH_LABEL], firstHash);
      assert.equal(pod.metadata.annotations?.[REVISION_ANNOTATION], '1');
      assert.equal(pod.metadata.ownerReferences?.[0]?.uid, created.metadata.uid);
      assert.equal(pod.metadata.ownerReferences?.[0]?.controller, true);
      assert.equal(pod.spec.node_name, undefined, 'the scheduler binds it');
      assert.deepEqual(pod.spec.containers, created.spec.template.spec.containers);
    }
    const [revision, ...more] = await revisionsOf('web');
    assert.equal(more.length, 0);
    assert.equal(revision?.metadata.name, `web-${firstHash}`);
    assert.equal(revision?.revision, 1);
    assert.deepEqual(revision?.data?.template, created.spec.template);
    assert.equal(revision?.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION], 'first release');
    const annotated = await eventually('the revision annotation', async () => {
      const d = await client.get('SeerDeployment', 'web', 'default');
      return d.metadata.annotations?.[REVISION_ANNOTATION];
    });
    assert.equal(annotated, '1');
  });

  test('its status follows the pods, and kubectl shows it', async () => {
    const waiting = await statusOf('web', (d) => d.status?.replicas === 3);
    assert.equal(waiting.status?.ready_replicas, 0);
    assert.equal(waiting.status?.unavailable_replicas, 3);
    assert.equal(waiting.status?.conditions?.find((c) => c.type === 'Available')?.status, 'False');

    agent.enable();
    await settled('web', 3, firstHash);
    const d = await statusOf('web', (x) => x.status?.available_replicas === 3);
    assert.equal(d.status?.replicas, 3);
    assert.equal(d.status?.ready_replicas, 3);
    assert.equal(d.status?.updated_replicas, 3);
    assert.equal(d.status?.unavailable_replicas, 0);
    assert.equal(d.status?.selector, 'seer.io/deployment=web');
    const conditions = Object.fromEntries((d.status?.conditions ?? []).map((c) => [c.type, c]));
    assert.equal(conditions.Available?.status, 'True');
    assert.equal(conditions.Available?.reason, 'MinimumReplicasAvailable');
    assert.equal(conditions.Progressing?.status, 'True');
    assert.equal(conditions.Progressing?.reason, 'NewTemplateAvailable');

    const table = await cluster.kubectlOk(['get', 'sdeploy', 'web']);
    const [header, row] = table.trim().split('\n');
    assert.deepEqual(header?.split(/\s+/), ['NAME', 'DESIRED', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
    assert.deepEqual(row?.split(/\s+/).slice(0, 5), ['web', '3', '3', '3', '3']);
  });

  test('kubectl scale adds and removes pods through the scale subresource', async () => {
    await cluster.kubectlOk(['scale', 'seerdeployment/web', '--replicas=5']);
    await settled('web', 5, firstHash);
    await statusOf('web', (d) => d.status?.available_replicas === 5 && d.status.replicas === 5);
    const selector = await cluster.kubectlOk([
      'get',
      'seerdeployment',
      'web',
      '--subresource=scale',
      '-o',
      'jsonpath={.status.selector}',
    ]);
    assert.equal(selector, 'seer.io/deployment=web');

    await cluster.kubectlOk(['scale', 'seerdeployment/web', '--replicas=3']);
    await settled('web', 3, firstHash);
    await statusOf('web', (d) => d.status?.replicas === 3);
  });

  test('a failed pod is replaced', async () => {
    const [victim] = await podsOf('web');
    await client.patchStatus('SeerPod', objectRef(victim?.metadata.name ?? '', 'default'), {
      phase: 'Failed',
    });
    await eventually('the failed pod deleted', async () =>
      (await podsOf('web')).every((p) => p.metadata.name !== victim?.metadata.name),
    );
    await settled('web', 3, firstHash);
  });

  test('a new template rolls out within max_surge and max_unavailable, as revision 2', async () => {
    const limits = watchLimits('web');
    await client.patch('SeerDeployment', objectRef('web', 'default'), {
      metadata: { annotations: { [CHANGE_CAUSE_ANNOTATION]: 'second release' } },
      spec: { template: template('v2') },
    });
    const out = await rollout('status', 'seerdeployment/web', '--timeout', '60s');
    limits.stop();
    assert.match(out, /deployment "web" successfully rolled out\n$/);
    const pods = await settled('web', 3);
    secondHash = pods[0]?.metadata.labels?.[TEMPLATE_HASH_LABEL] ?? '';
    assert.notEqual(secondHash, firstHash);
    assert.ok(pods.every((p) => p.metadata.annotations?.[REVISION_ANNOTATION] === '2'));
    assert.ok(pods.every((p) => p.spec.containers[0]?.package === 'file:///packages/web-v2.tar.gz'));
    assert.ok(limits.seen.most <= 4, `${limits.seen.most} pods at once (allowed: 3 + 1)`);
    assert.ok(limits.seen.fewestReady >= 2, `only ${limits.seen.fewestReady} ready (allowed: 3 - 1)`);

    const revisions = await revisionsOf('web');
    assert.deepEqual(
      revisions.map((r) => [r.metadata.name, r.revision]),
      [
        [`web-${firstHash}`, 1],
        [`web-${secondHash}`, 2],
      ],
    );
    const d = await client.get('SeerDeployment', 'web', 'default');
    assert.equal(d.metadata.annotations?.[REVISION_ANNOTATION], '2');
    const reasons = await eventually('the rollout events', async () => {
      const found = await eventReasons('web');
      return ['ScalingUp', 'ScalingDown', 'RolloutStarted', 'RolloutComplete'].every((r) => found.includes(r))
        ? found
        : undefined;
    });
    assert.ok(reasons.includes('RolloutStarted'));
  });

  test('seer rollout history lists the revisions and shows one template', async () => {
    const table = await rollout('history', 'sdeploy/web');
    assert.equal(
      table,
      [
        'seerdeployment.seer.io/web',
        'REVISION  CHANGE-CAUSE',
        '1         first release',
        '2         second release',
        '',
      ].join('\n'),
    );
    const shown = await rollout('history', 'seerdeployments/web', '--revision', '1');
    assert.match(shown, /^seerdeployment\.seer\.io\/web with revision #1\n/);
    assert.match(shown, /package: file:\/\/\/packages\/web-v1\.tar\.gz/);
    await assert.rejects(rollout('history', 'sdeploy/web', '--revision', '9'), /unable to find revision 9/);
  });

  test('seer rollout undo goes back to the previous template, which becomes revision 3', async () => {
    assert.equal(await rollout('undo', 'seerdeployment/web'), 'seerdeployment.seer.io/web rolled back\n');
    const out = await rollout('status', 'seerdeployment/web', '--timeout', '60s');
    assert.match(out, /successfully rolled out/);
    const pods = await settled('web', 3, firstHash);
    assert.ok(pods.every((p) => p.spec.containers[0]?.package === 'file:///packages/web-v1.tar.gz'));
    assert.ok(pods.every((p) => p.metadata.annotations?.[REVISION_ANNOTATION] === '3'));
    const revisions = await revisionsOf('web');
    assert.deepEqual(
      revisions.map((r) => [r.metadata.name, r.revision]),
      [
        [`web-${secondHash}`, 2],
        [`web-${firstHash}`, 3],
      ],
    );
    const table = await rollout('history', 'seerdeployment/web');
    assert.match(table, /\n2 +second release\n3 +first release\n$/);
    assert.match(
      await rollout('undo', 'seerdeployment/web', '--to-revision', '3'),
      /skipped rollback \(current template already matches revision 3\)/,
    );
  });

  test('seer rollout restart replaces every pod with the same template', async () => {
    const before = new Set((await settled('web', 3, firstHash)).map((p) => p.metadata.name));
    assert.equal(await rollout('restart', 'seerdeployment/web'), 'seerdeployment.seer.io/web restarted\n');
    await rollout('status', 'seerdeployment/web', '--timeout', '60s');
    const pods = await settled('web', 3);
    assert.ok(
      pods.every((p) => !before.has(p.metadata.name)),
      'every pod replaced',
    );
    assert.ok(pods.every((p) => p.metadata.annotations?.['seer.io/restarted-at']));
    assert.ok(pods.every((p) => p.spec.containers[0]?.package === 'file:///packages/web-v1.tar.gz'));
    assert.equal((await revisionsOf('web')).at(-1)?.revision, 4);
  });

  test('seer rollout status reports progress and gives up at its timeout', async () => {
    agent.enabled = false;
    await rollout('restart', 'seerdeployment/web');
    const failure = await rollout('status', 'seerdeployment/web', '--timeout', '2s').then(
      () => assert.fail('the rollout cannot finish without ready pods'),
      (error: Error & { stdout?: string }) => error,
    );
    assert.match(failure.message, /timed out waiting for the rollout of seerdeployment "web"/);
    assert.match(failure.stdout ?? '', /^Waiting for deployment/);
    agent.enable();
    const out = await rollout('status', 'seerdeployment/web');
    assert.match(out, /deployment "web" successfully rolled out\n$/);
  });

  test('paused, a changed template is not rolled out, but scaling works', async () => {
    const current = (await settled('web', 3))[0]?.metadata.labels?.[TEMPLATE_HASH_LABEL];
    assert.equal(await rollout('pause', 'seerdeployment/web'), 'seerdeployment.seer.io/web paused\n');
    await assert.rejects(rollout('pause', 'seerdeployment/web'), /seerdeployment "web" is already paused/);
    await client.patch('SeerDeployment', objectRef('web', 'default'), { spec: { template: template('v3') } });
    await statusOf(
      'web',
      (d) =>
        d.status?.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'DeploymentPaused') ??
        false,
    );
    // The reconcile that wrote this status would have created or deleted pods before writing it.
    assert.ok((await podsOf('web')).every((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] === current));
    await assert.rejects(rollout('restart', 'seerdeployment/web'), /can't restart paused seerdeployment/);

    await cluster.kubectlOk(['scale', 'seerdeployment/web', '--replicas=4']);
    await settled('web', 4, current);

    assert.equal(await rollout('resume', 'seerdeployment/web'), 'seerdeployment.seer.io/web resumed\n');
    await assert.rejects(rollout('resume', 'seerdeployment/web'), /seerdeployment "web" is not paused/);
    await rollout('status', 'seerdeployment/web', '--timeout', '60s');
    const pods = await settled('web', 4);
    assert.ok(pods.every((p) => p.spec.containers[0]?.package === 'file:///packages/web-v3.tar.gz'));
  });

  test('deleting the deployment deletes its pods and revisions', async () => {
    await client.delete('SeerDeployment', objectRef('web', 'default'));
    await eventually('no pods of web', async () => (await podsOf('web')).length === 0);
    await eventually('no revisions of web', async () => (await revisionsOf('web')).length === 0);
  });
});

test('recreate never runs old and new pods together', async () => {
  await client.create('SeerDeployment', deployment('batch', { replicas: 2, strategy: { type: 'recreate' } }));
  const old = (await settled('batch', 2))[0]?.metadata.labels?.[TEMPLATE_HASH_LABEL];
  let mixed = false;
  const check = () => {
    const pods = live(
      ctx.caches.pods.list().filter((p) => p.metadata.labels?.[DEPLOYMENT_LABEL] === 'batch'),
    );
    if (new Set(pods.map((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL])).size > 1) mixed = true;
  };
  ctx.caches.pods.on('add', check);
  try {
    await client.patch('SeerDeployment', objectRef('batch', 'default'), {
      spec: { template: template('v2') },
    });
    await rollout('status', 'seerdeployment/batch', '--timeout', '60s');
  } finally {
    ctx.caches.pods.off('add', check);
  }
  const pods = await settled('batch', 2);
  assert.notEqual(pods[0]?.metadata.labels?.[TEMPLATE_HASH_LABEL], old);
  assert.equal(mixed, false, 'a new pod appeared while an old one was still there');
});

test('a rollout that makes no progress reports ProgressDeadlineExceeded', async () => {
  agent.neverReady.add('stuck');
  await client.create('SeerDeployment', deployment('stuck', { replicas: 2, progress_deadline_seconds: 1 }));
  const d = await statusOf(
    'stuck',
    (x) => x.status?.conditions?.some((c) => c.type === 'Progressing' && c.status === 'False') ?? false,
  );
  const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
  assert.equal(progressing?.reason, 'ProgressDeadlineExceeded');
  await assert.rejects(
    rollout('status', 'seerdeployment/stuck', '--timeout', '30s'),
    /deployment "stuck" exceeded its progress deadline/,
  );
  assert.ok(
    await eventually('the warning event', async () =>
      (await eventReasons('stuck')).includes('ProgressDeadlineExceeded'),
    ),
  );
});

test('pods a missing deployment created are deleted; pods merely labelled with its name are not', async () => {
  const orphan = (name: string, owned: boolean): SeerPod => ({
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name,
      namespace: 'default',
      labels: { [DEPLOYMENT_LABEL]: 'ghost' },
      ownerReferences: owned
        ? [
            {
              apiVersion: SEER_API_VERSION,
              kind: 'SeerDeployment',
              name: 'ghost',
              uid: 'gone',
              controller: true,
            },
          ]
        : undefined,
    },
    spec: { containers: [{ name: 'c', package: 'file:///p.tar.gz', commands: { start: 'run' } }] },
  });
  await client.create('SeerPod', orphan('hand-made', false));
  await client.create('SeerPod', orphan('left-behind', true));
  await eventually('the left-behind pod deleted', async () => {
    try {
      await client.get('SeerPod', 'left-behind', 'default');
      return false;
    } catch (error) {
      return isNotFound(error);
    }
  });
  // The reconcile that deleted it had the hand-made pod in its cache already (created first).
  assert.equal((await client.get('SeerPod', 'hand-made', 'default')).metadata.name, 'hand-made');
});

test('seer rollout refuses what is not a seerdeployment, and names a missing one', async () => {
  await assert.rejects(
    rollout('status', 'deployment/web'),
    /works on seerdeployments, seerdaemonsets and seerstatefulsets, not deployment/,
  );
  await assert.rejects(
    rollout('undo', 'sds/web'),
    /seer rollout undo works on seerdeployments and seerstatefulsets only/,
  );
  await assert.rejects(rollout('frobnicate', 'sdeploy/web'), /usage:/);
  await assert.rejects(
    rollout('history', 'sdeploy/nothing'),
    /seerdeployment "nothing" not found in namespace default/,
  );
});
