import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { SeerNode } from '../../api/types.js';
import { createLogsCommand } from '../../cli/commands/logs.js';
import { connectionFromKubeconfig, RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { startTestCluster, type TestCluster } from '../support/control-plane.js';
import { makePackage, seerPod } from '../support/pods.js';
import { applyChartUserRoles, nodeKubeconfig } from '../support/endpoint-users.js';

const NODE = 'lf';

let cluster: TestCluster;
let admin: SeerClient;
let work: string;
let agent: AgentProcess | undefined;
let readerToken: string;
let ca: string;
let port: number;
let passwd: string;
const clients: RestClient[] = [];

interface Reply {
  status: number;
  body: string;
}

/** GET on the agent's endpoint with the path sent exactly as written (no client-side normalizing). */
function get(urlPath: string, token = readerToken): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      { host: '127.0.0.1', port, path: urlPath, ca, headers: { authorization: `Bearer ${token}` } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

const files = (namespace: string, pod: string, rest = '') =>
  `/pods/${namespace}/${pod}/containers/main/logfiles${rest}`;

before(async () => {
  passwd = await readFile('/etc/passwd', 'utf8');
  cluster = await startTestCluster({ crds: true });
  const rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  clients.push(rest);
  admin = new SeerClient(rest);
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-log-files-'));
  const kubeconfig = await nodeKubeconfig(cluster, rest, NODE, work);

  await applyChartUserRoles(cluster);
  for (const namespace of ['team-a', 'team-b']) await cluster.kubectlOk(['create', 'namespace', namespace]);
  await cluster.kubectlOk(['create', 'serviceaccount', 'reader', '-n', 'team-a']);
  await cluster.kubectlOk([
    'create',
    'rolebinding',
    'readers',
    '-n',
    'team-a',
    '--clusterrole=seer-logs-reader',
    '--serviceaccount=team-a:reader',
  ]);
  await cluster.kubectlOk([
    'create',
    'clusterrolebinding',
    'node-readers',
    '--clusterrole=seer-node-reader',
    '--serviceaccount=team-a:reader',
  ]);
  readerToken = (await cluster.kubectlOk(['create', 'token', 'reader', '-n', 'team-a'])).trim();

  const appLogs = path.join(work, 'app-logs');
  await mkdir(path.join(appLogs, 'writers', 'archive'), { recursive: true });
  await writeFile(path.join(appLogs, 'writers', 'own.log'), 'own 1\nown 2\n');
  await writeFile(path.join(appLogs, 'writers', 'archive', 'own.1'), 'older\n');
  await mkdir(path.join(appLogs, 'others'));
  await writeFile(path.join(appLogs, 'others', 'theirs.log'), 'not ours\n');

  agent = await startAgentProcess({
    nodeName: NODE,
    root: path.join(work, 'root'),
    kubeconfig,
    args: ['--endpoint-port', '0', '--endpoint-address', '127.0.0.1', '--app-log-root', appLogs],
  });
  const endpoint = await eventually('the endpoint in the SeerNode status', async () => {
    const node: SeerNode = await admin.get('SeerNode', NODE);
    return node.status?.endpoint ?? undefined;
  });
  port = endpoint.port;
  ca = endpoint.ca_certificates;

  const pkg = await makePackage({
    'run.sh': `#!/bin/sh
mkdir -p logs
i=1
while [ $i -le 50 ]; do echo "app line $i" >> logs/app.log; i=$((i+1)); done
ln -s /etc/passwd logs/evil.log
ln -s /etc logs/etc
echo ready > logs/ready.txt
exec sleep 3600
`,
  });
  for (const namespace of ['team-a', 'team-b']) {
    const pod = seerPod(
      namespace === 'team-a' ? 'writer' : 'writer-b',
      {
        node_name: NODE,
        containers: [
          { name: 'main', package: pkg.reference, commands: { start: './run.sh' }, restart_policy: 'never' },
        ],
      },
      namespace,
    );
    pod.metadata.labels = { app: 'writers' };
    await admin.create('SeerPod', pod);
  }
  for (const name of ['writer', 'writer-b'])
    await eventually(`${name} has written its log files`, async () => {
      await lstat(path.join(work, 'root', 'pod', name, 'container', 'main', 'logs', 'ready.txt'));
      return true;
    });
});

after(async () => {
  await agent?.cleanUp();
  for (const client of clients) client.close();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test("the list holds the container's log files and its app's, not the links", async () => {
  const reply = await get(files('team-a', 'writer'));
  assert.equal(reply.status, 200, reply.body);
  const listed = (JSON.parse(reply.body) as { files: { path: string; size: number; modified: string }[] })
    .files;
  assert.deepEqual(
    listed.map((f) => f.path),
    ['container/logs/app.log', 'container/logs/ready.txt', 'app/archive/own.1', 'app/own.log'],
  );
  const app = listed[0];
  assert.ok(app && app.size > 0 && !Number.isNaN(Date.parse(app.modified)));
});

test('a file reads whole, or its last lines with tail_lines', async () => {
  const whole = await get(files('team-a', 'writer', '/container/logs/app.log'));
  assert.equal(whole.status, 200, whole.body);
  assert.equal(whole.body.split('\n').length, 51);
  const tail = await get(files('team-a', 'writer', '/container/logs/app.log?tail_lines=2'));
  assert.equal(tail.status, 200, tail.body);
  assert.equal(tail.body, 'app line 49\napp line 50\n');
  const own = await get(files('team-a', 'writer', '/app/own.log?tail_lines=1'));
  assert.equal(own.body, 'own 2\n');
});

test('traversal, absolute paths, links out of the root, directories, missing files and bad tail_lines are refused', async () => {
  const cases: [string, number][] = [
    ['/container/../../../../../../etc/passwd', 400],
    ['/container/logs/..%2f..%2f..%2f..%2fetc/passwd', 400],
    ['/container/%2e%2e/%2e%2e/%2e%2e/etc/passwd', 400],
    ['/container/logs%2f..%2f..%2fetc%2fpasswd', 400],
    ['//etc/passwd', 400],
    ['/container/logs/evil.log', 403],
    ['/container/logs/etc/passwd', 403],
    ['/container/logs', 400],
    ['/container/logs/missing.log', 404],
    ['/container/logs/app.log?tail_lines=-1', 400],
    ['/container/logs/app.log?tail_lines=ten', 400],
    ['/container/logs/app.log?follow=true', 400],
  ];
  for (const [rest, status] of cases) {
    const reply = await get(files('team-a', 'writer', rest));
    assert.equal(reply.status, status, `${rest}: ${reply.body}`);
    assert.ok(!reply.body.includes('root:x:0:0') && !reply.body.includes(passwd.slice(0, 40)), rest);
  }
});

test('a reader bound in team-a gets 403 for the log files of a pod in team-b', async () => {
  const list = await get(files('team-b', 'writer-b'));
  assert.equal(list.status, 403, list.body);
  const read = await get(files('team-b', 'writer-b', '/container/logs/app.log'));
  assert.equal(read.status, 403, read.body);
  assert.ok(!read.body.includes('app line'));
});

test('seer logs files lists and prints them with the caller’s token', async () => {
  const connection = connectionFromKubeconfig(cluster.kubeconfig);
  const reader = path.join(work, 'reader.kubeconfig');
  await writeFile(
    reader,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'test',
          cluster: {
            server: connection.server,
            'certificate-authority-data': connection.ca?.toString('base64'),
          },
        },
      ],
      users: [{ name: 'reader', user: { token: readerToken } }],
      contexts: [{ name: 'reader', context: { cluster: 'test', user: 'reader', namespace: 'team-a' } }],
      'current-context': 'reader',
    }),
  );
  const run = async (...args: string[]) => {
    let stdout = '';
    const output = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: () => true } };
    await createLogsCommand(output).run(['files', ...args, '--kubeconfig', reader]);
    return stdout;
  };
  const table = (await run('writer')).split('\n');
  assert.match(table[0] ?? '', /^PATH\s+SIZE\s+MODIFIED$/);
  assert.match(table[1] ?? '', /^container\/logs\/app\.log\s+\d+\s+\d{4}-\d\d-\d\dT/);
  assert.equal(table.length, 6);
  assert.equal(await run('writer', 'container/logs/app.log', '--tail', '1'), 'app line 50\n');
  await assert.rejects(run('writer', 'container/logs/evil.log'), /403/);
  await assert.rejects(run('writer-b', '-n', 'team-b'), /403/);
});
