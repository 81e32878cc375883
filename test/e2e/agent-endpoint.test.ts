import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { sign, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, stat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { SeerNode, SeerPod } from '../../api/types.js';
import { createLogsCommand } from '../../cli/commands/logs.js';
import { UsageError } from '../../cli/command.js';
import { addNode } from '../../cli/commands/node-credentials.js';
import { issueCertificate, type KeyPair } from '../../common/certificates.js';
import { repoPath } from '../../common/paths.js';
import { connectionFromKubeconfig, RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { runCommand, startTestCluster, type TestCluster } from '../support/control-plane.js';
import { makePackage, seerPod } from '../support/pods.js';
import { applyChartUserRoles, userKubeconfig as sharedUserKubeconfig } from '../support/endpoint-users.js';

const NODE = 'ep';

let cluster: TestCluster;
let admin: SeerClient;
let work: string;
let agent: AgentProcess | undefined;
let nodeToken: string;
let otherNodeToken: string;
let readerToken: string;
let aliceCert: KeyPair;
let ca: string;
let port: number;
const clients: RestClient[] = [];

interface Reply {
  status: number;
  body: string;
}

/** GET on the agent's endpoint, trusting what its SeerNode publishes, with these credentials. */
function get(urlPath: string, credentials: { token?: string; cert?: KeyPair } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        ca,
        cert: credentials.cert?.cert,
        key: credentials.cert?.key,
        headers: credentials.token ? { authorization: `Bearer ${credentials.token}` } : {},
      },
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

const logs = (namespace: string, pod: string, container = 'main', query = '') =>
  `/pods/${namespace}/${pod}/containers/${container}/logs${query ? `?${query}` : ''}`;

async function tokenFrom(kubeconfig: string): Promise<string> {
  const token = connectionFromKubeconfig(kubeconfig).token;
  assert.ok(token);
  return token;
}

async function printerPod(
  name: string,
  namespace: string,
  node = NODE,
  labels: Record<string, string> = {},
): Promise<SeerPod> {
  const pkg = await makePackage({
    'run.sh': `#!/bin/sh
i=1
while [ $i -le 20 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done
exec sleep 3600
`,
  });
  const pod = seerPod(
    name,
    {
      node_name: node,
      containers: [
        { name: 'main', package: pkg.reference, commands: { start: './run.sh' }, restart_policy: 'never' },
      ],
    },
    namespace,
  );
  pod.metadata.labels = labels;
  return admin.create('SeerPod', pod);
}

before(async () => {
  cluster = await startTestCluster({ crds: true });
  const rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  clients.push(rest);
  admin = new SeerClient(rest);
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-endpoint-'));
  const connection = connectionFromKubeconfig(cluster.kubeconfig);
  const options = { server: connection.server, caData: connection.ca };
  const kubeconfig = path.join(work, 'node.kubeconfig');
  await writeFile(kubeconfig, await addNode(rest, NODE, options));
  nodeToken = await tokenFrom(kubeconfig);
  const otherKubeconfig = path.join(work, 'other.kubeconfig');
  await writeFile(otherKubeconfig, await addNode(rest, 'other', options));
  otherNodeToken = await tokenFrom(otherKubeconfig);

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
    '--user=alice',
  ]);
  // seer logs reads the pods' SeerNodes to find their agents.
  await cluster.kubectlOk([
    'create',
    'clusterrolebinding',
    'node-readers',
    '--clusterrole=seer-node-reader',
    '--serviceaccount=team-a:reader',
    '--user=alice',
  ]);
  readerToken = (await cluster.kubectlOk(['create', 'token', 'reader', '-n', 'team-a'])).trim();
  const pki = path.join(cluster.state.dir, 'pki');
  aliceCert = await issueCertificate(
    { commonName: 'alice', organizations: ['developers'], usages: ['client'] },
    {
      cert: await readFile(path.join(pki, 'ca.crt'), 'utf8'),
      key: await readFile(path.join(pki, 'ca.key'), 'utf8'),
    },
  );

  agent = await startAgentProcess({
    nodeName: NODE,
    root: path.join(work, 'root'),
    kubeconfig,
    args: [
      '--endpoint-port',
      '0',
      '--endpoint-address',
      '127.0.0.1',
      // Small, so that a fast writer's log rotates within a test.
      '--container-log-max-size',
      '64Ki',
      '--container-log-max-files',
      '3',
    ],
  });
  const endpoint = await eventually('the endpoint in the SeerNode status', async () => {
    const node: SeerNode = await admin.get('SeerNode', NODE);
    return node.status?.endpoint ?? undefined;
  });
  port = endpoint.port;
  ca = endpoint.ca_certificates;
  await printerPod('printer', 'team-a', NODE, { app: 'printers' });
  await printerPod('printer-2', 'team-a', NODE, { app: 'printers', 'seer.io/deployment': 'web' });
  // Another name: a host keeps pods by name (<root>/pod/<pod>).
  await printerPod('printer-b', 'team-b');
  await printerPod('elsewhere', 'team-a', 'other');
  for (const [namespace, name] of [
    ['team-a', 'printer'],
    ['team-a', 'printer-2'],
    ['team-b', 'printer-b'],
  ] as const) {
    await eventually(`${name} in ${namespace} has written its lines`, async () => {
      const pod = await admin.get('SeerPod', name, namespace);
      if (!pod.status?.container_statuses?.[0]?.state?.running) return false;
      const out = await readFile(path.join(work, 'root', 'pod', name, 'log', 'main.stdout.log'), 'utf8');
      return out.includes('out 20\n');
    });
  }
});

