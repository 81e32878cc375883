import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PodExpectations } from '../../../../operator/deployments/expectations.js';

test('a reconcile waits until every creation and deletion it asked for has been seen', () => {
  const expectations = new PodExpectations(60_000);
  assert.equal(expectations.waitMs('default/web', 0), 0);
  expectations.expect('default/web', 'creation', 'a', 0);
  expectations.expect('default/web', 'deletion', 'b', 0);
  assert.equal(expectations.waitMs('default/web', 1000), 59_000);
  assert.equal(expectations.waitMs('default/api', 1000), 0, 'other deployments do not wait');
  expectations.observed('default/web', 'deletion', 'a');
  assert.ok(expectations.waitMs('default/web', 1000) > 0, 'a deletion of a is not its creation');
  expectations.observed('default/web', 'creation', 'a');
  assert.ok(expectations.waitMs('default/web', 1000) > 0);
  expectations.observed('default/web', 'deletion', 'b');
  assert.equal(expectations.waitMs('default/web', 1000), 0);
});

test('expectations never seen expire', () => {
  const expectations = new PodExpectations(5000);
  expectations.expect('default/web', 'creation', 'a', 0);
  assert.equal(expectations.waitMs('default/web', 4999), 1);
  assert.equal(expectations.waitMs('default/web', 5000), 0);
  expectations.observed('default/web', 'creation', 'a');
  assert.equal(expectations.waitMs('default/web', 5001), 0);
});

test('forgetting a deployment drops its expectations', () => {
  const expectations = new PodExpectations();
  expectations.expect('default/web', 'creation', 'a', 0);
  expectations.forget('default/web');
  assert.equal(expectations.waitMs('default/web', 1), 0);
});
