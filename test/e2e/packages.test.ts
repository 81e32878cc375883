import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildPackage } from '../../packages/build.js';
import { PackageCache } from '../../packages/cache.js';
import type { RegistryConfig } from '../../packages/registry-config.js';
import { unpackPackage } from '../../packages/unpack.js';
import { createPackageCommand } from '../../cli/commands/package.js';
import { skipWithout } from '../support/host-tools.js';
import { startRegistry, type LocalRegistry } from '../support/registry.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import { captureOutput } from '../unit/packages/command-output.js';
import { assertFails } from '../support/package-assertions.js';

const run = promisify(execFile);

let scratch: string;
let source: string;
let caches = 0;

const METADATA = 'commands:\n  start: bin/server\nports:\n  - name: http\n    container_port: 8080\n';

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-e2e-packages-'));
  source = path.join(scratch, 'src');
  await mkdir(path.join(source, 'bin'), { recursive: true });
  await mkdir(path.join(source, 'data'));
  await writeFile(path.join(source, 'bin', 'server'), '#!/bin/sh\nexec sleep 1000\n');
  await chmod(path.join(source, 'bin', 'server'), 0o755);
  await writeFile(path.join(source, 'data', 'blob.bin'), randomBytes(2 * 1024 * 1024));
  await writeFile(path.join(source, 'seer-package.yaml'), METADATA);
  await symlink('bin/server', path.join(source, 'start'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function newCache(registries: RegistryConfig) {
  caches += 1;
  return new PackageCache({ dir: path.join(scratch, `cache-${caches}`), registries });
}

async function push(args: string[], isTTY = false) {
  const io = captureOutput(isTTY);
  await createPackageCommand(io.output).run(['push', source, ...args]);
  return io;
}

/** Pulls through a fresh cache, unpacks, and checks the result is the source directory. */
async function pullAndCheck(reference: string, registries: RegistryConfig, digest: string): Promise<void> {
  const cached = await newCache(registries).fetch(reference, { digest });
  assert.equal(cached.digest, digest);
  const destination = path.join(scratch, `unpacked-${caches}`, 'container');
  const metadata = await unpackPackage(cached.path, destination);
  assert.deepEqual(metadata, {
    commands: { start: 'bin/server' },
    ports: [{ name: 'http', container_port: 8080 }],
  });
  await run('diff', ['-r', '--no-dereference', source, destination]);
}

describe('packages through a real distribution registry, anonymous', () => {
  let registry: LocalRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry.stop();
  });

  test('seer package push, then PackageCache.fetch and unpackPackage', async () => {
    const reference = `${registry.host}/team/app:v1`;
    const io = await push([reference, '--insecure']);
    const digest = io.stdout.trim();
    assert.match(digest, /^sha256:[a-f0-9]{64}$/);
    assert.match(
      io.stderr,
      new RegExp(`^pushed ${reference} \\(2\\.1 MB, manifest sha256:[a-f0-9]{64}\\) in \\d+\\.\\d s\\n$`),
    );

    const built = captureOutput();
    await createPackageCommand(built.output).run(['build', source, '-o', path.join(scratch, 'app.tar.gz')]);
    assert.equal(built.stdout.trim(), digest, 'the pushed package is the reproducible build');

    await pullAndCheck(reference, { insecure: [registry.host], credentials: {} }, digest);
  });

  test('the registry stores the Seer artifact as pushed', async () => {
    const reference = `${registry.host}/team/artifact:v1`;
    const digest = (await push([reference, '--insecure'])).stdout.trim();
    const response = await fetch(`http://${registry.host}/v2/team/artifact/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
    const manifestDigest = response.headers.get('docker-content-digest') ?? '';
    const manifest = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(manifest, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.seer.package.v1',
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
        size: 2,
      },
      layers: [
        {
          mediaType: 'application/vnd.seer.package.layer.v1.tar+gzip',
          digest,
          size: (await buildPackage(source, path.join(scratch, 'artifact.tar.gz'))).size,
        },
      ],
    });
    const byDigest = await newCache({ insecure: [registry.host], credentials: {} }).fetch(
      `${registry.host}/team/artifact@${manifestDigest}`,
    );
    assert.equal(byDigest.digest, digest);
  });

  test('push shows progress on a terminal', async () => {
    const io = await push([`${registry.host}/team/progress:v1`, '--insecure'], true);
    // The line is redrawn in place: carriage return, then "erase to end of line".
    const screen = io.stderr.replaceAll('\r\u001b[K', '<redraw>');
    assert.match(
      screen,
      /<redraw>pushing 127\.0\.0\.1:\d+\/team\/progress:v1 {2}\d+\.\d MB \/ 2\.1 MB {2}\d+%/,
    );
    assert.match(screen, /2\.1 MB \/ 2\.1 MB {2}100%/);
    assert.match(
      screen,
      /<redraw>pushed 127\.0\.0\.1:\d+\/team\/progress:v1 \(2\.1 MB, manifest sha256:[a-f0-9]{64}\) in /,
    );
  });

  test('a missing tag or repository is PackageNotFound', async () => {
    const cache = newCache({ insecure: [registry.host], credentials: {} });
    await assertFails(cache.fetch(`${registry.host}/team/app:nope`), 'PackageNotFound', /MANIFEST_UNKNOWN/);
    await assertFails(
      cache.fetch(`${registry.host}/team/nothing:v1`),
      'PackageNotFound',
      /NAME_UNKNOWN|MANIFEST_UNKNOWN/,
    );
  });

  test('a package_digest pin that does not match is DigestMismatch', async () => {
    const cache = newCache({ insecure: [registry.host], credentials: {} });
    const pin = `sha256:${'e'.repeat(64)}`;
    await assertFails(
      cache.fetch(`${registry.host}/team/app:v1`, { digest: pin }),
      'DigestMismatch',
      new RegExp(`expected ${pin}, got sha256:`),
    );
  });

  test('a registry not listed as insecure is not spoken to over plain http', async () => {
    await assertFails(
      newCache({ insecure: [], credentials: {} }).fetch(`${registry.host}/team/app:v1`),
      'InsecureRegistry',
      /does not speak https/,
    );
    await assertFails(push([`${registry.host}/team/app:v2`]), 'InsecureRegistry', /does not speak https/);
  });
});

describe('a registry that is down', () => {
  test('is RegistryUnavailable for pull and push', async () => {
    const registry = await startRegistry();
    await registry.stop();
    await assertFails(
      newCache({ insecure: [registry.host], credentials: {} }).fetch(`${registry.host}/team/app:v1`),
      'RegistryUnavailable',
      /ECONNREFUSED/,
    );
    await assertFails(
      push([`${registry.host}/team/app:v1`, '--insecure']),
      'RegistryUnavailable',
      /ECONNREFUSED/,
    );
  });
});

describe('packages through a registry with basic auth (htpasswd)', { skip: skipWithout('htpasswd') }, () => {
  let registry: LocalRegistry;
  let credentialsFile: string;
  let wrongCredentialsFile: string;
  before(async () => {
    registry = await startRegistry({ htpasswd: { user: 'deployer', password: 's3cret' } });
    const config = (password: string) =>
      JSON.stringify({
        auths: { [registry.host]: { auth: Buffer.from(`deployer:${password}`).toString('base64') } },
      });
    credentialsFile = path.join(scratch, 'basic-config.json');
    wrongCredentialsFile = path.join(scratch, 'basic-wrong.json');
    await writeFile(credentialsFile, config('s3cret'));
    await writeFile(wrongCredentialsFile, config('wrong'));
  });
  after(async () => {
    await registry.stop();
  });

  test('push and pull with the credentials', async () => {
    const reference = `${registry.host}/team/app:v1`;
    const digest = (await push([reference, '--insecure', '--credentials', credentialsFile])).stdout.trim();
    const registries = {
      insecure: [registry.host],
      credentials: { [registry.host]: { username: 'deployer', password: 's3cret' } },
    };
    await pullAndCheck(reference, registries, digest);
  });

  test('a wrong password is Unauthorized, for pull and push', async () => {
    const registries = {
      insecure: [registry.host],
      credentials: { [registry.host]: { username: 'deployer', password: 'wrong' } },
    };
    await assertFails(
      newCache(registries).fetch(`${registry.host}/team/app:v1`),
      'Unauthorized',
      /refused the credentials configured/,
    );
    await assertFails(
      push([`${registry.host}/team/app:v2`, '--insecure', '--credentials', wrongCredentialsFile]),
      'Unauthorized',
      /refused the credentials configured/,
    );
  });

  test('no credentials is Unauthorized', async () => {
    await assertFails(
      newCache({ insecure: [registry.host], credentials: {} }).fetch(`${registry.host}/team/app:v1`),
      'Unauthorized',
      /asks for a username and password and none are configured/,
    );
  });
});

describe('packages through a registry with bearer-token auth', () => {
  let tokens: TokenServer;
  let registry: LocalRegistry;
  let credentialsFile: string;
  before(async () => {
    tokens = await startTokenServer({ user: 'robot', password: 'hunter2' });
    registry = await startRegistry({
      token: {
        realm: tokens.realm,
        service: tokens.service,
        issuer: tokens.issuer,
        rootCertBundle: tokens.certificate,
      },
    });
    credentialsFile = path.join(scratch, 'bearer-config.json');
    await writeFile(
      credentialsFile,
      JSON.stringify({ auths: { [registry.host]: { username: 'robot', password: 'hunter2' } } }),
    );
  });
  after(async () => {
    await registry.stop();
    await tokens.stop();
  });

  test('push and pull with tokens from the token server, one token per scope', async () => {
    const reference = `${registry.host}/team/app:v1`;
    const digest = (await push([reference, '--insecure', '--credentials', credentialsFile])).stdout.trim();
    assert.ok(tokens.requests.every((r) => r.user === 'robot'));
    assert.ok(tokens.requests.some((r) => r.scopes.includes('repository:team/app:pull,push')));

    const before = tokens.requests.length;
    const registries = {
      insecure: [registry.host],
      credentials: { [registry.host]: { username: 'robot', password: 'hunter2' } },
    };
    await pullAndCheck(reference, registries, digest);
    assert.equal(tokens.requests.length - before, 1, 'the manifest and the blob share one pull token');
    assert.deepEqual(tokens.requests.at(-1)?.scopes, ['repository:team/app:pull']);
  });

  test('anonymous is Unauthorized', async () => {
    await assertFails(
      newCache({ insecure: [registry.host], credentials: {} }).fetch(`${registry.host}/team/app:v1`),
      'Unauthorized',
      /requires credentials and none are configured/,
    );
  });

  test('a wrong password is Unauthorized by the token server', async () => {
    const registries = {
      insecure: [registry.host],
      credentials: { [registry.host]: { username: 'robot', password: 'nope' } },
    };
    await assertFails(
      newCache(registries).fetch(`${registry.host}/team/app:v1`),
      'Unauthorized',
      /token server .* refused the credentials/,
    );
  });
});
