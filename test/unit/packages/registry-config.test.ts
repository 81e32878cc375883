import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  credentialsFor,
  isInsecureHost,
  loadRegistryCredentials,
  parseRegistryCredentials,
} from '../../../packages/registry-config.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('registry credentials from a docker config.json', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'seer-credentials-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('reads every kind of entry', async () => {
    const file = path.join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        auths: {
          '127.0.0.1:5000': { auth: b64('alice:pa:ss:word') },
          'https://index.docker.io/v1/': { username: 'bob', password: 'secret' },
          'ghcr.io': { identitytoken: 'id-token' },
          'quay.io': { registrytoken: 'reg-token' },
          'helper.example.com': {},
        },
        credsStore: 'desktop',
      }),
    );
    assert.deepEqual(await loadRegistryCredentials(file), {
      '127.0.0.1:5000': { username: 'alice', password: 'pa:ss:word' },
      'index.docker.io': { username: 'bob', password: 'secret' },
      'ghcr.io': { token: 'id-token' },
      'quay.io': { token: 'reg-token' },
    });
  });

  test('a file without auths has no credentials', () => {
    assert.deepEqual(parseRegistryCredentials('{}', 'x'), {});
  });

  test('a missing file says which file', async () => {
    await assert.rejects(
      loadRegistryCredentials(path.join(dir, 'nope.json')),
      /cannot read registry credentials .*nope\.json/,
    );
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{auths', /are not valid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['auths not an object', '{"auths": []}', /"auths" must be an object/],
    ['an entry not an object', '{"auths": {"r.io": "x"}}', /auths\["r\.io"\] must be an object/],
    [
      'auth not base64',
      '{"auths": {"r.io": {"auth": "%%%"}}}',
      /"auth" must be base64 of "username:password"/,
    ],
    ['auth without a colon', `{"auths": {"r.io": {"auth": "${b64('nocolon')}"}}}`, /"auth" must be base64/],
    ['auth with an empty user', `{"auths": {"r.io": {"auth": "${b64(':pw')}"}}}`, /"auth" must be base64/],
    [
      'a username without a password',
      '{"auths": {"r.io": {"username": "u"}}}',
      /"username" and "password" go together/,
    ],
    ['a number where a string goes', '{"auths": {"r.io": {"password": 5}}}', /"password" must be a string/],
    [
      'a key that names no host',
      '{"auths": {"https://": {"auth": "eDp5"}}}',
      /the key names no registry host/,
    ],
  ];
  for (const [what, text, message] of bad) {
    test(`refuses ${what}`, () => {
      assert.throws(() => parseRegistryCredentials(text, 'config.json'), message);
    });
  }
});

describe('registry settings lookups', () => {
  const config = {
    insecure: ['Registry.Local:5000'],
    credentials: { 'registry.local:5000': { token: 't' } },
  };
  test('hosts match exactly, ignoring case', () => {
    assert.equal(isInsecureHost(config, 'registry.local:5000'), true);
    assert.equal(isInsecureHost(config, 'registry.local'), false);
    assert.equal(isInsecureHost(config, 'registry.local:5001'), false);
    assert.deepEqual(credentialsFor(config, 'REGISTRY.local:5000'), { token: 't' });
    assert.equal(credentialsFor(config, 'registry.local'), undefined);
  });
});
