import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { servingCertificate } from '../../../agent/endpoint/serving-certificate.js';
import { issueCertificate } from '../../../common/certificates.js';

test('given files are served as they are, and their certificates published', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-serving-'));
  const pair = await issueCertificate({ commonName: 'given', usages: ['server'], ipAddresses: ['10.0.0.1'] });
  await writeFile(path.join(dir, 'tls.crt'), pair.cert);
  await writeFile(path.join(dir, 'tls.key'), pair.key);
  const served = await servingCertificate({
    certFile: path.join(dir, 'tls.crt'),
    keyFile: path.join(dir, 'tls.key'),
    dir: path.join(dir, 'endpoint'),
    commonName: 'ignored',
    dnsNames: ['h'],
    ipAddresses: ['127.0.0.1'],
  });
  assert.deepEqual(served, { cert: pair.cert, key: pair.key, trust: pair.cert });
  await assert.rejects(stat(path.join(dir, 'endpoint')), 'nothing issued');
});

test('a self-signed certificate is kept, and reissued once it no longer names every address', async () => {
  const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'seer-serving-')), 'endpoint');
  const options = { dir, commonName: 'seer-node-h', dnsNames: ['h'], ipAddresses: ['127.0.0.1'] };
  const first = await servingCertificate(options);
  const names = new X509Certificate(first.cert).subjectAltName ?? '';
  assert.match(names, /DNS:h/);
  assert.match(names, /IP Address:127\.0\.0\.1/);
  assert.equal(first.trust, first.cert);
  assert.equal((await stat(path.join(dir, 'serving.key'))).mode & 0o777, 0o600);
  assert.equal(await readFile(path.join(dir, 'serving.crt'), 'utf8'), first.cert);
  assert.deepEqual(await servingCertificate(options), first, 'kept across restarts');
  const moved = await servingCertificate({ ...options, ipAddresses: ['127.0.0.1', '10.1.2.3'] });
  assert.notEqual(moved.cert, first.cert);
  assert.match(new X509Certificate(moved.cert).subjectAltName ?? '', /IP Address:10\.1\.2\.3/);
});
