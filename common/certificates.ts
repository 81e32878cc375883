import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateRsaKeyPair = promisify(generateKeyPair);

/** A PEM certificate and its PEM private key (PKCS#8). */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface CertificateRequest {
  /** The subject's common name. */
  commonName: string;
  /** Subject organizations: Kubernetes reads them as the user's groups. */
  organizations?: string[];
  /** A CA certificate (may sign others) instead of a leaf. */
  isCa?: boolean;
  /** Extended key usages of a leaf; both when omitted. */
  usages?: ('server' | 'client')[];
  dnsNames?: string[];
  ipAddresses?: string[];
  validDays?: number;
}

/**
 * Issues an X.509 certificate with a fresh RSA key, signed by `issuer` (self-signed without one).
 * Node's crypto makes the key, which is fast; node-forge builds and signs the certificate, which
 * Node's crypto cannot, so no openssl program is needed on the host.
 */
export async function issueCertificate(request: CertificateRequest, issuer?: KeyPair): Promise<KeyPair> {
  // Off the main thread, so several keys are made in parallel.
  const { publicKey, privateKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  // A positive 16-byte serial: the top bit clear keeps the DER integer positive.
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  cert.serialNumber = serial.toString('hex');
  const now = Date.now();
  // A minute back, so a host whose clock trails a little still accepts it.
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + (request.validDays ?? 3650) * 86_400_000);
  const subject = [
    ...(request.organizations ?? []).map((value) => ({ shortName: 'O', value })),
    { shortName: 'CN', value: request.commonName },
  ];
  cert.setSubject(subject);
  const issuerCert = issuer ? forge.pki.certificateFromPem(issuer.cert) : undefined;
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject);

  const extensions: object[] = [];
  if (request.isCa) {
    extensions.push(
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    );
  } else {
    const usages = request.usages ?? ['server', 'client'];
    extensions.push(
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: usages.includes('server'), clientAuth: usages.includes('client') },
    );
  }
  const altNames = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(request.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  extensions.push({ name: 'subjectKeyIdentifier' });
  if (issuerCert) extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: issuerKeyId(issuerCert) });
  cert.setExtensions(extensions);

  const signingKey = forge.pki.privateKeyFromPem(issuer ? issuer.key : keyPem);
  cert.sign(signingKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

function issuerKeyId(cert: forge.pki.Certificate): string {
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  // forge keeps it as hex; authorityKeyIdentifier wants the raw bytes.
  return ski?.subjectKeyIdentifier
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : forge.pki.getPublicKeyFingerprint(cert.publicKey, { type: 'SubjectPublicKeyInfo' }).getBytes();
}
