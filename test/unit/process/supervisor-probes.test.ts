import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import { freePort, recordStatuses, TestResources, waitForStatus } from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

const node = process.execPath;

// Answers 500 while a file named "sick" exists in its directory, 200 otherwise; listens after argv[3] ms.
const SERVER = `
import fs from 'node:fs';
import http from 'node:http';
const [port, delay] = process.argv.slice(2).map(Number);
const server = http.createServer((request, response) => {
  const sick = fs.existsSync('sick');
  response.writeHead(sick ? 500 : 200);
  response.end(sick ? 'sick\\n' : 'ok\\n');
});
setTimeout(() => server.listen(port, '127.0.0.1'), delay || 0);
`;

test('an exec readiness probe drives ready, both ways, without touching the process', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('sleep 600', {
        readiness_probe: {
          exec: { command: 'test -e ready-flag' },
          period_seconds: 0.05,
          failure_threshold: 1,
        },
      }),
    ),
  );
  await supervisor.start();
  const pid = supervisor.status().pid;
  assert.equal(supervisor.status().ready, false, 'not ready before the probe succeeds');
  assert.equal(supervisor.status().started, true);
  await writeFile(path.join(box.directory, 'ready-flag'), '');
  await waitForStatus(supervisor, 'ready', (s) => s.ready);
  await rm(path.join(box.directory, 'ready-flag'));
  const unready = await waitForStatus(supervisor, 'not ready again', (s) => !s.ready);
  assert.equal(unready.pid, pid);
  assert.equal(unready.restart_count, 0);
});

test('http and tcp readiness probes on named ports become ready once the server listens', async () => {
  const box = await resources.sandbox();
  await writeFile(path.join(box.directory, 'server.mjs'), SERVER);
  const port = await freePort();
  const ports = { http: port };
  for (const probe of [{ http_get: { port: 'http', path: '/healthz' } }, { tcp_socket: { port: 'http' } }]) {
    const supervisor = resources.supervisor(
      new ContainerSupervisor(
        box.spec(`${node} server.mjs ${port} 300`, {
          ports,
          readiness_probe: { ...probe, period_seconds: 0.05, success_threshold: 2 },
        }),
      ),
    );
    const statuses = recordStatuses(supervisor);
    await supervisor.start();
    await waitForStatus(supervisor, `ready via ${JSON.stringify(probe)}`, (s) => s.ready);
    assert.equal(statuses[0]?.ready, false);
    await supervisor.stop();
  }
});

test('a failing liveness probe restarts the container: LivenessProbeFailed in last_state, counted', async () => {
  const box = await resources.sandbox();
  await writeFile(path.join(box.directory, 'server.mjs'), SERVER);
  const port = await freePort();
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec(`${node} server.mjs ${port}`, {
        ports: { http: port },
        restart_policy: 'always',
        stop_timeout_seconds: 10,
        liveness_probe: {
          http_get: { port: 'http', path: '/live' },
          initial_delay_seconds: 0.5,
          period_seconds: 0.05,
          failure_threshold: 2,
        },
      }),
    ),
  );
  await supervisor.start();
  const first = supervisor.status().pid;
  await writeFile(path.join(box.directory, 'sick'), '');
  const restarted = await waitForStatus(
    supervisor,
    'restarted after liveness failures',
    (s) => s.restart_count >= 1 && s.state.running !== undefined,
  );
  await rm(path.join(box.directory, 'sick'));
  assert.notEqual(restarted.pid, first);
  const terminated = restarted.last_state?.terminated;
  assert.equal(terminated?.reason, 'LivenessProbeFailed');
  assert.equal(terminated?.signal, 15, 'stopped with the normal stop sequence (SIGTERM first)');
  assert.match(
    terminated?.message ?? '',
    new RegExp(
      `^liveness probe failed 2 times in a row: GET http://127\\.0\\.0\\.1:${port}/live answered 500; terminated by signal SIGTERM \\(after SIGTERM\\)$`,
    ),
  );
});
