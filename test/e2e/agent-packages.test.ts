import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pushPackage } from '../../packages/build.js';
import type { SeerPod } from '../../api/types.js';
import { freePort } from '../../cli/control-plane/ports.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { makePackage, seerPod, SLEEPER } from '../support/pods.js';
import { startRegistry, type LocalRegistry } from '../support/registry.js';
import { rawTarGz } from '../unit/packages/tar-fixtures.js';
import { objectRef } from '../../kube/keys.js';

let cluster: TestCluster;
let client: SeerClient;
let registry: LocalRegistry;
let agent: AgentProcess;
let work: string;
let deadRegistry: string;

before(async () => {
  cluster = await startTestCluster({ crds: true });
  client = new SeerClient(RestClient.fromKubeconfig(cluster.kubeconfig));
  registry = await startRegistry();
  deadRegistry = `127.0.0.1:${await freePort()}`;
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-packages-'));
  agent = await startAgentProcess({
    nodeName: 'node-p',
    root: path.join(work, 'root'),
    kubeconfig: cluster.kubeconfig,
    args: ['--insecure-registry', registry.host, '--insecure-registry', deadRegistry],
  });
});

after(async () => {
  await agent?.cleanUp();
  await registry?.stop();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const pod = (name: string): Promise<SeerPod | undefined> => client.find('SeerPod', name, 'default');

async function runPod(
  name: string,
  container: Partial<SeerPod['spec']['containers'][number]>,
): Promise<void> {
  await client.create(
    'SeerPod',
    seerPod(name, { node_name: 'node-p', containers: [{ name: 'main', package: '', ...container }] }),
  );
}

/** Waits for the pod's PackagesReady condition to be False with `reason`, and returns its message. */
async function refusedWith(name: string, reason: string): Promise<string> {
  return eventually(`${name}: ${reason}`, async () => {
    const p = await pod(name);
    const c = p?.status?.conditions?.find((x) => x.type === 'PackagesReady');
    if (c?.status === 'False' && c.reason === reason) {
      assert.equal(p?.status?.phase, 'Pending');
      assert.equal(p?.status?.reason, reason);
      return c.message ?? '';
    }
    return undefined;
  });
}

async function cleanUp(name: string): Promise<void> {
  await client.delete('SeerPod', objectRef(name, 'default'));
  await eventually(`${name} gone`, async () => (await pod(name)) === undefined);
  assert.equal(existsSync(path.join(agent.root, 'pod', name)), false);
}

test('a package pushed to a real OCI registry is pulled, verified and run, with the commands it carries', async () => {
  const dir = path.join(work, 'oci-package');
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await writeFile(path.join(dir, 'bin', 'app'), SLEEPER);
  await chmod(path.join(dir, 'bin', 'app'), 0o755);
  // The package supplies the start command; the pod spec gives none.
  await writeFile(path.join(dir, 'seer-package.yaml'), 'commands:\n  start: bin/app\n');
  const reference = `${registry.host}/team/app:v1`;
  const pushed = await pushPackage(dir, reference, {
    registries: { insecure: [registry.host], credentials: {} },
  });

  await runPod('from-oci', { package: reference, package_digest: pushed.digest });
  const running = await eventually('from-oci running', async () => {
    const p = await pod('from-oci');
    return p?.status?.phase === 'Running' ? p : undefined;
  });
  assert.equal(running.status?.container_statuses?.[0]?.package_digest, pushed.digest);
  await cleanUp('from-oci');
});

test('a digest that does not match the content is refused with DigestMismatch', async () => {
  const pkg = await makePackage({ 'bin/app': SLEEPER });
  await runPod('wrong-digest', {
    package: pkg.reference,
    package_digest: `sha256:${'0'.repeat(64)}`,
    commands: { start: 'bin/app' },
  });
  assert.match(await refusedWith('wrong-digest', 'DigestMismatch'), /0{64}/);
  await cleanUp('wrong-digest');
});

test('a package that does not exist is reported as PackageNotFound', async () => {
  await runPod('no-such-tag', {
    package: `${registry.host}/team/app:does-not-exist`,
    commands: { start: 'bin/app' },
  });
  assert.match(await refusedWith('no-such-tag', 'PackageNotFound'), /does-not-exist/);
  await cleanUp('no-such-tag');
  await runPod('no-such-file', { package: `file://${work}/missing.tar.gz`, commands: { start: 'bin/app' } });
  await refusedWith('no-such-file', 'PackageNotFound');
  await cleanUp('no-such-file');
});

test('a registry that is down is reported as RegistryUnavailable', async () => {
  await runPod('registry-down', { package: `${deadRegistry}/team/app:v1`, commands: { start: 'bin/app' } });
  assert.match(
    await refusedWith('registry-down', 'RegistryUnavailable'),
    new RegExp(deadRegistry.replace(/\./g, '\\.')),
  );
  await cleanUp('registry-down');
});

test('a hostile package is refused with the entry named, and nothing is written outside its directory', async () => {
  const archive = path.join(work, 'hostile.tar.gz');
  await writeFile(
    archive,
    rawTarGz([
      { name: 'bin/app', content: SLEEPER, mode: 0o755 },
      { name: 'link', type: '2', linkname: '../../../..' },
      { name: 'link/escaped', content: 'pwned' },
    ]),
  );
  const before = await readdir(agent.root);
  await runPod('hostile', { package: `file://${archive}`, commands: { start: 'bin/app' } });
  assert.match(await refusedWith('hostile', 'PackageRejected'), /link/);
  assert.deepEqual(await readdir(agent.root), before);
  assert.equal(existsSync(path.join(agent.root, 'pod', 'hostile', 'container', 'main')), false);
  assert.equal(existsSync(path.join(path.dirname(agent.root), 'escaped')), false);
  await cleanUp('hostile');
});

test('over its size limit the cache loses the packages no pod uses, and keeps those of running pods', async () => {
  // An agent of its own, whose 1-byte limit makes every package no pod uses garbage.
  const options = {
    nodeName: 'node-gc',
    root: path.join(work, 'gc-root'),
    kubeconfig: cluster.kubeconfig,
    args: ['--package-cache-limit', '1'],
  };
  let gcAgent = await startAgentProcess(options);
  try {
    const kept = await makePackage({ 'bin/app': SLEEPER });
    const dropped = await makePackage({ 'bin/app': SLEEPER, 'data.txt': 'only in this package\n' });
    const blob = (digest: string) => path.join(options.root, 'cache', 'blobs', 'sha256', digest.slice(7));
    for (const [name, pkg] of [
      ['gc-kept', kept],
      ['gc-dropped', dropped],
    ] as const) {
      await client.create(
        'SeerPod',
        seerPod(name, {
          node_name: 'node-gc',
          containers: [{ name: 'main', package: pkg.reference, commands: { start: 'bin/app' } }],
        }),
      );
      await eventually(`${name} running`, async () => (await pod(name))?.status?.phase === 'Running');
    }
    await client.delete('SeerPod', objectRef('gc-dropped', 'default'));
    await eventually('gc-dropped gone', async () => (await pod('gc-dropped')) === undefined);

    // Both were last used an hour ago, long past the grace period. A restarted agent collects soon
    // after it starts, and knows what the pod it adopts uses from the pod's record.
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const pkg of [kept, dropped]) await utimes(blob(pkg.digest), hourAgo, hourAgo);
    await gcAgent.stop();
    gcAgent = await startAgentProcess(options);
    await eventually('the unused package removed', () => !existsSync(blob(dropped.digest)));
    assert.equal(existsSync(blob(kept.digest)), true);
    await eventually('the removal logged', async () =>
      (await gcAgent.log())
        .split('\n')
        .some(
          (line) => line.includes('removed unused packages from the cache') && line.includes('"removed":1'),
        ),
    );

    await client.delete('SeerPod', objectRef('gc-kept', 'default'));
    await eventually('gc-kept gone', async () => (await pod('gc-kept')) === undefined);
  } finally {
    await gcAgent.cleanUp();
  }
});
