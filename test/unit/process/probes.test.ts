import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, test } from 'node:test';
import { runProbe, type ProbeTarget } from '../../../agent/process/probes.js';
import { freePort, TestResources } from '../../support/processes.js';

const resources = new TestResources();
const servers: Array<http.Server | net.Server> = [];
after(async () => {
  for (const server of servers) server.close();
  await resources.cleanUp();
});

function listen<T extends http.Server | net.Server>(server: T): Promise<number> {
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

async function target(ports: Record<string, number> = {}): Promise<ProbeTarget> {
  const box = await resources.sandbox();
  return {
    directory: box.directory,
    env: { PATH: '/usr/bin:/bin', MARK: 'from-env' },
    identity: undefined,
    ports,
  };
}

test('exec probe: exit 0 succeeds, anything else fails with the output; it runs in the container directory', async () => {
  const where = await target();
  assert.deepEqual(await runProbe({ exec: { command: 'test "$PWD" = "' + where.directory + '"' } }, where), {
    ok: true,
    message: 'exec probe exited with code 0',
  });
  assert.deepEqual(await runProbe({ exec: { command: 'echo "not yet: $MARK"; exit 3' } }, where), {
    ok: false,
    message: 'exec probe exited with code 3: not yet: from-env',
  });
  const slow = await runProbe({ exec: { command: 'sleep 30' }, timeout_seconds: 0.2 }, where);
  assert.deepEqual(slow, { ok: false, message: 'exec probe timed out after 0.2 s' });
});

test('http probe: 200-399 succeed, other statuses, refused connections and silence fail', async () => {
  const port = await listen(
    http.createServer((request, response) => {
      if (request.url === '/hang') return;
      const status = Number(request.url?.slice(1)) || 200;
      response.writeHead(status, status === 302 ? { location: '/elsewhere' } : {});
      response.end();
    }),
  );
  const where = await target({ http: port });
  assert.equal((await runProbe({ http_get: { port: 'http', path: '/200' } }, where)).ok, true);
  assert.equal((await runProbe({ http_get: { port, path: '/302' } }, where)).ok, true);
  const failing = await runProbe({ http_get: { port: String(port), path: '/503' } }, where);
  assert.deepEqual(failing, { ok: false, message: `GET http://127.0.0.1:${port}/503 answered 503` });
  const silent = await runProbe({ http_get: { port, path: '/hang' }, timeout_seconds: 0.2 }, where);
  assert.equal(silent.ok, false);
  assert.match(silent.message, /timed out after 0\.2 s/);
  const closed = await freePort();
  const refused = await runProbe({ http_get: { port: closed } }, where);
  assert.equal(refused.ok, false);
  assert.match(refused.message, /ECONNREFUSED/);
  assert.deepEqual(await runProbe({ http_get: { port: 'metrics' } }, where), {
    ok: false,
    message: 'port "metrics" is not one of the container\'s named ports',
  });
});

test('http probe: http_headers are sent, so a shared server can be asked for one site', async () => {
  const port = await listen(
    http.createServer((request, response) => {
      const known = request.headers.host === 'passport.x.com' && request.headers['x-probe'] === 'ready';
      response.writeHead(known ? 200 : 404);
      response.end();
    }),
  );
  const where = await target();
  const headers = [
    { name: 'Host', value: 'passport.x.com' },
    { name: 'X-Probe', value: 'ready' },
  ];
  assert.equal((await runProbe({ http_get: { port, http_headers: headers } }, where)).ok, true);
  assert.deepEqual(await runProbe({ http_get: { port } }, where), {
    ok: false,
    message: `GET http://127.0.0.1:${port}/ answered 404`,
  });
});

test('tcp probe: a listening port succeeds, a closed one fails', async () => {
  const port = await listen(net.createServer((socket) => socket.end()));
  const where = await target({ db: port });
  assert.deepEqual(await runProbe({ tcp_socket: { port: 'db' } }, where), {
    ok: true,
    message: `connected to 127.0.0.1:${port}`,
  });
  const closed = await freePort();
  const refused = await runProbe({ tcp_socket: { port: closed } }, where);
  assert.equal(refused.ok, false);
  assert.match(refused.message, new RegExp(`connect to 127\\.0\\.0\\.1:${closed} failed: .*ECONNREFUSED`));
});
