import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, test } from 'node:test';
import { PackageError } from '../../../packages/errors.js';
import type { OciReference } from '../../../packages/reference.js';
import {
  basicAuthorization,
  configuredAuthorization,
  parseChallenge,
  parseTokenResponse,
  RegistryAuth,
  tokenRequestUrl,
  type Challenge,
} from '../../../packages/registry-auth.js';
import type { RegistryConfig, RegistryCredential } from '../../../packages/registry-config.js';
import { createHttpClient } from '../../../packages/transport.js';
import { startHttpServer, type TestServer } from './http-fixture.js';
import { assertFails } from '../../support/package-assertions.js';

const REGISTRY = 'registry.test:5000';
const ALICE = basicAuthorization('alice', 'secret');

function ref(repository = 'team/app', registry = REGISTRY): OciReference {
  return { kind: 'oci', registry, repository };
}

function config(
  credentials: Record<string, RegistryCredential> = {},
  insecure: string[] = [],
): RegistryConfig {
  return { insecure: [REGISTRY, ...insecure], credentials };
}

interface FakeResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
}

/**
 * A registry as `RegistryAuth.send` sees it: each call is one request, answered 200 when its
 * Authorization is one of `accepted`, else 401 with `challenge` (or `status` for every request).
 */
function fakeRegistry(options: { challenge?: string; accepted?: string[]; status?: number }) {
  const sent: (string | undefined)[] = [];
  const send = async (authorization: string | undefined): Promise<FakeResponse> => {
    sent.push(authorization);
    if (options.status !== undefined) return { statusCode: options.status, headers: {} };
    if (!options.accepted || (authorization !== undefined && options.accepted.includes(authorization))) {
      return { statusCode: 200, headers: {} };
    }
    return {
      statusCode: 401,
      headers: options.challenge === undefined ? {} : { 'www-authenticate': options.challenge },
    };
  };
  return { sent, send };
}

interface TokenServer extends TestServer {
  realm: string;
  /** The query and Authorization of each token request. */
  asked: { query: URLSearchParams; authorization: string | undefined }[];
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A token server on loopback: `answer` gives the status and JSON body of each token request. */
async function startTokenServer(
  answer: (authorization: string | undefined, count: number) => { status: number; body?: unknown },
): Promise<TokenServer> {
  const asked: TokenServer['asked'] = [];
  const started = await startHttpServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://token').searchParams;
    asked.push({ query, authorization: request.headers.authorization });
    const { status, body } = answer(request.headers.authorization, asked.length);
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
  server = started;
  return { ...started, realm: started.url('/token'), asked };
}

function newAuth(registries: RegistryConfig, now?: () => number): RegistryAuth {
  return new RegistryAuth({ registries, http: createHttpClient(registries), now });
}

describe('parseChallenge', () => {
  test('reads Bearer and Basic challenges', () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
      ),
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry.example.com',
          scope: 'repository:a/b:pull,push',
        },
      },
    );
    assert.deepEqual(parseChallenge('Basic realm="basic-realm"'), {
      scheme: 'basic',
      params: { realm: 'basic-realm' },
    });
    assert.deepEqual(parseChallenge('Bearer realm=https://x/token, error="insufficient_scope"'), {
      scheme: 'bearer',
      params: { realm: 'https://x/token', error: 'insufficient_scope' },
    });
    assert.equal(parseChallenge(undefined), undefined);
    assert.equal(parseChallenge(''), undefined);
  });

  test('scheme and parameter names in lower case, quoted values unescaped', () => {
    assert.deepEqual(parseChallenge('BEARER Realm="https://x/t",Service="a \\"quoted\\" name"'), {
      scheme: 'bearer',
      params: { realm: 'https://x/t', service: 'a "quoted" name' },
    });
    assert.deepEqual(parseChallenge('Negotiate'), { scheme: 'negotiate', params: {} });
  });
});

describe('credentials as Authorization headers', () => {
  test('basic credentials are base64 of user:password', () => {
    assert.equal(
      basicAuthorization('alice', 'se:cret'),
      `Basic ${Buffer.from('alice:se:cret').toString('base64')}`,
    );
  });

  test('configured credentials: basic, a token as it is, or nothing; hosts match case-insensitively', () => {
    const registries = config({
      'Basic.Example:5000': { username: 'alice', password: 'secret' },
      'token.example': { token: 'abc' },
    });
    assert.equal(configuredAuthorization(registries, 'basic.example:5000'), ALICE);
    assert.equal(configuredAuthorization(registries, 'token.example'), 'Bearer abc');
    assert.equal(configuredAuthorization(registries, 'other.example'), undefined);
    assert.equal(
      configuredAuthorization(registries, 'basic.example'),
      undefined,
      'the port is part of the host',
    );
  });
});