after(async () => {
  await agent?.cleanUp();
  for (const client of clients) client.close();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('the SeerNode publishes the endpoint; its self-signed certificate names the node and is kept under the root', async () => {
  assert.ok(port > 0);
  assert.match(ca, /^-----BEGIN CERTIFICATE-----/);
  assert.equal(await readFile(path.join(work, 'root', 'endpoint', 'serving.crt'), 'utf8'), ca);
  const names = new X509Certificate(ca).subjectAltName ?? '';
  for (const name of ['DNS:ep', `DNS:${os.hostname()}`, 'IP Address:127.0.0.1'])
    assert.ok(names.includes(name), names);
  // Verified against the published certificate, for the node's address (the client checks it).
  const reply = await get(logs('team-a', 'printer'));
  assert.equal(reply.status, 401);
});

test('no credentials, a token the API server does not know, or a malformed header: 401', async () => {
  const none = await get(logs('team-a', 'printer'));
  assert.equal(none.status, 401);
  assert.match(none.body, /no credentials/);
  const invalid = await get(logs('team-a', 'printer'), { token: 'not-a-real-token' });
  assert.equal(invalid.status, 401);
  assert.match(invalid.body, /invalid bearer token/);
  const tampered = await get(logs('team-a', 'printer'), { token: `${readerToken}x` });
  assert.equal(tampered.status, 401);
  // Signed again with the cluster's key: accepted while valid, refused once expired.
  const renewed = await get(logs('team-a', 'printer'), { token: await resigned(readerToken, 600) });
  assert.equal(renewed.status, 200, renewed.body);
  const expired = await get(logs('team-a', 'printer'), { token: await resigned(readerToken, -60) });
  assert.equal(expired.status, 401, expired.body);
  assert.match(expired.body, /invalid bearer token/);
});

/** The same service-account token expiring `expiresIn` seconds from now, signed with the cluster's key. */
async function resigned(token: string, expiresIn: number): Promise<string> {
  const [header = '', payload = ''] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  Object.assign(claims, { iat: now - 3600, nbf: now - 3600, exp: now + expiresIn });
  const body = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const key = await readFile(path.join(cluster.state.dir, 'pki', 'sa.key'), 'utf8');
  const signature = sign('sha256', Buffer.from(body), { key, dsaEncoding: 'ieee-p1363' });
  return `${body}.${signature.toString('base64url')}`;
}

test('a ServiceAccount bound to seer-logs-reader reads logs in its namespace, and gets 403 in another', async () => {
  const reply = await get(logs('team-a', 'printer', 'main', 'stream=stdout'), { token: readerToken });
  assert.equal(reply.status, 200, reply.body);
  assert.equal(reply.body, Array.from({ length: 20 }, (_, i) => `out ${i + 1}\n`).join(''));
  const denied = await get(logs('team-b', 'printer-b'), { token: readerToken });
  assert.equal(denied.status, 403);
  assert.match(
    denied.body,
    /user "system:serviceaccount:team-a:reader" cannot get seerpods\/log "printer-b" in namespace "team-b"/,
  );
});

test('a client certificate signed by the cluster CA authenticates its subject', async () => {
  const reply = await get(logs('team-a', 'printer', 'main', 'stream=stderr&tail_lines=2'), {
    cert: aliceCert,
  });
  assert.equal(reply.status, 200, reply.body);
  assert.equal(reply.body, 'err 19\nerr 20\n');
  const denied = await get(logs('team-b', 'printer-b'), { cert: aliceCert });
  assert.equal(denied.status, 403);
  assert.match(denied.body, /user "alice" cannot get seerpods\/log/);
  // Signed by another CA: not the cluster's user, whatever its name says.
  const stranger = await issueCertificate({ commonName: 'alice', usages: ['client'] });
  const refused = await get(logs('team-a', 'printer'), { cert: stranger });
  assert.equal(refused.status, 401);
});

test("a node agent's own credentials read no pod's log through a node's endpoint", async () => {
  for (const token of [nodeToken, otherNodeToken]) {
    const reply = await get(logs('team-a', 'printer'), { token });
    assert.equal(reply.status, 403, reply.body);
    assert.match(reply.body, /system:serviceaccount:seer-system:seer-node-/);
  }
});

test('tail_lines and stream on real output', async () => {
  const last = await get(logs('team-a', 'printer', 'main', 'stream=stdout&tail_lines=3'), {
    token: readerToken,
  });
  assert.equal(last.body, 'out 18\nout 19\nout 20\n');
  const none = await get(logs('team-a', 'printer', 'main', 'tail_lines=0'), { token: readerToken });
  assert.equal(none.status, 200);
  assert.equal(none.body, '');
  const all = await get(logs('team-a', 'printer', 'main', 'tail_lines=1'), { token: readerToken });
  assert.equal(all.body, 'out 20\nerr 20\n');
  const more = await get(logs('team-a', 'printer', 'main', 'stream=stderr&tail_lines=500'), {
    token: readerToken,
  });
  assert.equal(more.body.split('\n').length, 21);
});

test('bad input: each a clear 4xx', async () => {
  const cases: [string, number, RegExp][] = [
    [logs('team-a', 'printer', 'main', 'tail_lines=-1'), 400, /tail_lines must be a whole number/],
    [logs('team-a', 'printer', 'main', 'tail_lines=ten'), 400, /tail_lines must be a whole number/],
    [logs('team-a', 'printer', 'main', 'stream=both'), 400, /stream must be stdout, stderr or all/],
    [
      logs('team-a', 'printer', 'main', 'since_seconds=0'),
      400,
      /since_seconds must be a positive whole number/,
    ],
    [
      logs('team-a', 'printer', 'main', 'since_seconds=-5'),
      400,
      /since_seconds must be a positive whole number/,
    ],
    [
      logs('team-a', 'printer', 'main', 'since_seconds=5m'),
      400,
      /since_seconds must be a positive whole number/,
    ],
    [logs('team-a', 'printer', 'main', 'timestamps=1'), 400, /timestamps must be true or false/],
    [logs('team-a', 'printer', 'main', 'sinceTime=x'), 400, /unknown parameter "sinceTime"/],
    [logs('team-a', 'nobody'), 404, /pod team-a\/nobody not found/],
    [logs('team-a', 'printer', 'sidecar'), 404, /has no container "sidecar"/],
    [logs('team-a', 'elsewhere'), 404, /is not bound to node ep \(it is on other\)/],
    ['/pods/team-a/printer/containers/..%2F..%2Fetc/logs', 404, /no such path/],
    ['/pods/team-a/printer/logs', 404, /no such path/],
  ];
  for (const [urlPath, status, message] of cases) {
    const reply = await get(urlPath, { token: readerToken });
    assert.equal(reply.status, status, `${urlPath}: ${reply.body}`);
    assert.match(reply.body, message, urlPath);
  }
});

test('the serving certificate survives an agent restart', async () => {
  assert.ok(agent);
  await agent.stop();
  agent = await startAgentProcess({
    nodeName: NODE,
    root: agent.root,
    kubeconfig: path.join(work, 'node.kubeconfig'),
    args: ['--endpoint-port', '0', '--endpoint-address', '127.0.0.1'],
  });
  const endpoint = await eventually('the restarted endpoint in the SeerNode status', async () => {
    const node: SeerNode = await admin.get('SeerNode', NODE);
    return node.status?.endpoint && node.status.endpoint.port !== port ? node.status.endpoint : undefined;
  });
  assert.equal(endpoint.ca_certificates, ca);
  port = endpoint.port;
  const reply = await get(logs('team-a', 'printer', 'main', 'stream=stdout&tail_lines=1'), {
    token: readerToken,
  });
  assert.equal(reply.status, 200, reply.body);
  assert.equal(reply.body, 'out 20\n');
});

/** A kubeconfig for the test cluster with these user credentials, in team-a. */
const userKubeconfig = (name: string, user: Record<string, string>): Promise<string> =>
  sharedUserKubeconfig(cluster, work, name, user, 'team-a');

/** Runs `seer logs ARGS` in-process; resolves with what it printed. */
async function seerLogs(kubeconfig: string, ...args: string[]): Promise<string> {
  let stdout = '';
  const output = { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: () => true } };
  await createLogsCommand(output).run([...args, '--kubeconfig', kubeconfig]);
  return stdout;
}

test("seer logs reads through the node agent with the caller's token or client certificate", async () => {
  const reader = await userKubeconfig('reader', { token: readerToken });
  const alice = await userKubeconfig('alice', {
    'client-certificate-data': Buffer.from(aliceCert.cert).toString('base64'),
    'client-key-data': Buffer.from(aliceCert.key).toString('base64'),
  });
  // The context's namespace (team-a) is the default.
  assert.equal(await seerLogs(reader, 'printer', '--tail', '2', '--stream', 'stdout'), 'out 19\nout 20\n');
  assert.equal(await seerLogs(alice, 'spod/printer', '-c', 'main', '--tail=1'), 'out 20\nerr 20\n');
  assert.equal(
    await seerLogs(reader, '-l', 'app=printers', '--tail', '1', '--stream', 'stderr'),
    '[printer/main] err 20\n[printer-2/main] err 20\n',
  );
  await admin.create('SeerDeployment', {
    apiVersion: 'seer.io/v1alpha1',
    kind: 'SeerDeployment',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: {
      replicas: 0,
      template: {
        spec: { containers: [{ name: 'main', package: 'file:///x.tar.gz', commands: { start: 'true' } }] },
      },
    },
  });
  assert.equal(
    await seerLogs(reader, 'deploy/web', '--tail', '1', '--stream', 'stdout', '--prefix'),
    '[printer-2/main] out 20\n',
  );
  await assert.rejects(
    seerLogs(reader, 'printer-b', '-n', 'team-b'),
    // The reader may not even get the pod in team-b.
    /forbidden/i,
  );
  await assert.rejects(seerLogs(alice, 'elsewhere'), /node other publishes no endpoint|not found/);
  await assert.rejects(seerLogs(reader, 'printer', '--tail=-3'), /--tail must be a whole number/);
  await assert.rejects(
    seerLogs(reader, 'printer', '-c', 'sidecar'),
    /container "sidecar" is not in pod printer/,
  );
  await assert.rejects(seerLogs(reader, 'node/x'), /reads seerpods and seerdeployments, not node/);

  // As a kubectl plugin: kubectl runs kubectl-seer from PATH with the rest of its arguments.
  const manifest = JSON.parse(await readFile(repoPath('package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.equal(manifest.bin['kubectl-seer'], 'dist/cli/main.js');
  const bin = path.join(work, 'bin');
  await mkdir(bin, { recursive: true });
  const plugin = path.join(bin, 'kubectl-seer');
  await writeFile(
    plugin,
    `#!/bin/sh\nexec "${process.execPath}" "${repoPath(manifest.bin['kubectl-seer'])}" "$@"\n`,
  );
  await chmod(plugin, 0o755);
  const result = await runCommand(
    cluster.binaries.kubectl,
    ['seer', 'logs', 'printer', '--tail', '1', '--stream', 'stdout', '--kubeconfig', reader],
    {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'out 20\n');
});

test('previous: the log of the run before the current one', async () => {
  const pkg = await makePackage({
    // The first run fails; the second stays up.
    'run.sh': `#!/bin/sh
n=$(cat runs 2>/dev/null || echo 0)
n=$((n+1))
echo $n > runs
echo "run $n"
echo "run $n complains" >&2
[ $n -ge 2 ] || exit 1
exec sleep 3600
`,
  });
  const pod = seerPod(
    'restarter',
    {
      node_name: NODE,
      containers: [
        { name: 'main', package: pkg.reference, commands: { start: './run.sh' }, restart_policy: 'always' },
      ],
    },
    'team-a',
  );
  await admin.create('SeerPod', pod);
  await eventually('the second run', async () => {
    const status = (await admin.get('SeerPod', 'restarter', 'team-a')).status?.container_statuses?.[0];
    return status?.restart_count === 1 && status.state?.running !== undefined;
  });
  const current = await eventually('the second run has written', async () => {
    const reply = await get(logs('team-a', 'restarter'), { token: readerToken });
    return reply.body.includes('run 2 complains') ? reply : undefined;
  });
  assert.equal(current.body, 'run 2\nrun 2 complains\n');
  const previous = await get(logs('team-a', 'restarter', 'main', 'previous=true'), { token: readerToken });
  assert.equal(previous.status, 200, previous.body);
  assert.equal(previous.body, 'run 1\nrun 1 complains\n');
  const stderr = await get(logs('team-a', 'restarter', 'main', 'previous=true&stream=stderr'), {
    token: readerToken,
  });
  assert.equal(stderr.body, 'run 1 complains\n');
  const reader = await userKubeconfig('reader', { token: readerToken });
  assert.equal(await seerLogs(reader, 'restarter', '--previous', '--stream', 'stdout'), 'run 1\n');

  // A container that has run once has no previous log.
  const none = await get(logs('team-a', 'printer', 'main', 'previous=true'), { token: readerToken });
  assert.equal(none.status, 404);
  assert.match(none.body, /container main of pod team-a\/printer has no previous run/);
  const bad = await get(logs('team-a', 'printer', 'main', 'previous=yes'), { token: readerToken });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /previous must be true or false/);
});

/**
 * GET with follow: what arrived within `ms` (and, with `until`, once it also holds, checked every
 * 100 ms, for at most 30 s), then the connection is dropped.
 */
function followFor(
  urlPath: string,
  token: string,
  ms: number,
  until?: () => Promise<boolean>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let body = '';
    const request = https.get(
      { host: '127.0.0.1', port, path: urlPath, ca, headers: { authorization: `Bearer ${token}` } },
      (response) => {
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        const started = Date.now();
        const finish = async () => {
          const elapsed = Date.now() - started;
          if (elapsed < ms || (until && elapsed < 30_000 && !(await until()))) {
            setTimeout(() => void finish(), 100);
            return;
          }
          request.destroy();
          resolve({ status: response.statusCode ?? 0, body });
        };
        setTimeout(() => void finish(), Math.min(ms, 100));
      },
    );
    request.on('error', (error) => (request.destroyed ? undefined : reject(error)));
  });
}

test('follow streams what the container writes, from tail_lines on, each line once; seer logs -f too', async () => {
  const pkg = await makePackage({
    'run.sh': '#!/bin/sh\ni=0\nwhile :; do i=$((i+1)); echo "line $i"; sleep 0.01; done\n',
  });
  await admin.create(
    'SeerPod',
    seerPod(
      'counter',
      {
        node_name: NODE,
        containers: [
          { name: 'main', package: pkg.reference, commands: { start: './run.sh' }, restart_policy: 'never' },
        ],
      },
      'team-a',
    ),
  );
  await eventually('counter has counted', async () => {
    const reply = await get(logs('team-a', 'counter', 'main', 'tail_lines=1'), { token: readerToken });
    return /line (\d{2,})/.test(reply.body);
  });
  const reply = await followFor(
    logs('team-a', 'counter', 'main', 'follow=true&tail_lines=3&stream=stdout'),
    readerToken,
    1500,
  );
  assert.equal(reply.status, 200);
  const seen = reply.body
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(/^line (\d+)$/.exec(line)?.[1]));
  const first = seen[0] ?? 0;
  assert.ok(seen.length > 20, `followed ${seen.length} lines`);
  assert.deepEqual(
    seen,
    Array.from({ length: seen.length }, (_, i) => first + i),
  );
  const bad = await get(logs('team-a', 'counter', 'main', 'follow=yes'), { token: readerToken });
  assert.equal(bad.status, 400);

  // The command, until interrupted.
  const reader = await userKubeconfig('reader', { token: readerToken });
  const child = spawn(
    process.execPath,
    [repoPath('dist', 'cli', 'main.js'), 'logs', 'counter', '-f', '--tail', '1', '--kubeconfig', reader],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let printed = '';
  child.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  await eventually(
    'seer logs -f printing new lines',
    () => printed.split('\n').filter(Boolean).length > 10,
    10_000,
  );
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  const numbers = printed
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(/^line (\d+)$/.exec(line)?.[1]));
  assert.deepEqual(
    numbers,
    Array.from({ length: numbers.length }, (_, i) => (numbers[0] ?? 0) + i),
  );
});

const STAMPED = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)$/;

