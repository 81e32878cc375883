import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PackageCache } from '../../../packages/cache.js';
import type { RegistryConfig } from '../../../packages/registry-config.js';
import { closedPort, startHttpServer, type TestServer } from './http-fixture.js';
import { rawTarGz } from './tar-fixtures.js';
import { assertFails, assertCacheEmpty } from '../../support/package-assertions.js';

// Random content: it does not compress, so the package is large enough to be cut off or over a limit.
const PACKAGE = rawTarGz([{ name: 'app.bin', content: randomBytes(200_000) }]);
const DIGEST = `sha256:${createHash('sha256').update(PACKAGE).digest('hex')}`;
const OTHER_DIGEST = `sha256:${'0'.repeat(64)}`;

let scratch: string;
let server: TestServer | undefined;
let caches = 0;

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-cache-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(handler: http.RequestListener): Promise<TestServer> {
  server = await startHttpServer(handler);
  return server;
}

/** Serves PACKAGE at /package.tar.gz after `delayMs`, in two halves, so concurrent fetches overlap. */
function packageHandler(delayMs = 0): http.RequestListener {
  return (request, response) => {
    if (request.url !== '/package.tar.gz') {
      response.writeHead(404).end('no such package');
      return;
    }
    setTimeout(() => {
      response.writeHead(200, { 'content-type': 'application/gzip', 'content-length': PACKAGE.length });
      const half = Math.floor(PACKAGE.length / 2);
      response.write(PACKAGE.subarray(0, half));
      setTimeout(() => response.end(PACKAGE.subarray(half)), delayMs);
    }, delayMs);
  };
}

function newCache(registries: Partial<RegistryConfig> = {}, maxPackageBytes?: number) {
  caches += 1;
  const dir = path.join(scratch, `cache-${caches}`);
  const cache = new PackageCache({
    dir,
    registries: { insecure: registries.insecure ?? [], credentials: registries.credentials ?? {} },
    maxPackageBytes,
  });
  return { dir, cache };
}

