import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { PackageCache } from '../../../packages/cache.js';
import { PackageError } from '../../../packages/errors.js';
import type { RegistryConfig } from '../../../packages/registry-config.js';
import { assertRealmAllowed } from '../../../packages/transport.js';
import { startFakeRegistry, putPackage, type FakeAuth, type FakeRegistry } from './fake-registry.js';
import { closedPort } from './http-fixture.js';
import { rawTarGz } from './tar-fixtures.js';
import { assertFails, assertCacheEmpty } from '../../support/package-assertions.js';

const PACKAGE = rawTarGz([{ name: 'hello.txt', content: 'hello from the registry\n' }]);

let scratch: string;
let registry: FakeRegistry | undefined;
let cacheCount = 0;

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-oci-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});
afterEach(async () => {
  await registry?.close();
  registry = undefined;
});

async function start(auth?: FakeAuth): Promise<FakeRegistry> {
  registry = await startFakeRegistry(auth);
  return registry;
}

function newCache(registries: RegistryConfig, maxPackageBytes?: number) {
  cacheCount += 1;
  const dir = path.join(scratch, `cache-${cacheCount}`);
  return { dir, cache: new PackageCache({ dir, registries, maxPackageBytes }) };
}

function insecure(host: string, credentials: RegistryConfig['credentials'] = {}): RegistryConfig {
  return { insecure: [host], credentials };
}

