import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CertificateRequest, KeyPair } from '../../common/certificates.js';

/**
 * Issues a certificate in a worker thread: node-forge, which only this needs, is loaded there and
 * goes with the thread, so the agent's own memory stays as it was.
 */
function issueInWorker(request: CertificateRequest): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./issue-worker.js', import.meta.url), { workerData: request });
    worker.once('message', (pair: KeyPair) => resolve(pair));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the certificate worker exited with code ${code}`)));
  });
}

/** The endpoint's serving certificate chain and key (PEM), and the certificates clients should trust. */
export interface ServingCertificate {
  cert: string;
  key: string;
  /** Published in the SeerNode status: the self-signed certificate, or the given file's chain. */
  trust: string;
}

/** A self-signed certificate is reissued this long before it expires. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

function covers(cert: X509Certificate, dnsNames: string[], ipAddresses: string[]): boolean {
  const names = new Set((cert.subjectAltName ?? '').split(', '));
  return (
    dnsNames.every((name) => names.has(`DNS:${name}`)) &&
    ipAddresses.every((ip) => names.has(`IP Address:${ip}`)) &&
    new Date(cert.validTo).getTime() - Date.now() > RENEW_BEFORE_MS
  );
}

/**
 * The certificate the endpoint serves: the given files, or a self-signed one kept in `dir`
 * (serving.crt, serving.key) so clients that trust it keep trusting it across restarts. It is
 * reissued when it no longer names every address or is about to expire.
 */
export async function servingCertificate(options: {
  certFile?: string;
  keyFile?: string;
  dir: string;
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}): Promise<ServingCertificate> {
  if (options.certFile && options.keyFile) {
    const cert = await readFile(options.certFile, 'utf8');
    return { cert, key: await readFile(options.keyFile, 'utf8'), trust: cert };
  }
  const certFile = path.join(options.dir, 'serving.crt');
  const keyFile = path.join(options.dir, 'serving.key');
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    if (covers(new X509Certificate(cert), options.dnsNames, options.ipAddresses))
      return { cert, key, trust: cert };
  } catch {
    // missing or unreadable: issue a new one
  }
  const issued = await issueInWorker({
    commonName: options.commonName,
    usages: ['server'],
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses,
    validDays: 3650,
  });
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  await writeFile(`${keyFile}.tmp`, issued.key, { mode: 0o600 });
  await writeFile(`${certFile}.tmp`, issued.cert, { mode: 0o644 });
  await rename(`${keyFile}.tmp`, keyFile);
  await rename(`${certFile}.tmp`, certFile);
  return { ...issued, trust: issued.cert };
}
