import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { SeerNode } from '../../api/types.js';
import type { ScrapeTargetGroup } from '../../cli/commands/node-targets.js';
import { RestClient } from '../../kube/rest.js';
import { repoPath } from '../../common/paths.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { runCommand, startTestCluster, type TestCluster } from '../support/control-plane.js';
import { makePackage, seerPod } from '../support/pods.js';
import { applyChartUserRoles, nodeKubeconfig } from '../support/endpoint-users.js';

const NODE = 'metrics-node';

let cluster: TestCluster;
let admin: SeerClient;
let rest: RestClient;
let work: string;
let agent: AgentProcess | undefined;
let scraperToken: string;
let strangerToken: string;
let ca: string;
let port: number;

interface Reply {
  status: number;
  body: string;
  contentType: string;
}

/** GET on the agent's endpoint at `host:port`, trusting `trust`, with this bearer token. */
function get(urlPath: string, token?: string, target = { host: '127.0.0.1', port, ca }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      {
        host: target.host,
        port: target.port,
        path: urlPath,
        ca: target.ca,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            contentType: String(response.headers['content-type'] ?? ''),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

/** The value of the one series `name{labels}` in a metrics text. */
function value(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const LABELS = 'namespace="shop",pod="worker",container="main"';

before(async () => {
  cluster = await startTestCluster({ crds: true });
  rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  admin = new SeerClient(rest);
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-metrics-'));
  const kubeconfig = await nodeKubeconfig(cluster, rest, NODE, work);

  await applyChartUserRoles(cluster);
  await cluster.kubectlOk(['create', 'namespace', 'monitoring']);
  await cluster.kubectlOk(['create', 'namespace', 'shop']);
  for (const account of ['prometheus', 'stranger'])
    await cluster.kubectlOk(['create', 'serviceaccount', account, '-n', 'monitoring']);
  await cluster.kubectlOk([
    'create',
    'clusterrolebinding',
    'prometheus-scrapes-agents',
    '--clusterrole=seer-metrics-reader',
    '--serviceaccount=monitoring:prometheus',
  ]);
  // Reading SeerNodes is not reading their metrics.
  await cluster.kubectlOk([
    'create',
    'clusterrolebinding',
    'stranger-reads-nodes',
    '--clusterrole=seer-node-reader',
    '--serviceaccount=monitoring:stranger',
  ]);
  scraperToken = (await cluster.kubectlOk(['create', 'token', 'prometheus', '-n', 'monitoring'])).trim();
  strangerToken = (await cluster.kubectlOk(['create', 'token', 'stranger', '-n', 'monitoring'])).trim();

  agent = await startAgentProcess({
    nodeName: NODE,
    root: path.join(work, 'root'),
    kubeconfig,
    args: ['--endpoint-port', '0', '--endpoint-address', '127.0.0.1', '--address', '127.0.0.1'],
  });
  const endpoint = await eventually('the endpoint in the SeerNode status', async () => {
    const node: SeerNode = await admin.get('SeerNode', NODE);
    return node.status?.endpoint ?? undefined;
  });
  port = endpoint.port;
  ca = endpoint.ca_certificates;

  const pkg = await makePackage({
    // The first run fails; the second keeps a shell and two children up.
    'run.sh': `#!/bin/sh
n=$(cat runs 2>/dev/null || echo 0)
n=$((n+1))
echo $n > runs
[ $n -ge 2 ] || exit 1
sleep 3600 &
sleep 3600 &
wait
`,
  });
  await admin.create(
    'SeerPod',
    seerPod(
      'worker',
      {
        node_name: NODE,
        containers: [
          { name: 'main', package: pkg.reference, commands: { start: './run.sh' }, restart_policy: 'always' },
        ],
      },
      'shop',
    ),
  );
  await eventually('the second run', async () => {
    const status = (await admin.get('SeerPod', 'worker', 'shop')).status?.container_statuses?.[0];
    return status?.restart_count === 1 && status.state?.running !== undefined;
  });
});

after(async () => {
  await agent?.cleanUp();
  rest?.close();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test("a ServiceAccount bound to seer-metrics-reader scrapes the container's process tree, its restarts and the cache", async () => {
  // Its two children are forked once the second run has started.
  const reply = await eventually('the container with its children', async () => {
    const scraped = await get('/metrics', scraperToken);
    assert.equal(scraped.status, 200, scraped.body);
    return value(scraped.body, 'seer_container_processes', LABELS) === 3 ? scraped : undefined;
  });
  assert.match(reply.contentType, /^text\/plain; version=0\.0\.4/);
  assert.equal(value(reply.body, 'seer_container_restarts_total', LABELS), 1);
  assert.ok((value(reply.body, 'seer_container_memory_resident_bytes', LABELS) ?? 0) > 0);
  // stdin, stdout and stderr at least, for each of the three.
  assert.ok((value(reply.body, 'seer_container_open_fds', LABELS) ?? 0) >= 9);
  assert.ok((value(reply.body, 'seer_container_cpu_seconds_total', LABELS) ?? -1) >= 0);
  const started = value(reply.body, 'seer_container_start_time_seconds', LABELS) ?? 0;
  assert.ok(Math.abs(started - Date.now() / 1000) < 120, `started at ${started}`);
  assert.match(reply.body, /^seer_package_cache_packages 1$/m);
  assert.match(reply.body, /^seer_package_cache_bytes [1-9]\d*$/m);
  // The agent's own process.
  assert.match(reply.body, /^process_resident_memory_bytes [1-9]/m);
});

test('scraping is cheap: the mean of 20 scrapes', async (t) => {
  const started = performance.now();
  for (let i = 0; i < 20; i++) assert.equal((await get('/metrics', scraperToken)).status, 200);
  const meanMs = (performance.now() - started) / 20;
  t.diagnostic(
    `mean /metrics request (TokenReview + SubjectAccessReview + /proc pass): ${meanMs.toFixed(1)} ms`,
  );
  assert.ok(meanMs < 500, `${meanMs} ms`);
});

test('a user without seer-metrics-reader: 403 saying what was refused; no credentials: 401', async () => {
  const denied = await get('/metrics', strangerToken);
  assert.equal(denied.status, 403);
  assert.match(
    denied.body,
    new RegExp(`user "system:serviceaccount:monitoring:stranger" cannot get seernodes/metrics "${NODE}"`),
  );
  assert.doesNotMatch(denied.body, /in namespace/);
  const none = await get('/metrics');
  assert.equal(none.status, 401);
  assert.match(none.body, /no credentials/);
});

test('seer node targets lists the endpoint; a client trusting the CA file it writes scrapes that target', async () => {
  const caFile = path.join(work, 'agents-ca.pem');
  const result = await runCommand(process.execPath, [
    repoPath('dist', 'cli', 'main.js'),
    'node',
    'targets',
    '--kubeconfig',
    cluster.kubeconfig,
    '--ca-file',
    caFile,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const groups = JSON.parse(result.stdout) as ScrapeTargetGroup[];
  assert.deepEqual(groups, [{ targets: [`127.0.0.1:${port}`], labels: { seer_node: NODE } }]);
  const [host = '', targetPort = ''] = groups[0]?.targets[0]?.split(':') ?? [];
  const reply = await get('/metrics', scraperToken, {
    host,
    port: Number(targetPort),
    ca: await readFile(caFile, 'utf8'),
  });
  assert.equal(reply.status, 200, reply.body);
  const yaml = await runCommand(process.execPath, [
    repoPath('dist', 'cli', 'main.js'),
    'node',
    'targets',
    '-o',
    'yaml',
    '--kubeconfig',
    cluster.kubeconfig,
  ]);
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.match(
    yaml.stdout,
    new RegExp(`- targets:\\n\\s+- 127\\.0\\.0\\.1:${port}\\n\\s+labels:\\n\\s+seer_node: ${NODE}`),
  );
});
