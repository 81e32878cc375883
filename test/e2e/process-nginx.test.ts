import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerSupervisor, type ProcessSpec } from '../../agent/process/index.js';
import { readProcStat } from '../../agent/process/proc.js';
import { hostTool, skipWithout } from '../support/host-tools.js';
import {
  alive,
  freePort,
  TestResources,
  waitFor,
  waitForStatus,
  type Sandbox,
} from '../support/processes.js';

// Debian's nginx (apt-get install nginx-light): a real forking daemon with a pid file.
const NGINX = hostTool('nginx') ?? '/usr/sbin/nginx';
const resources = new TestResources();
after(() => resources.cleanUp());

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function writeConfig(box: Sandbox, port: number, answer: string): Promise<void> {
  const dir = box.directory;
  await writeFile(
    path.join(dir, 'conf', 'nginx.conf'),
    `daemon on;
master_process on;
worker_processes 2;
pid ${dir}/run/nginx.pid;
error_log ${dir}/logs/error.log info;
events { worker_connections 64; }
http {
  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "${answer}\\n"; }
  }
}
`,
  );
}

async function nginxSandbox(): Promise<{ box: Sandbox; port: number; nginx: string }> {
  const box = await resources.sandbox('nginx');
  for (const sub of ['conf', 'run', 'logs', 'tmp']) await mkdir(path.join(box.directory, sub));
  const port = await freePort();
  await writeConfig(box, port, 'hello');
  // -e: the error log before the configuration is read (the compiled-in default is not ours).
  const nginx = `${NGINX} -p ${box.directory}/ -c conf/nginx.conf -e logs/error.log`;
  return { box, port, nginx };
}

test(
  'a real nginx daemon: start, serve, reload (command and SIGHUP), ready via http probe, stop',
  { skip: skipWithout('nginx') },
  async () => {
    const { box, port, nginx } = await nginxSandbox();
    const spec: ProcessSpec = box.spec(nginx, {
      mode: 'forking',
      pid_file: 'run/nginx.pid',
      commands: { start: nginx, reload: `${nginx} -s reload`, stop: `${nginx} -s quit` },
      ports: { http: port },
      restart_policy: 'always',
      stop_timeout_seconds: 20,
      readiness_probe: { http_get: { port: 'http' }, period_seconds: 0.1 },
    });
    const supervisor = resources.supervisor(new ContainerSupervisor(spec));
    await supervisor.start();
    const master = supervisor.status().pid ?? -1;
    assert.equal(master, Number(await readFile(path.join(box.directory, 'run/nginx.pid'), 'utf8')));
    assert.equal(readProcStat(master)?.pgrp, master, 'the nginx master leads its own process group');
    assert.deepEqual(await get(port), { status: 200, body: 'hello\n' });
    await waitForStatus(supervisor, 'ready', (s) => s.ready);

    // Reload with the reload command: new configuration, same master.
    await writeConfig(box, port, 'reloaded by command');
    await supervisor.reload();
    await waitFor('the new answer', async () => (await get(port)).body === 'reloaded by command\n');

    // Reload by SIGHUP to the master, as happens when no reload command is given.
    const bySignal = new ContainerSupervisor({ ...spec, commands: { start: nginx } });
    assert.equal(await bySignal.adopt(), true);
    await writeConfig(box, port, 'reloaded by SIGHUP');
    await bySignal.reload();
    bySignal.detach();
    await waitFor('the SIGHUP answer', async () => (await get(port)).body === 'reloaded by SIGHUP\n');

    let status = supervisor.status();
    assert.equal(status.pid, master);
    assert.equal(status.restart_count, 0);
    assert.ok(status.state.running);

    await supervisor.stop();
    assert.equal(alive(master), false);
    await assert.rejects(get(port), /ECONNREFUSED/);
    status = supervisor.status();
    assert.equal(status.state.terminated?.reason, 'Stopped');
    assert.match(
      status.state.terminated?.message ?? '',
      /\(after stop command\)$/,
      'nginx -s quit was enough',
    );
  },
);

test(
  'nginx that cannot start (port taken) is a StartError quoting nginx',
  { skip: skipWithout('nginx') },
  async () => {
    const { box, port, nginx } = await nginxSandbox();
    const blocker = http.createServer().listen(port, '127.0.0.1');
    try {
      await new Promise((resolve) => blocker.once('listening', resolve));
      const supervisor = resources.supervisor(
        new ContainerSupervisor(box.spec(nginx, { mode: 'forking', pid_file: 'run/nginx.pid' })),
      );
      await supervisor.start();
      const waiting = supervisor.status().state.waiting;
      assert.equal(waiting?.reason, 'StartError');
      assert.equal(
        waiting?.message,
        'start command exited with code 1: nginx: [emerg] still could not bind()',
      );
    } finally {
      blocker.close();
    }
  },
);