/** Each line's stamp (ms) and text; every line must carry one. */
function stampedLines(text: string): { ms: number; text: string }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = STAMPED.exec(line);
      assert.ok(match, `not stamped: ${line}`);
      return { ms: Date.parse(match[1] ?? ''), text: match[2] ?? '' };
    });
}

test('timestamps and since_seconds: when each line was written, and only the recent ones', async () => {
  const pkg = await makePackage({
    'run.sh': '#!/bin/sh\necho early\nsleep 3\necho late\necho "late too" >&2\nexec sleep 3600\n',
  });
  await admin.create(
    'SeerPod',
    seerPod(
      'clock',
      {
        node_name: NODE,
        containers: [
          { name: 'main', package: pkg.reference, commands: { start: './run.sh' }, restart_policy: 'never' },
        ],
      },
      'team-a',
    ),
  );
  const started = Date.now();
  const stamped = await eventually('both lines written', async () => {
    const reply = await get(logs('team-a', 'clock', 'main', 'timestamps=true'), { token: readerToken });
    return reply.body.includes('late too') ? reply : undefined;
  });
  assert.equal(stamped.status, 200, stamped.body);
  const lines = stampedLines(stamped.body);
  assert.deepEqual(
    lines.map(({ text }) => text),
    ['early', 'late', 'late too'],
  );
  const [early, late] = lines.map(({ ms }) => ms);
  assert.ok(early !== undefined && late !== undefined);
  assert.ok(late - early >= 2500 && late - early < 4500, `written ${late - early} ms apart`);
  assert.ok(early >= started - 60_000 && late <= Date.now(), 'stamps of this run');

  // Read at once: the late lines are younger than 2 s, the early one is older.
  const recent = await get(logs('team-a', 'clock', 'main', 'since_seconds=2'), { token: readerToken });
  assert.equal(recent.body, 'late\nlate too\n');
  const hour = await get(logs('team-a', 'clock', 'main', 'since_seconds=3600&tail_lines=1&stream=stdout'), {
    token: readerToken,
  });
  assert.equal(hour.body, 'late\n', 'since, then the last line of those');
  const followed = await followFor(
    logs('team-a', 'clock', 'main', 'follow=true&timestamps=true&stream=stdout'),
    readerToken,
    500,
  );
  assert.deepEqual(
    stampedLines(followed.body).map(({ text }) => text),
    ['early', 'late'],
  );

  const reader = await userKubeconfig('reader', { token: readerToken });
  const printed = stampedLines(
    await seerLogs(reader, 'clock', '--timestamps', '--since', '1h', '--stream', 'stdout'),
  );
  assert.deepEqual(
    printed.map(({ ms, text }) => [ms, text]),
    lines.slice(0, 2).map(({ ms, text }) => [ms, text]),
  );
  for (const bad of ['0', '-5m', 'soon', '5 m'])
    await assert.rejects(seerLogs(reader, 'clock', `--since=${bad}`), UsageError, bad);
  await admin.delete('SeerPod', { metadata: { name: 'clock', namespace: 'team-a' } });
});

