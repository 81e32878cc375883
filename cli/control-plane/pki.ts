import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { issueCertificate } from '../../common/certificates.js';

/** The files a local API server needs: a CA, its serving cert, an admin client cert, service-account keys. */
export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountPublicKey: string;
  serviceAccountPrivateKey: string;
}

/** Creates the whole PKI under `dir` (mode 0700). The admin user is in group system:masters. */
export async function createPki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await issueCertificate({ commonName: 'seer-local-ca', isCa: true });
  const [serving, admin] = await Promise.all([
    issueCertificate(
      {
        commonName: 'kube-apiserver',
        usages: ['server'],
        ipAddresses: ['127.0.0.1'],
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default'],
      },
      ca,
    ),
    issueCertificate({ commonName: 'seer-admin', organizations: ['system:masters'], usages: ['client'] }, ca),
  ]);
  const files = {
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    servingCert: path.join(dir, 'apiserver.crt'),
    servingKey: path.join(dir, 'apiserver.key'),
    adminCert: path.join(dir, 'admin.crt'),
    adminKey: path.join(dir, 'admin.key'),
  };
  for (const [certFile, keyFile, pair] of [
    [files.caCert, files.caKey, ca],
    [files.servingCert, files.servingKey, serving],
    [files.adminCert, files.adminKey, admin],
  ] as const) {
    await writeFile(certFile, pair.cert);
    await writeFile(keyFile, pair.key, { mode: 0o600 });
  }

  // Service-account tokens are signed with ES256, which is quick to generate.
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const saPub = path.join(dir, 'sa.pub');
  const saKey = path.join(dir, 'sa.key');
  await writeFile(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

  return {
    ...files,
    serviceAccountPublicKey: saPub,
    serviceAccountPrivateKey: saKey,
  };
}
