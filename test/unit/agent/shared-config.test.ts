import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { HostLayout } from '../../../agent/pods/layout.js';
import {
  removeSharedFiles,
  SharedFileConflictError,
  writeSharedFiles,
} from '../../../agent/pods/shared-config.js';
import type { SeerPod } from '../../../api/types.js';
import { seerPod } from '../../support/pods.js';

function withUid(pod: SeerPod, uid: string): SeerPod {
  pod.metadata.uid = uid;
  return pod;
}

test('dependents write into the sharing_dir; a taken name is refused; removal deletes only the owner’s files', async () => {
  const layout = new HostLayout(await mkdtemp(path.join(os.tmpdir(), 'seer-shared-')));
  const instance = seerPod('nginx-1', {
    containers: [
      { name: 'nginx', package: 'x', sharing_dir: 'conf.d' },
      { name: 'helper', package: 'y' },
    ],
  });
  const first = withUid(seerPod('site-a', { containers: [] }), 'uid-a');
  const second = withUid(seerPod('site-b', { containers: [] }), 'uid-b');
  const confDir = path.join(layout.root, 'pod', 'nginx-1', 'container', 'nginx', 'conf.d');

  const written = await writeSharedFiles(layout, first, instance, { 'a.conf': 'A', 'common.conf': 'from a' });
  assert.deepEqual(written.map((f) => path.basename(f.path)).sort(), ['a.conf', 'common.conf']);
  assert.ok(written.every((f) => f.container === 'nginx' && f.instance === 'nginx-1'));
  assert.equal(await readFile(path.join(confDir, 'a.conf'), 'utf8'), 'A');

  await assert.rejects(
    writeSharedFiles(layout, second, instance, { 'b.conf': 'B', 'common.conf': 'from b' }),
    (e: Error) =>
      e instanceof SharedFileConflictError && /common\.conf .*already written by pod site-a/.test(e.message),
  );
  assert.equal(
    existsSync(path.join(confDir, 'b.conf')),
    false,
    'nothing of the refused dependent is written',
  );
  assert.equal(await readFile(path.join(confDir, 'common.conf'), 'utf8'), 'from a');

  // Writing again is idempotent for the owner.
  await writeSharedFiles(layout, first, instance, { 'a.conf': 'A2', 'common.conf': 'from a' });
  assert.equal(await readFile(path.join(confDir, 'a.conf'), 'utf8'), 'A2');

  await removeSharedFiles(layout, 'uid-b', written);
  assert.equal(existsSync(path.join(confDir, 'a.conf')), true, 'not removed by another pod');
  await removeSharedFiles(layout, 'uid-a', written);
  assert.equal(existsSync(path.join(confDir, 'a.conf')), false);
  assert.equal(existsSync(path.join(confDir, 'common.conf')), false);
  await writeSharedFiles(layout, second, instance, { 'common.conf': 'from b' });
  assert.equal(await readFile(path.join(confDir, 'common.conf'), 'utf8'), 'from b');
});

test('a component without a sharing_dir cannot take config files', async () => {
  const layout = new HostLayout(await mkdtemp(path.join(os.tmpdir(), 'seer-shared-')));
  const instance = seerPod('fpm-1', { containers: [{ name: 'fpm', package: 'x' }] });
  await assert.rejects(
    writeSharedFiles(layout, withUid(seerPod('s', { containers: [] }), 'u'), instance, { 'x.conf': 'x' }),
    /no container with a sharing_dir/,
  );
});