describe('pulling from an OCI registry', () => {
  test('resolves a tag and downloads the package layer, verified', async () => {
    const fake = await start();
    const { layerDigest } = putPackage(fake, 'team/app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host));
    const cached = await cache.fetch(`${fake.host}/team/app:v1`);
    assert.equal(cached.digest, layerDigest);
    assert.equal(cached.size, PACKAGE.length);
    assert.ok((await readFile(cached.path)).equals(PACKAGE));
    const accept = fake.requests.find((r) => r.url.includes('/manifests/'))?.headers.accept ?? '';
    assert.match(accept, /application\/vnd\.oci\.image\.manifest\.v1\+json/);
    assert.match(accept, /application\/vnd\.oci\.image\.index\.v1\+json/);
  });

  test('a reference by manifest digest and a package_digest pin that match', async () => {
    const fake = await start();
    const { layerDigest, manifestDigest } = putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host));
    const cached = await cache.fetch(`${fake.host}/app@${manifestDigest}`, { digest: layerDigest });
    assert.equal(cached.digest, layerDigest);
  });

  test('a pinned package already in the cache needs no registry at all', async () => {
    const fake = await start();
    const { layerDigest } = putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host));
    await cache.fetch(`${fake.host}/app:v1`);
    const requests = fake.requests.length;
    await fake.close();
    const again = await cache.fetch(`${fake.host}/app:v1`, { digest: layerDigest });
    assert.equal(again.digest, layerDigest);
    assert.equal(fake.requests.length, requests);
  });

  test('an unpinned tag is resolved again but its cached blob is not downloaded again', async () => {
    const fake = await start();
    putPackage(fake, 'app', 'v1', PACKAGE);
    putPackage(fake, 'app', 'also-v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host));
    await cache.fetch(`${fake.host}/app:v1`);
    await cache.fetch(`${fake.host}/app:also-v1`);
    assert.equal(fake.requests.filter((r) => r.url.includes('/blobs/')).length, 1);
    assert.equal(fake.requests.filter((r) => r.url.includes('/manifests/')).length, 2);
  });

  test('a blob whose content does not match its digest is refused and not kept', async () => {
    const fake = await start();
    const { layerDigest } = putPackage(fake, 'app', 'v1', PACKAGE);
    const tampered = Buffer.from(PACKAGE);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 0xff, tampered.length - 1);
    fake.serveInstead(layerDigest, tampered);
    const { cache, dir } = newCache(insecure(fake.host));
    await assertFails(
      cache.fetch(`${fake.host}/app:v1`),
      'DigestMismatch',
      new RegExp(`expected ${layerDigest}, got sha256:`),
    );
    await assertCacheEmpty(dir);
  });

  test('a blob longer than its descriptor says is refused', async () => {
    const fake = await start();
    const { layerDigest } = putPackage(fake, 'app', 'v1', PACKAGE);
    fake.serveInstead(layerDigest, Buffer.concat([PACKAGE, Buffer.from('more')]));
    const { cache, dir } = newCache(insecure(fake.host));
    await assertFails(
      cache.fetch(`${fake.host}/app:v1`),
      'DigestMismatch',
      /more than the \d+ bytes the manifest announced/,
    );
    await assertCacheEmpty(dir);
  });

  test('a manifest that does not match the digest it was asked for is refused', async () => {
    const fake = await start();
    const { manifestDigest } = putPackage(fake, 'app', 'v1', PACKAGE);
    fake.serveInstead(manifestDigest, Buffer.from('{"schemaVersion":2,"layers":[]}'));
    const { cache } = newCache(insecure(fake.host));
    await assertFails(
      cache.fetch(`${fake.host}/app@${manifestDigest}`),
      'DigestMismatch',
      new RegExp(`manifest whose digest is sha256:[a-f0-9]{64}, expected ${manifestDigest}`),
    );
  });

  test('a package_digest pin that differs from the layer fails before downloading', async () => {
    const fake = await start();
    const { layerDigest } = putPackage(fake, 'app', 'v1', PACKAGE);
    const pin = `sha256:${'0'.repeat(64)}`;
    const { cache } = newCache(insecure(fake.host));
    await assertFails(
      cache.fetch(`${fake.host}/app:v1`, { digest: pin }),
      'DigestMismatch',
      new RegExp(`expected ${pin}, got ${layerDigest}`),
    );
    assert.equal(fake.requests.filter((r) => r.url.includes('/blobs/')).length, 0);
  });

  test('a missing tag, repository or blob is PackageNotFound', async () => {
    const fake = await start();
    const { layerDigest } = putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host));
    await assertFails(
      cache.fetch(`${fake.host}/app:v2`),
      'PackageNotFound',
      /app:v2: manifest: not found \(HTTP 404\): MANIFEST_UNKNOWN/,
    );
    await assertFails(cache.fetch(`${fake.host}/other:v1`), 'PackageNotFound', /not found/);
    putPackage(fake, 'lost', 'v1', Buffer.from('a layer the registry lost'));
    fake.putManifest('lost', 'v1', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: layerDigest, size: 2 },
      layers: [
        {
          mediaType: 'application/vnd.seer.package.layer.v1.tar+gzip',
          digest: `sha256:${'1'.repeat(64)}`,
          size: 5,
        },
      ],
    });
    await assertFails(
      cache.fetch(`${fake.host}/lost:v1`),
      'PackageNotFound',
      /blob: not found \(HTTP 404\): BLOB_UNKNOWN/,
    );
  });

  test('a registry that is down is RegistryUnavailable', async () => {
    const host = `127.0.0.1:${await closedPort()}`;
    const { cache } = newCache(insecure(host));
    await assertFails(
      cache.fetch(`${host}/app:v1`),
      'RegistryUnavailable',
      /cannot reach the server \(ECONNREFUSED/,
    );
  });

  test('a registry answering 503 is RegistryUnavailable', async () => {
    const fake = await start();
    fake.failWith(503);
    const { cache } = newCache(insecure(fake.host));
    await assertFails(cache.fetch(`${fake.host}/app:v1`), 'RegistryUnavailable', /HTTP 503/);
  });

  test('plain http is refused unless the registry is listed as insecure', async () => {
    const fake = await start();
    putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache({ insecure: [], credentials: {} });
    await assertFails(
      cache.fetch(`${fake.host}/app:v1`),
      'InsecureRegistry',
      /does not speak https \(plain http\?\); Seer uses plain http only for registries listed as insecure/,
    );
    assert.equal(fake.requests.length, 0, 'no request went out over plain http');
  });

  test('packages larger than the cache accepts are refused before downloading', async () => {
    const fake = await start();
    putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host), 100);
    await assertFails(
      cache.fetch(`${fake.host}/app:v1`),
      'PackageTooLarge',
      /more than the 100 bytes this agent accepts/,
    );
    assert.equal(fake.requests.filter((r) => r.url.includes('/blobs/')).length, 0);
  });

  const notPackages: [string, Record<string, unknown>, RegExp][] = [
    ['two layers', { layers: [{}, {}] }, /exactly one layer, this manifest has 2/],
    ['no layers', { layers: [] }, /exactly one layer, this manifest has 0/],
    [
      'another artifact type',
      { artifactType: 'application/vnd.cncf.helm.chart' },
      /artifact type application\/vnd\.cncf\.helm\.chart is not a Seer package/,
    ],
    [
      'a layer of another media type',
      { layers: [{ mediaType: 'application/zip', digest: `sha256:${'2'.repeat(64)}`, size: 1 }] },
      /layer media type application\/zip is not a gzip'd tar package/,
    ],
    [
      'a bad layer digest',
      {
        layers: [{ mediaType: 'application/vnd.seer.package.layer.v1.tar+gzip', digest: 'md5:abc', size: 1 }],
      },
      /layer digest md5:abc is not a sha256 digest/,
    ],
    [
      'a bad layer size',
      {
        layers: [
          {
            mediaType: 'application/vnd.seer.package.layer.v1.tar+gzip',
            digest: `sha256:${'2'.repeat(64)}`,
            size: -1,
          },
        ],
      },
      /layer size -1 is not a byte count/,
    ],
    ['schemaVersion 1', { schemaVersion: 1 }, /unsupported manifest schemaVersion 1/],
  ];
  for (const [what, overrides, message] of notPackages) {
    test(`refuses a manifest with ${what}`, async () => {
      const fake = await start();
      putPackage(fake, 'app', 'v1', PACKAGE, overrides);
      const { cache } = newCache(insecure(fake.host));
      await assertFails(cache.fetch(`${fake.host}/app:v1`), 'PackageRejected', message);
    });
  }

  test('refuses a manifest that is not JSON, or of a media type that is not a manifest', async () => {
    const fake = await start();
    fake.putManifest('app', 'v1', Buffer.from('not json'));
    fake.putManifest('app', 'docker', {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    });
    const { cache } = newCache(insecure(fake.host));
    await assertFails(
      cache.fetch(`${fake.host}/app:v1`),
      'PackageRejected',
      /the manifest is not valid JSON/,
    );
    await assertFails(
      cache.fetch(`${fake.host}/app:docker`),
      'PackageRejected',
      /not a Seer package \(manifest media type application\/vnd\.docker/,
    );
  });

  test('follows an index to the manifest marked as the Seer package', async () => {
    const fake = await start();
    const { layerDigest, manifestDigest } = putPackage(fake, 'app', 'inner', PACKAGE);
    const otherDigest = putPackage(fake, 'app', 'other', Buffer.from('something else')).manifestDigest;
    const manifest = (digest: string, artifactType?: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: 1,
      ...(artifactType ? { artifactType } : {}),
    });
    fake.putManifest(
      'app',
      'v1',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [manifest(otherDigest), manifest(manifestDigest, 'application/vnd.seer.package.v1')],
      },
      'application/vnd.oci.image.index.v1+json',
    );
    fake.putManifest(
      'app',
      'ambiguous',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [manifest(otherDigest), manifest(manifestDigest)],
      },
      'application/vnd.oci.image.index.v1+json',
    );
    const { cache } = newCache(insecure(fake.host));
    assert.equal((await cache.fetch(`${fake.host}/app:v1`)).digest, layerDigest);
    await assertFails(
      cache.fetch(`${fake.host}/app:ambiguous`),
      'PackageRejected',
      /index of 2 manifests and none is marked/,
    );
  });
});

