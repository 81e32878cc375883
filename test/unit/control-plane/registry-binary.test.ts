/** Which registry program startRegistry() runs (the demo's and the tests'). */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findRegistryBinary } from '../../../cli/local-registry.js';

let dir: string;
let named: string;
let debian: string;
const absent = '/nonexistent/docker-registry';
const built = async () => '/cache/bin/registry-v3/registry';
const noBuild = async (): Promise<string> => assert.fail('built a registry although one was at hand');

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'seer-registry-binary-'));
  named = path.join(dir, 'my-registry');
  debian = path.join(dir, 'docker-registry');
  for (const file of [named, debian]) {
    await writeFile(file, '#!/bin/sh\n');
    await chmod(file, 0o755);
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('findRegistryBinary', () => {
  test('SEER_REGISTRY_BINARY first', async () => {
    assert.equal(
      await findRegistryBinary({ env: { SEER_REGISTRY_BINARY: named }, debian, build: noBuild }),
      named,
    );
  });

  test('a named registry that is not there is an error, not a fallback', async () => {
    await assert.rejects(
      findRegistryBinary({ env: { SEER_REGISTRY_BINARY: absent }, debian, build: noBuild }),
      /SEER_REGISTRY_BINARY=\/nonexistent\/docker-registry is not an executable file/,
    );
  });

  test("Debian's when installed, else the one built from the Go module proxy", async () => {
    assert.equal(await findRegistryBinary({ env: {}, debian, build: noBuild }), debian);
    assert.equal(await findRegistryBinary({ env: {}, debian: absent, build: built }), await built());
  });

  test('when none can be had, the error names both ways to get one and why the build failed', async () => {
    const failing = async (): Promise<string> => {
      throw new Error('build-control-plane.sh exited with 1: Go is not installed');
    };
    await assert.rejects(findRegistryBinary({ env: {}, debian: absent, build: failing }), (error: Error) => {
      assert.match(error.message, /apt-get install docker-registry/);
      assert.match(error.message, /Go module proxy \(scripts\/build-control-plane\.sh --registry-only/);
      assert.match(error.message, /Go is not installed/);
      return true;
    });
  });
});