describe('parseTokenResponse', () => {
  const what = 'the token server';

  test('takes token, or access_token, and expires_in (60 seconds when missing or not positive)', () => {
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t","expires_in":300}'), what), {
      token: 't',
      seconds: 300,
    });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"access_token":"a"}'), what), {
      token: 'a',
      seconds: 60,
    });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t","expires_in":0}'), what), {
      token: 't',
      seconds: 60,
    });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t","expires_in":"300"}'), what), {
      token: 't',
      seconds: 60,
    });
  });

  test('an answer without a token, or not JSON, is Unauthorized', () => {
    const refused = (body: string, message: RegExp) =>
      assert.throws(
        () => parseTokenResponse(Buffer.from(body), what),
        (error: unknown) =>
          error instanceof PackageError && error.reason === 'Unauthorized' && message.test(error.message),
      );
    refused('<html>', /^the token server answered with something that is not JSON$/);
    refused('{}', /^the token server answered without a token$/);
    refused('{"token":""}', /answered without a token/);
    refused('{"token":5}', /answered without a token/);
  });
});

describe('tokenRequestUrl', () => {
  const bearer = (params: Record<string, string>): Challenge => ({ scheme: 'bearer', params });

  test("asks the realm for the client's own scope first, then the challenge's, each once", () => {
    const { url, scope } = tokenRequestUrl(
      config(),
      ref('team/app'),
      'pull,push',
      bearer({
        realm: 'https://auth.example.com/token?client=seer',
        service: 'registry.test',
        scope: 'repository:team/app:pull repository:team/app:pull,push repository:base:pull',
      }),
      'x',
    );
    assert.equal(url.origin + url.pathname, 'https://auth.example.com/token');
    assert.equal(url.searchParams.get('client'), 'seer');
    assert.equal(url.searchParams.get('service'), 'registry.test');
    assert.deepEqual(url.searchParams.getAll('scope'), [
      'repository:team/app:pull,push',
      'repository:team/app:pull',
      'repository:base:pull',
    ]);
    assert.equal(scope, 'repository:team/app:pull,push repository:team/app:pull repository:base:pull');
  });

  test('without service or scope in the challenge, only the realm and the wanted scope', () => {
    const { url } = tokenRequestUrl(
      config(),
      ref('app'),
      'pull',
      bearer({ realm: 'https://a.example/t' }),
      'x',
    );
    assert.equal(url.href, 'https://a.example/t?scope=repository%3Aapp%3Apull');
  });

  test('a missing or invalid realm is Unauthorized, a plain-http realm needs an insecure registry', () => {
    for (const params of [{}, { realm: 'not a url' }] as Record<string, string>[]) {
      assert.throws(
        () => tokenRequestUrl(config(), ref(), 'pull', bearer(params), 'team/app'),
        (error: unknown) =>
          error instanceof PackageError &&
          error.reason === 'Unauthorized' &&
          error.message === "team/app: the registry's bearer challenge has no valid realm",
      );
    }
    const httpRealm = bearer({ realm: 'http://auth.example.com/token' });
    assert.doesNotThrow(() => tokenRequestUrl(config(), ref(), 'pull', httpRealm, 'x'));
    assert.throws(
      () => tokenRequestUrl(config(), ref('app', 'secure.example'), 'pull', httpRealm, 'x'),
      (error: unknown) => error instanceof PackageError && error.reason === 'InsecureRegistry',
    );
  });
});