describe('registry authentication', () => {
  test('Basic: sends the configured credentials after the challenge', async () => {
    const fake = await start({ scheme: 'basic', user: 'alice', password: 'secret' });
    putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(
      insecure(fake.host, { [fake.host]: { username: 'alice', password: 'secret' } }),
    );
    await cache.fetch(`${fake.host}/app:v1`);
    const [first, second, third] = fake.requests;
    assert.equal(first?.headers.authorization, undefined);
    assert.equal(second?.headers.authorization, `Basic ${Buffer.from('alice:secret').toString('base64')}`);
    assert.match(third?.url ?? '', /\/blobs\//);
    assert.ok(
      third?.headers.authorization,
      'the blob request reuses the credentials without a new challenge',
    );
    assert.equal(fake.requests.length, 3);
  });

  test('Basic: a wrong password or no credentials is Unauthorized', async () => {
    const fake = await start({ scheme: 'basic', user: 'alice', password: 'secret' });
    putPackage(fake, 'app', 'v1', PACKAGE);
    const wrong = newCache(
      insecure(fake.host, { [fake.host]: { username: 'alice', password: 'wrong' } }),
    ).cache;
    await assertFails(
      wrong.fetch(`${fake.host}/app:v1`),
      'Unauthorized',
      /refused the credentials configured for 127\.0\.0\.1/,
    );
    const none = newCache(insecure(fake.host)).cache;
    await assertFails(
      none.fetch(`${fake.host}/app:v1`),
      'Unauthorized',
      /asks for a username and password and none are configured/,
    );
  });

  test('Bearer: fetches a token with the credentials and caches it per scope', async () => {
    const fake = await start({ scheme: 'bearer', user: 'bob', password: 'pw' });
    putPackage(fake, 'app', 'v1', PACKAGE);
    putPackage(fake, 'app', 'v2', Buffer.from('v2'));
    putPackage(fake, 'other', 'v1', Buffer.from('other'));
    const { cache } = newCache(insecure(fake.host, { [fake.host]: { username: 'bob', password: 'pw' } }));
    await cache.fetch(`${fake.host}/app:v1`);
    await cache.fetch(`${fake.host}/app:v2`);
    assert.equal(fake.tokenRequests.length, 1, 'one token for every request on repository app');
    assert.equal(fake.tokenRequests[0]?.get('service'), 'fake-registry');
    assert.deepEqual(fake.tokenRequests[0]?.getAll('scope'), ['repository:app:pull']);
    await cache.fetch(`${fake.host}/other:v1`);
    assert.equal(fake.tokenRequests.length, 2, 'another repository is another scope');
  });

  test('Bearer: anonymous tokens when no credentials are configured', async () => {
    const fake = await start({ scheme: 'bearer' });
    putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host));
    await cache.fetch(`${fake.host}/app:v1`);
    const tokenRequest = fake.requests.find((r) => r.url.startsWith('/token'));
    assert.equal(tokenRequest?.headers.authorization, undefined);
  });

  test('Bearer: a token server that refuses the credentials is Unauthorized', async () => {
    const fake = await start({ scheme: 'bearer', user: 'bob', password: 'pw' });
    putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host, { [fake.host]: { username: 'bob', password: 'nope' } }));
    await assertFails(
      cache.fetch(`${fake.host}/app:v1`),
      'Unauthorized',
      /token server http:\/\/127\.0\.0\.1:\d+ refused the credentials configured/,
    );
  });

  test('Bearer: a realm over plain http only behind a registry that is itself insecure', () => {
    const realm = new URL('http://auth.example.com/token');
    const config = { insecure: ['registry.local:5000'], credentials: {} };
    assert.doesNotThrow(() => assertRealmAllowed(config, 'registry.local:5000', realm));
    assert.throws(
      () => assertRealmAllowed(config, 'registry.example.com', realm),
      (error: unknown) => error instanceof PackageError && error.reason === 'InsecureRegistry',
    );
    assert.doesNotThrow(() =>
      assertRealmAllowed({ insecure: ['auth.example.com'], credentials: {} }, 'registry.example.com', realm),
    );
    assert.doesNotThrow(() =>
      assertRealmAllowed(config, 'registry.example.com', new URL('https://auth.example.com/t')),
    );
  });

  test('a configured token is sent as it is', async () => {
    const fake = await start({ scheme: 'static-bearer', token: 'registry-token' });
    putPackage(fake, 'app', 'v1', PACKAGE);
    const { cache } = newCache(insecure(fake.host, { [fake.host]: { token: 'registry-token' } }));
    await cache.fetch(`${fake.host}/app:v1`);
    assert.equal(fake.tokenRequests.length, 0);
  });
});
