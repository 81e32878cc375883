import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, hashOf } from '../../../common/hashing.js';

test('canonicalJson and hashOf do not depend on key order, at any depth', () => {
  const a = { spec: { b: 1, a: [{ y: 2, x: 1 }] }, metadata: { labels: { z: '1', a: '2' } } };
  const b = { metadata: { labels: { a: '2', z: '1' } }, spec: { a: [{ x: 1, y: 2 }], b: 1 } };
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.equal(hashOf(a, 10), hashOf(b, 10));
  assert.equal(hashOf(a, 10).length, 10);
});

test('canonicalJson keeps list order and tells different values apart', () => {
  assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  assert.notEqual(hashOf({ a: 1 }, 16), hashOf({ a: 2 }, 16));
  // Sorted already (as the API server writes objects): the same text JSON.stringify gives.
  const sorted = { a: { b: 1, c: [null, 'x'] }, d: true };
  assert.equal(canonicalJson(sorted), JSON.stringify(sorted));
});