test('follow across rotations of a fast writer loses and repeats no line', async () => {
  const pkg = await makePackage({
    'run.sh': '#!/bin/sh\ni=0\nwhile :; do i=$((i+1)); echo "line $i"; done\n',
  });
  await admin.create(
    'SeerPod',
    seerPod(
      'firehose',
      {
        node_name: NODE,
        containers: [
          { name: 'main', package: pkg.reference, commands: { start: './run.sh' }, restart_policy: 'never' },
        ],
      },
      'team-a',
    ),
  );
  const live = path.join(work, 'root', 'pod', 'firehose', 'log', 'main.stdout.log');
  await eventually('firehose writing', async () => (await readFile(live, 'utf8').catch(() => '')).length > 0);
  // `.1` is briefly absent or empty while a rotation shifts it to `.2`: any rotated file with
  // content shows a rotation. A slow host may take longer than the window to fill the first file.
  let rotated = false;
  const reply = await followFor(
    logs('team-a', 'firehose', 'main', 'follow=true&tail_lines=1&stream=stdout'),
    readerToken,
    3500,
    async () => {
      const sizes = await Promise.all(
        [1, 2, 3].map((n) =>
          stat(`${live}.${n}`).then(
            (info) => info.size,
            () => 0,
          ),
        ),
      );
      rotated ||= sizes.some((size) => size > 0);
      return rotated;
    },
  );
  assert.ok(rotated, 'the log has rotated while it was followed');
  await admin.delete('SeerPod', { metadata: { name: 'firehose', namespace: 'team-a' } });
  assert.equal(reply.status, 200);
  const lines = reply.body.split('\n');
  lines.pop(); // cut off mid-line when the connection was dropped
  const seen = lines.map((line) => Number(/^line (\d+)$/.exec(line)?.[1]));
  const first = seen[0] ?? 0;
  // 64Ki files at more than that a second: the log has rotated several times meanwhile.
  assert.ok(seen.length > 50_000, `followed ${seen.length} lines`);
  assert.ok(
    seen.every((n, i) => n === first + i),
    `first gap after line ${seen.find((n, i) => n !== first + i) ?? ''}`,
  );
});