describe('RegistryAuth.send', () => {
  test('a request the registry accepts goes out once, without authorization', async () => {
    const registry = fakeRegistry({});
    const response = await newAuth(config()).send(ref(), 'pull', 'x', undefined, registry.send);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(registry.sent, [undefined]);
  });

  test('Basic: answers the challenge with the configured credentials and reuses them for the scope', async () => {
    const auth = newAuth(config({ [REGISTRY]: { username: 'alice', password: 'secret' } }));
    const registry = fakeRegistry({ challenge: 'Basic realm="r"', accepted: [ALICE] });
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    assert.deepEqual(registry.sent, [undefined, ALICE]);
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    assert.deepEqual(registry.sent, [undefined, ALICE, ALICE], 'no second challenge for the same scope');
    await auth.send(ref('team/other'), 'pull', 'x', undefined, registry.send);
    assert.deepEqual(registry.sent.slice(3), [undefined, ALICE], 'another repository is another scope');
  });

  test('Basic: without a username and password configured (none, or a token) is Unauthorized', async () => {
    for (const credentials of [{}, { [REGISTRY]: { token: 't' } }] as Record<string, RegistryCredential>[]) {
      const registry = fakeRegistry({ challenge: 'Basic realm="r"', accepted: [ALICE] });
      await assertFails(
        newAuth(config(credentials)).send(ref(), 'pull', 'team/app:v1', undefined, registry.send),
        'Unauthorized',
        /^team\/app:v1: the registry asks for a username and password and none are configured for registry\.test:5000$/,
      );
      assert.equal(registry.sent.length, 1);
    }
  });

  test('a 401 without a challenge, or with one of another scheme, is Unauthorized', async () => {
    for (const challenge of [undefined, 'Negotiate']) {
      const registry = fakeRegistry({ challenge, accepted: [ALICE] });
      await assertFails(
        newAuth(config()).send(ref(), 'pull', 'x', undefined, registry.send),
        'Unauthorized',
        /^x: the registry answered 401 without a usable challenge$/,
      );
    }
  });

  test('Bearer: a configured token is sent as it is, with no token request', async () => {
    const tokens = await startTokenServer(() => ({ status: 500 }));
    const registry = fakeRegistry({
      challenge: `Bearer realm="${tokens.realm}"`,
      accepted: ['Bearer static'],
    });
    await newAuth(config({ [REGISTRY]: { token: 'static' } })).send(
      ref(),
      'pull',
      'x',
      undefined,
      registry.send,
    );
    assert.deepEqual(registry.sent, [undefined, 'Bearer static']);
    assert.equal(tokens.asked.length, 0);
  });

  test('Bearer: exchanges the configured credentials for a token, cached per repository and access', async () => {
    const tokens = await startTokenServer((_authorization, count) => ({
      status: 200,
      body: { token: `t${count}`, expires_in: 300 },
    }));
    const challenge = `Bearer realm="${tokens.realm}",service="fake",scope="repository:team/app:pull"`;
    const auth = newAuth(config({ [REGISTRY]: { username: 'alice', password: 'secret' } }, [tokens.host]));
    const registry = fakeRegistry({ challenge, accepted: ['Bearer t1', 'Bearer t2', 'Bearer t3'] });

    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    assert.deepEqual(registry.sent, [undefined, 'Bearer t1']);
    assert.equal(tokens.asked.length, 1);
    assert.equal(tokens.asked[0]?.authorization, ALICE);
    assert.equal(tokens.asked[0]?.query.get('service'), 'fake');
    assert.deepEqual(tokens.asked[0]?.query.getAll('scope'), ['repository:team/app:pull']);

    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    await auth.send(ref('team/app', REGISTRY.toUpperCase()), 'pull', 'x', undefined, registry.send);
    assert.equal(tokens.asked.length, 1, 'the same scope (registry names in any case) reuses the token');
    assert.deepEqual(registry.sent.slice(2), ['Bearer t1', 'Bearer t1']);

    await auth.send(ref(), 'pull,push', 'x', undefined, registry.send);
    assert.equal(tokens.asked.length, 2, 'pull,push is another scope');
    assert.deepEqual(tokens.asked[1]?.query.getAll('scope'), [
      'repository:team/app:pull,push',
      'repository:team/app:pull',
    ]);
    await auth.send(ref('team/other'), 'pull', 'x', undefined, registry.send);
    assert.equal(tokens.asked.length, 3, 'another repository is another scope');
  });

  test('Bearer: a token is used until shortly before it expires, then fetched again', async () => {
    let now = 1_000_000;
    const tokens = await startTokenServer((_authorization, count) => ({
      status: 200,
      body: { token: `t${count}`, expires_in: 70 },
    }));
    const auth = newAuth(config({}, [tokens.host]), () => now);
    const registry = fakeRegistry({
      challenge: `Bearer realm="${tokens.realm}"`,
      accepted: ['Bearer t1', 'Bearer t2'],
    });
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    now += 59_999;
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    assert.equal(tokens.asked.length, 1, 'good for its 70 seconds less 10');
    now += 1;
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    assert.equal(tokens.asked.length, 2);
    assert.deepEqual(registry.sent, [undefined, 'Bearer t1', 'Bearer t1', undefined, 'Bearer t2']);
  });

  test('Bearer: a token that lives 10 seconds or less is kept for one second', async () => {
    let now = 0;
    const tokens = await startTokenServer((_authorization, count) => ({
      status: 200,
      body: { token: `t${count}`, expires_in: 5 },
    }));
    const auth = newAuth(config({}, [tokens.host]), () => now);
    const registry = fakeRegistry({
      challenge: `Bearer realm="${tokens.realm}"`,
      accepted: ['Bearer t1', 'Bearer t2'],
    });
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    now = 999;
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    now = 1000;
    await auth.send(ref(), 'pull', 'x', undefined, registry.send);
    assert.equal(tokens.asked.length, 2);
  });

  test('Bearer: anonymous without credentials; a token server refusing that is Unauthorized', async () => {
    const tokens = await startTokenServer(() => ({ status: 401 }));
    const registry = fakeRegistry({ challenge: `Bearer realm="${tokens.realm}"`, accepted: ['Bearer t'] });
    await assertFails(
      newAuth(config({}, [tokens.host])).send(ref(), 'pull', 'team/app:v1', undefined, registry.send),
      'Unauthorized',
      /^team\/app:v1: token server http:\/\/127\.0\.0\.1:\d+ refused anonymous access \(HTTP 401\)$/,
    );
    assert.equal(tokens.asked[0]?.authorization, undefined);
  });

  test('Bearer: a token server refusing the credentials, or failing, says so', async () => {
    let status = 403;
    const tokens = await startTokenServer(() => ({ status, body: { errors: [{ code: 'DENIED' }] } }));
    const registries = config({ [REGISTRY]: { username: 'alice', password: 'wrong' } }, [tokens.host]);
    const challenge = `Bearer realm="${tokens.realm}"`;
    await assertFails(
      newAuth(registries).send(ref(), 'pull', 'x', undefined, fakeRegistry({ challenge, accepted: [] }).send),
      'Unauthorized',
      /token server http:\/\/127\.0\.0\.1:\d+ refused the credentials configured for registry\.test:5000 \(HTTP 403\)$/,
    );
    status = 500;
    await assertFails(
      newAuth(registries).send(ref(), 'pull', 'x', undefined, fakeRegistry({ challenge, accepted: [] }).send),
      'RegistryUnavailable',
      /token server http:\/\/127\.0\.0\.1:\d+: server error \(HTTP 500\): DENIED$/,
    );
  });

  test('still 401 after the answer: Unauthorized, and the answer is not kept', async () => {
    const withCredentials = newAuth(config({ [REGISTRY]: { username: 'alice', password: 'secret' } }));
    const registry = fakeRegistry({ challenge: 'Basic realm="r"', accepted: [] });
    await assertFails(
      withCredentials.send(ref(), 'pull', 'x', undefined, registry.send),
      'Unauthorized',
      /^x: the registry refused the credentials configured for registry\.test:5000 \(HTTP 401\)$/,
    );
    await assert.rejects(withCredentials.send(ref(), 'pull', 'x', undefined, registry.send));
    assert.deepEqual(registry.sent, [undefined, ALICE, undefined, ALICE], 'each try starts without');

    const tokens = await startTokenServer(() => ({ status: 200, body: { token: 'anonymous' } }));
    const anonymous = newAuth(config({}, [tokens.host]));
    await assertFails(
      anonymous.send(
        ref(),
        'pull',
        'x',
        undefined,
        fakeRegistry({ challenge: `Bearer realm="${tokens.realm}"`, accepted: [] }).send,
      ),
      'Unauthorized',
      /^x: the registry requires credentials and none are configured for registry\.test:5000 \(HTTP 401\)$/,
    );
  });

  test('a 403 is Unauthorized at once, without a challenge to answer', async () => {
    const registry = fakeRegistry({ status: 403 });
    await assertFails(
      newAuth(config()).send(ref(), 'pull', 'x', undefined, registry.send),
      'Unauthorized',
      /^x: access denied \(HTTP 403\)$/,
    );
    assert.equal(registry.sent.length, 1);
  });

  test('a request that fails to go out is a PackageError naming what was asked for', async () => {
    const refusedConnection = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await assertFails(
      newAuth(config()).send(ref(), 'pull', 'team/app:v1', undefined, async () => {
        throw refusedConnection;
      }),
      'RegistryUnavailable',
      /^team\/app:v1: cannot reach the server \(ECONNREFUSED/,
    );
  });
});
