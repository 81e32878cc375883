import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import http from 'node:http';
import { issueCertificate } from '../../common/certificates.js';

export interface TokenRequest {
  user: string | undefined;
  scopes: string[];
}

/** A token server in the shape the distribution registry's `auth: token` expects. */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** The PEM certificate whose key signs the tokens: the registry's rootcertbundle. */
  certificate: string;
  /** Every token request, in order (to check that clients cache tokens). */
  requests: TokenRequest[];
  stop(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * Issues RS256 JWTs signed with a fresh self-signed certificate, carried in the
 * token's x5c header so the registry can check it against its root bundle. The configured user gets
 * every action it asks for; anyone else (wrong password) gets 401; anonymous requests get a token with
 * no access, as real token servers do for private repositories.
 */
export async function startTokenServer(options: { user: string; password: string }): Promise<TokenServer> {
  const { cert: certificate, key } = await issueCertificate({
    commonName: 'seer-test-token-issuer',
    isCa: true,
    validDays: 2,
  });
  const der = new X509Certificate(certificate).raw;

  const service = 'seer-test-registry';
  const issuer = 'seer-test-issuer';
  const requests: TokenRequest[] = [];

  const sign = (subject: string, access: { type: string; name: string; actions: string[] }[]) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(key);
    return `${input}.${base64url(signature)}`;
  };

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://token');
    const scopes = url.searchParams.getAll('scope');
    const authorization = request.headers.authorization ?? '';
    let user: string | undefined;
    if (authorization.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString();
      const colon = decoded.indexOf(':');
      if (decoded.slice(0, colon) !== options.user || decoded.slice(colon + 1) !== options.password) {
        requests.push({ user: decoded.slice(0, colon), scopes });
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      user = options.user;
    }
    requests.push({ user, scopes });
    if (url.pathname !== '/token' || url.searchParams.get('service') !== service) {
      response.writeHead(400).end('unknown service');
      return;
    }
    const access = user
      ? scopes.map((scope) => {
          const [type = '', name = '', actions = ''] = scope.split(':');
          return { type, name, actions: actions.split(',').filter(Boolean) };
        })
      : [];
    const token = sign(user ?? '', access);
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(
        JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('token server has no address');

  return {
    realm: `http://127.0.0.1:${address.port}/token`,
    service,
    issuer,
    certificate,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
