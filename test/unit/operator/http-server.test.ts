import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import {
  parseListenAddress,
  startHttpServer,
  type HealthCheck,
  type RunningHttpServer,
} from '../../../operator/runtime/http-server.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

const registry = new Registry();
const requests = new Counter({
  name: 'seer_test_requests_total',
  help: 'Requests the test made.',
  registers: [registry],
});
let healthz: HealthCheck = () => true;
let readyz: HealthCheck = () => true;
let server: RunningHttpServer;

before(async () => {
  server = await startHttpServer({
    address: '127.0.0.1:0',
    registry,
    checks: { healthz: () => healthz(), readyz: () => readyz() },
  });
});

after(() => server.close());

test('port 0 picks a free port', () => {
  assert.ok(server.port > 0);
});

test('/healthz and /readyz answer 200 "ok" when their checks pass', async () => {
  healthz = () => true;
  readyz = () => true;
  for (const path of ['/healthz', '/readyz']) {
    const reply = await get(server.port, path);
    assert.equal(reply.status, 200, path);
    assert.equal(reply.body, 'ok', path);
    assert.match(String(reply.headers['content-type']), /^text\/plain/);
  }
});

test('a failing check answers 503 with its reason, and only on its own endpoint', async () => {
  healthz = () => true;
  readyz = () => 'not the leader yet';
  const notReady = await get(server.port, '/readyz');
  assert.equal(notReady.status, 503);
  assert.equal(notReady.body, 'not the leader yet');
  assert.equal((await get(server.port, '/healthz')).status, 200);

  healthz = () => false;
  const unhealthy = await get(server.port, '/healthz');
  assert.equal(unhealthy.status, 503);
  assert.equal(unhealthy.body, 'check failed');
});

test('a check that throws answers 500 with the error message', async () => {
  healthz = () => {
    throw new Error('informers are not synced');
  };
  const reply = await get(server.port, '/healthz');
  assert.equal(reply.status, 500);
  assert.equal(reply.body, 'informers are not synced');
  healthz = () => true;
});

test('a query string does not change the endpoint', async () => {
  readyz = () => true;
  const reply = await get(server.port, '/readyz?verbose=1');
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'ok');
});

test('/metrics serves the registry in its text format and content type', async () => {
  requests.inc(3);
  const reply = await get(server.port, '/metrics');
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['content-type'], registry.contentType);
  assert.match(reply.body, /^# HELP seer_test_requests_total Requests the test made\.$/m);
  assert.match(reply.body, /^seer_test_requests_total 3$/m);
});

test('other paths answer 404, other methods 405', async () => {
  assert.equal((await get(server.port, '/')).status, 404);
  assert.equal((await get(server.port, '/healthz/extra')).status, 404);
  assert.equal((await get(server.port, '/metricsx')).status, 404);
  const post = await get(server.port, '/metrics', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('close() returns even while a client keeps its connection alive', async () => {
  const own = await startHttpServer({
    address: '127.0.0.1:0',
    registry,
    checks: { healthz: () => true, readyz: () => true },
  });
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: own.port, path: '/healthz', agent }, (response) => {
        response.resume();
        response.on('end', resolve);
      })
      .on('error', reject);
  });
  await own.close();
  agent.destroy();
  await assert.rejects(get(own.port, '/healthz'), { code: 'ECONNREFUSED' });
});

test('a port already in use is refused with the listen error', async () => {
  await assert.rejects(
    startHttpServer({
      address: `127.0.0.1:${server.port}`,
      registry,
      checks: { healthz: () => true, readyz: () => true },
    }),
    { code: 'EADDRINUSE' },
  );
});

test('listen addresses: host:port, bracketed IPv6, empty host for every interface', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListenAddress(':9090'), { host: undefined, port: 9090 });
  assert.throws(() => parseListenAddress('localhost'), /invalid listen address "localhost"/);
  assert.throws(() => parseListenAddress('localhost:http'), /invalid listen address/);
  assert.throws(() => parseListenAddress('localhost:70000'), /invalid listen address/);
});
