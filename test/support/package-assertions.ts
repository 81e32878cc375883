import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PackageError, type PackageErrorReason } from '../../packages/errors.js';

/** The promise rejects with a PackageError of this reason, its message matching. */
export async function assertFails(
  promise: Promise<unknown>,
  reason: PackageErrorReason,
  message: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof PackageError, `expected a PackageError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, message);
    return true;
  });
}

/** The cache holds no blob and no partial file: nothing unverified was kept. */
export async function assertCacheEmpty(dir: string): Promise<void> {
  assert.deepEqual(await readdir(path.join(dir, 'blobs', 'sha256')), []);
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
}
