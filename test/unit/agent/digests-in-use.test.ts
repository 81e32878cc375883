import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { PackageCache } from '../../../packages/cache.js';
import { HostLayout } from '../../../agent/pods/layout.js';
import { PodManager } from '../../../agent/pods/pod-manager.js';
import { eventually } from '../../support/agent.js';
import { makePackage, seerPod, SLEEPER } from '../../support/pods.js';
import { MemoryPodStore } from './memory-pod-store.js';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'seer-digests-in-use-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('the digests in use are those of pods being deployed and the pins of the pods bound here', async () => {
  const layout = new HostLayout(root);
  const store = new MemoryPodStore();
  const pods = new PodManager({
    store,
    layout,
    packages: new PackageCache({ dir: layout.cacheDir, registries: { insecure: [], credentials: {} } }),
    nodeName: 'n1',
    logger: pino({ level: 'silent' }),
    componentPollMs: 50,
  });
  await pods.start();
  try {
    // Fetched and unpacked, then waiting for a component that never comes: still being deployed.
    const waiting = await makePackage({ 'bin/app': SLEEPER });
    const waitingPod = seerPod('waiting', {
      containers: [{ name: 'main', package: waiting.reference, commands: { start: 'bin/app' } }],
      required_components: [{ name: 'absent' }],
    });
    // Pinned to a package it cannot fetch: the pin still counts, as the pod will want it.
    const pin = `sha256:${'a'.repeat(64)}`;
    const pinnedPod = seerPod('pinned', {
      containers: [
        {
          name: 'main',
          package: `file://${root}/missing.tar.gz`,
          package_digest: pin,
          commands: { start: 'x' },
        },
      ],
    });
    store.put(waitingPod);
    store.put(pinnedPod);
    await eventually('the waiting pod fetched its package', () => pods.digestsInUse().has(waiting.digest));
    assert.deepEqual([...pods.digestsInUse()].sort(), [pin, waiting.digest].sort());

    store.remove(waitingPod);
    store.remove(pinnedPod);
    await eventually('nothing in use', () => pods.digestsInUse().size === 0);
  } finally {
    await pods.stop();
  }
});
