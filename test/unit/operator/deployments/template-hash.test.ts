import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PodTemplate } from '../../../../api/types.js';
import { podName } from '../../../../operator/deployments/pod-name.js';
import { sameTemplate, templateHash } from '../../../../workloads/template-hash.js';
import { template } from './fixtures.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

test('a template hash is 10 lowercase letters and digits, the same in every operator and version', () => {
  const hash = templateHash(template());
  assert.match(hash, /^[a-z0-9]{10}$/);
  assert.equal(templateHash(JSON.parse(JSON.stringify(template())) as PodTemplate), hash);
  // Pinned: if an upgrade changed how templates hash, every deployment would roll all of its pods.
  assert.equal(hash, 'xmws2v6mqm');
});

test('different templates hash differently', () => {
  const hashes = new Set(
    ['v1', 'v2', 'v3', 'v10', 'v11']
      .map((v) => templateHash(template(v)))
      .concat(
        templateHash({ ...template(), metadata: { labels: { app: 'web' }, annotations: { a: 'b' } } }),
        templateHash({ ...template(), metadata: { labels: { app: 'api' } } }),
      ),
  );
  assert.equal(hashes.size, 7);
});

test('key order and empty fields do not change the hash; list order does', () => {
  const a: PodTemplate = {
    metadata: { labels: { app: 'web', tier: 'front' } },
    spec: { containers: [{ name: 'web', package: 'p', env: [{ name: 'A', value: '1' }] }] },
  };
  const b: PodTemplate = {
    spec: {
      node_selector: {},
      containers: [{ env: [{ value: '1', name: 'A' }], package: 'p', name: 'web', ports: [] }],
    },
    metadata: { annotations: {}, labels: { tier: 'front', app: 'web' } },
  };
  assert.equal(templateHash(a), templateHash(b));
  assert.ok(sameTemplate(a, b));
  const reordered: PodTemplate = {
    ...a,
    spec: {
      containers: [
        {
          name: 'web',
          package: 'p',
          env: [
            { name: 'B', value: '2' },
            { name: 'A', value: '1' },
          ],
        },
      ],
    },
  };
  const original: PodTemplate = {
    ...a,
    spec: {
      containers: [
        {
          name: 'web',
          package: 'p',
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
        },
      ],
    },
  };
  assert.notEqual(templateHash(reordered), templateHash(original));
});

test('a collision count above zero changes the hash; zero is the plain hash', () => {
  assert.equal(templateHash(template(), 0), templateHash(template()));
  assert.notEqual(templateHash(template(), 1), templateHash(template()));
  assert.notEqual(templateHash(template(), 1), templateHash(template(), 2));
});

test('pod names are <deployment>-<hash>-<5 random letters or digits>, a DNS label within 63', () => {
  const hash = templateHash(template());
  const longest = 'd'.repeat(46);
  const names = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const name = podName(longest, hash);
    assert.match(name, new RegExp(`^${longest}-${hash}-[a-z0-9]{5}$`));
    assert.match(name, DNS_LABEL);
    assert.ok(name.length <= 63);
    names.add(name);
  }
  assert.ok(names.size > 45, 'suffixes are random');
});