describe('PackageCache over http', () => {
  test('downloads into blobs/sha256/<hex>, computing the digest when none is given', async () => {
    const web = await serve(packageHandler());
    const { cache, dir } = newCache({ insecure: [web.host] });
    const cached = await cache.fetch(web.url('/package.tar.gz'));
    assert.deepEqual(cached, {
      digest: DIGEST,
      path: path.join(dir, 'blobs', 'sha256', DIGEST.slice(7)),
      size: PACKAGE.length,
    });
    assert.ok((await readFile(cached.path)).equals(PACKAGE));
    assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  });

  test('10 concurrent fetches of one URL make one request', async () => {
    const web = await serve(packageHandler(50));
    const { cache } = newCache({ insecure: [web.host] });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => cache.fetch(web.url('/package.tar.gz'))),
    );
    assert.equal(web.requests.length, 1);
    for (const result of results) assert.equal(result.digest, DIGEST);
  });

  test('10 concurrent fetches of one digest make one request, even under different URLs', async () => {
    const web = await serve((request, response) => {
      request.url = '/package.tar.gz';
      packageHandler(50)(request, response);
    });
    const { cache } = newCache({ insecure: [web.host] });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        cache.fetch(web.url(`/mirror-${i}/package.tar.gz`), { digest: DIGEST }),
      ),
    );
    assert.equal(web.requests.length, 1);
    for (const result of results) assert.equal(result.digest, DIGEST);
  });

  test('a pinned package in the cache is served without a request', async () => {
    const web = await serve(packageHandler());
    const { cache } = newCache({ insecure: [web.host] });
    await cache.fetch(web.url('/package.tar.gz'), { digest: DIGEST });
    await cache.fetch(web.url('/package.tar.gz'), { digest: DIGEST });
    assert.equal(web.requests.length, 1);
  });

  test('a digest mismatch fails, saying expected and actual, and keeps nothing', async () => {
    const web = await serve(packageHandler());
    const { cache, dir } = newCache({ insecure: [web.host] });
    await assertFails(
      cache.fetch(web.url('/package.tar.gz'), { digest: OTHER_DIGEST }),
      'DigestMismatch',
      new RegExp(`digest mismatch: expected ${OTHER_DIGEST}, got ${DIGEST}`),
    );
    await assertCacheEmpty(dir);
  });

  test('404 is PackageNotFound', async () => {
    const web = await serve(packageHandler());
    const { cache, dir } = newCache({ insecure: [web.host] });
    await assertFails(
      cache.fetch(web.url('/missing.tar.gz')),
      'PackageNotFound',
      /missing\.tar\.gz: not found \(HTTP 404\): no such package/,
    );
    await assertCacheEmpty(dir);
  });

  test('401 and 403 are Unauthorized, 500 is RegistryUnavailable', async () => {
    const statuses = new Map([
      ['/401', 401],
      ['/403', 403],
      ['/500', 500],
    ]);
    const web = await serve((request, response) =>
      response.writeHead(statuses.get(request.url ?? '') ?? 404).end(),
    );
    const { cache } = newCache({ insecure: [web.host] });
    await assertFails(cache.fetch(web.url('/401')), 'Unauthorized', /authentication required \(HTTP 401\)/);
    await assertFails(cache.fetch(web.url('/403')), 'Unauthorized', /access denied \(HTTP 403\)/);
    await assertFails(cache.fetch(web.url('/500')), 'RegistryUnavailable', /server error \(HTTP 500\)/);
  });

  test('sends configured credentials for the host', async () => {
    const web = await serve((request, response) => {
      if (request.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
        response.writeHead(401).end();
        return;
      }
      packageHandler()(request, response);
    });
    const { cache } = newCache({
      insecure: [web.host],
      credentials: { [web.host]: { username: 'u', password: 'p' } },
    });
    assert.equal((await cache.fetch(web.url('/package.tar.gz'))).digest, DIGEST);
  });

  test('a server that is down is RegistryUnavailable', async () => {
    const host = `127.0.0.1:${await closedPort()}`;
    const { cache, dir } = newCache({ insecure: [host] });
    await assertFails(cache.fetch(`http://${host}/package.tar.gz`), 'RegistryUnavailable', /ECONNREFUSED/);
    await assertCacheEmpty(dir);
  });

  test('plain http to a host not listed as insecure is refused without a request', async () => {
    const web = await serve(packageHandler());
    const { cache } = newCache();
    await assertFails(
      cache.fetch(web.url('/package.tar.gz')),
      'InsecureRegistry',
      new RegExp(
        `plain http to ${web.host} is refused; list "${web.host}" among the agent's insecure registries`,
      ),
    );
    assert.equal(web.requests.length, 0);
  });

  test('a redirect may not lead to plain http on a host not listed as insecure', async () => {
    const target = await startHttpServer(packageHandler());
    try {
      const web = await serve((_request, response) => {
        response.writeHead(302, { location: target.url('/package.tar.gz') }).end();
      });
      const { cache } = newCache({ insecure: [web.host] });
      await assertFails(
        cache.fetch(web.url('/redirect')),
        'InsecureRegistry',
        /plain http to 127\.0\.0\.1:\d+ is refused/,
      );
      assert.equal(target.requests.length, 0);
    } finally {
      await target.close();
    }
  });

  test('a package larger than the limit is refused, announced or not', async () => {
    const web = await serve((request, response) => {
      response.writeHead(200, request.url === '/announced' ? { 'content-length': PACKAGE.length } : {});
      response.end(PACKAGE);
    });
    const { cache, dir } = newCache({ insecure: [web.host] }, 1000);
    await assertFails(
      cache.fetch(web.url('/announced')),
      'PackageTooLarge',
      /is \d+ bytes, more than the 1000 bytes/,
    );
    await assertFails(cache.fetch(web.url('/chunked')), 'PackageTooLarge', /larger than 1000 bytes/);
    await assertCacheEmpty(dir);
  });

  test('stores the bytes as sent, even with a Content-Encoding', async () => {
    const web = await serve((_request, response) => {
      response.writeHead(200, { 'content-encoding': 'gzip' });
      response.end(PACKAGE);
    });
    const { cache } = newCache({ insecure: [web.host] });
    assert.equal((await cache.fetch(web.url('/p.tar.gz'))).digest, DIGEST);
  });

  test('a download cut off midway keeps nothing, and the next fetch starts afresh', async () => {
    let cutOff = true;
    const web = await serve((request, response) => {
      if (!cutOff) {
        packageHandler()(request, response);
        return;
      }
      response.writeHead(200, { 'content-length': PACKAGE.length });
      response.write(PACKAGE.subarray(0, 1000), () => response.destroy());
    });
    const { cache, dir } = newCache({ insecure: [web.host] });
    await assertFails(
      cache.fetch(web.url('/package.tar.gz'), { digest: DIGEST }),
      'RegistryUnavailable',
      /package\.tar\.gz/,
    );
    await assertCacheEmpty(dir);
    cutOff = false;
    assert.equal((await cache.fetch(web.url('/package.tar.gz'), { digest: DIGEST })).digest, DIGEST);
  });

  test('a partial file a crashed agent left behind is never served, and is removed', async () => {
    const web = await serve(packageHandler());
    const { cache, dir } = newCache({ insecure: [web.host] });
    // What a crash mid-download leaves: a partial file from a process that is gone.
    await mkdir(path.join(dir, 'tmp'), { recursive: true });
    const leftover = path.join(dir, 'tmp', '2147483646-0123456789abcdef.partial');
    await writeFile(leftover, PACKAGE.subarray(0, 100));
    const cached = await cache.fetch(web.url('/package.tar.gz'), { digest: DIGEST });
    assert.equal(web.requests.length, 1, 'the package was downloaded, not taken from the partial file');
    assert.ok((await readFile(cached.path)).equals(PACKAGE));
    assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  });

  test('a caller that aborts stops waiting while the others still get the package', async () => {
    const web = await serve(packageHandler(100));
    const { cache } = newCache({ insecure: [web.host] });
    const controller = new AbortController();
    const abandoned = cache.fetch(web.url('/package.tar.gz'), { signal: controller.signal });
    const kept = cache.fetch(web.url('/package.tar.gz'));
    setTimeout(() => controller.abort(), 20);
    await assertFails(abandoned, 'Aborted', /the fetch was aborted/);
    assert.equal((await kept).digest, DIGEST);
    assert.equal(web.requests.length, 1);
  });

  test('when the only caller aborts, the download stops and keeps nothing', async () => {
    let closed = false;
    const web = await serve((request, response) => {
      response.on('close', () => {
        closed = true;
      });
      response.writeHead(200, { 'content-length': PACKAGE.length });
      response.write(PACKAGE.subarray(0, 1000));
    });
    const { cache, dir } = newCache({ insecure: [web.host] });
    const controller = new AbortController();
    const fetching = cache.fetch(web.url('/package.tar.gz'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assertFails(fetching, 'Aborted', /aborted/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(closed, 'the connection was closed');
    await assertCacheEmpty(dir);
  });
});

describe('PackageCache over file://', () => {
  test('copies the file into the cache, verified', async () => {
    const file = path.join(scratch, 'local.tar.gz');
    await writeFile(file, PACKAGE);
    const { cache, dir } = newCache();
    const cached = await cache.fetch(`file://${file}`, { digest: DIGEST });
    assert.equal(cached.path, path.join(dir, 'blobs', 'sha256', DIGEST.slice(7)));
    assert.ok((await readFile(cached.path)).equals(PACKAGE));
    await rm(file);
    assert.equal(
      (await cache.fetch(`file://${file}`, { digest: DIGEST })).digest,
      DIGEST,
      'pinned: served from the cache',
    );
  });

  test('a missing file is PackageNotFound, a directory is PackageRejected', async () => {
    const { cache } = newCache();
    await assertFails(
      cache.fetch(`file://${scratch}/nope.tar.gz`),
      'PackageNotFound',
      /cannot read .*nope\.tar\.gz \(ENOENT\)/,
    );
    await mkdir(path.join(scratch, 'dir.tar.gz'));
    await assertFails(cache.fetch(`file://${scratch}/dir.tar.gz`), 'PackageRejected', /not a regular file/);
  });

  test('a digest mismatch keeps nothing', async () => {
    const file = path.join(scratch, 'mismatch.tar.gz');
    await writeFile(file, gzipSync('other'));
    const { cache, dir } = newCache();
    await assertFails(
      cache.fetch(`file://${file}`, { digest: DIGEST }),
      'DigestMismatch',
      new RegExp(`expected ${DIGEST}`),
    );
    await assertCacheEmpty(dir);
  });
});

describe('PackageCache refuses bad input', () => {
  test('an invalid reference or pin is InvalidReference', async () => {
    const { cache } = newCache();
    await assertFails(cache.fetch('nginx:latest'), 'InvalidReference', /no registry host/);
    await assertFails(
      cache.fetch('file:///x.tar.gz', { digest: 'sha256:123' }),
      'InvalidReference',
      /is not sha256: followed by 64/,
    );
  });
});
