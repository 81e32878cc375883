import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pty from '@lydell/node-pty';
import WebSocket from 'ws';
import type { SeerNode } from '../../api/types.js';
import {
  Channel,
  decodeFrame,
  encodeFrame,
  parseStatus,
  PROTOCOL_V4,
  PROTOCOLS,
  statusExitCode,
} from '../../common/channel-frames.js';
import { repoPath } from '../../common/paths.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { runCommand, startTestCluster, type TestCluster } from '../support/control-plane.js';
import { applyChartUserRoles, nodeKubeconfig, userKubeconfig } from '../support/endpoint-users.js';
import { makePackage, seerPod } from '../support/pods.js';
import { alive } from '../support/processes.js';

const NODE = 'exec-node';
const NS = 'team-a';
const asRoot = process.getuid?.() === 0;

let cluster: TestCluster;
let admin: SeerClient;
let rest: RestClient;
let work: string;
let agent: AgentProcess | undefined;
let runnerToken: string;
let readerToken: string;
let runnerKubeconfig: string;
let ca: string;
let port: number;

interface Reply {
  status: number;
  body: string;
}

/** A request to the agent's endpoint, trusting what its SeerNode publishes, with this bearer token. */
function request(
  method: string,
  urlPath: string,
  token: string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const outgoing = https.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        ca,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(text ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
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
    outgoing.on('error', reject);
    outgoing.end(text);
  });
}

const execPath = (pod: string, query = '', container = 'main', namespace = NS) =>
  `/pods/${namespace}/${pod}/containers/${container}/exec${query ? `?${query}` : ''}`;

const argvQuery = (argv: string[], extra: Record<string, string> = {}) => {
  const query = new URLSearchParams();
  for (const word of argv) query.append('command', word);
  for (const [name, value] of Object.entries(extra)) query.set(name, value);
  return query.toString();
};

interface ExecReply {
  exit_code: number;
  signal?: string;
  timed_out: boolean;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
}

/** POST exec in `pod`, as the runner; the reply must be a 200. */
async function exec(
  pod: string,
  body: { command: string[]; stdin?: string; timeout_seconds?: number },
): Promise<ExecReply> {
  const reply = await request('POST', execPath(pod), runnerToken, body);
  assert.equal(reply.status, 200, reply.body);
  return JSON.parse(reply.body) as ExecReply;
}

/** What a WebSocket exec printed on each channel, and its status's exit code. */
interface Session {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  status: string;
}

function openSocket(urlPath: string, token = runnerToken, protocols = PROTOCOLS): WebSocket {
  return new WebSocket(`wss://127.0.0.1:${port}${urlPath}`, protocols, {
    ca,
    headers: { authorization: `Bearer ${token}` },
  });
}

/** Runs a WebSocket exec to its end, sending `input` on stdin then closing it (v5). */
function streamExec(urlPath: string, input?: string, protocols = PROTOCOLS): Promise<Session> {
  return new Promise((resolve, reject) => {
    const socket = openSocket(urlPath, runnerToken, protocols);
    const session: Session = { stdout: '', stderr: '', exitCode: undefined, status: '' };
    socket.on('open', () => {
      assert.equal(socket.protocol, protocols[0]);
      if (input !== undefined) {
        socket.send(encodeFrame(Channel.stdin, input));
        socket.send(Buffer.of(Channel.close, Channel.stdin));
      }
    });
    socket.on('message', (message: Buffer) => {
      const frame = decodeFrame(message);
      if (frame.channel === Channel.stdout) session.stdout += frame.data.toString();
      else if (frame.channel === Channel.stderr) session.stderr += frame.data.toString();
      else if (frame.channel === Channel.status) {
        session.status = frame.data.toString();
        session.exitCode = statusExitCode(parseStatus(frame.data));
      }
    });
    socket.on('unexpected-response', (_request, response) =>
      reject(new Error(`refused with ${response.statusCode ?? 0}`)),
    );
    socket.on('error', reject);
    socket.on('close', () => resolve(session));
  });
}

/** The HTTP status and body with which the endpoint refuses a WebSocket upgrade. */
function refusedUpgrade(urlPath: string, token?: string, protocols = PROTOCOLS): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`wss://127.0.0.1:${port}${urlPath}`, protocols, {
      ca,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    socket.on('open', () => reject(new Error('the upgrade was accepted')));
    socket.on('error', reject);
    socket.on('unexpected-response', (outgoing, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        outgoing.destroy();
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
  });
}

/** `seer exec ARGS` as a process, with the runner's kubeconfig. */
function seerExec(args: string[], input?: string) {
  return runCommand(
    process.execPath,
    [repoPath('dist', 'cli', 'main.js'), 'exec', '--kubeconfig', runnerKubeconfig, ...args],
    {
      input,
    },
  );
}

/** What the container printed: its log. */
const seenBy = (container: string) =>
  readFile(path.join(work, 'root', 'pod', 'shell', 'log', `${container}.stdout.log`), 'utf8');

/** The container prints what its process sees: directory, user and environment, then sleeps. */
const SHOWER = `#!/bin/sh
echo "cwd=$(pwd)"; echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"; env | sort
exec sleep 3600
`;

before(async () => {
  cluster = await startTestCluster({ crds: true });
  rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  admin = new SeerClient(rest);
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-exec-'));
  const kubeconfig = await nodeKubeconfig(cluster, rest, NODE, work);

  await applyChartUserRoles(cluster);
  await cluster.kubectlOk(['create', 'namespace', NS]);
  for (const account of ['runner', 'reader'])
    await cluster.kubectlOk(['create', 'serviceaccount', account, '-n', NS]);
  await cluster.kubectlOk([
    'create',
    'rolebinding',
    'runners',
    '-n',
    NS,
    '--clusterrole=seer-exec',
    `--serviceaccount=${NS}:runner`,
  ]);
  await cluster.kubectlOk([
    'create',
    'rolebinding',
    'readers',
    '-n',
    NS,
    '--clusterrole=seer-logs-reader',
    `--serviceaccount=${NS}:reader`,
  ]);
  // seer exec reads the pod's SeerNode to find its agent.
  await cluster.kubectlOk([
    'create',
    'clusterrolebinding',
    'node-readers',
    '--clusterrole=seer-node-reader',
    `--serviceaccount=${NS}:runner`,
  ]);
  runnerToken = (await cluster.kubectlOk(['create', 'token', 'runner', '-n', NS])).trim();
  readerToken = (await cluster.kubectlOk(['create', 'token', 'reader', '-n', NS])).trim();
  runnerKubeconfig = await userKubeconfig(cluster, work, 'runner', { token: runnerToken }, NS);

  agent = await startAgentProcess({ nodeName: NODE, root: path.join(work, 'root'), kubeconfig });
  const endpoint = await eventually('the endpoint in the SeerNode status', async () => {
    const node: SeerNode = await admin.get('SeerNode', NODE);
    return node.status?.endpoint ?? undefined;
  });
  port = endpoint.port;
  ca = endpoint.ca_certificates;

  const shower = await makePackage({ 'show.sh': SHOWER });
  const finished = await makePackage({ 'done.sh': '#!/bin/sh\nexit 0\n' });
  const container = (name: string, start: string, reference: string) => ({
    name,
    package: reference,
    commands: { start },
    restart_policy: 'never' as const,
    env: [{ name: 'GREETING', value: 'hello from the spec' }],
    ...(asRoot ? { user: 'nobody' } : {}),
  });
  await admin.create(
    'SeerPod',
    seerPod(
      'shell',
      {
        node_name: NODE,
        containers: [
          container('main', './show.sh', shower.reference),
          container('second', './show.sh', shower.reference),
        ],
      },
      NS,
    ),
  );
  await admin.create(
    'SeerPod',
    seerPod(
      'finished',
      { node_name: NODE, containers: [container('main', './done.sh', finished.reference)] },
      NS,
    ),
  );
  await admin.create(
    'SeerPod',
    seerPod(
      'elsewhere',
      { node_name: 'other-node', containers: [container('main', './show.sh', shower.reference)] },
      NS,
    ),
  );
  await eventually('shell running, and what it saw written', async () => {
    const pod = await admin.get('SeerPod', 'shell', NS);
    if (!pod.status?.container_statuses?.every((s) => s.state?.running)) return false;
    return (await seenBy('main')).includes('PATH=') && (await seenBy('second')).includes('PATH=');
  });
  await eventually('finished has terminated', async () => {
    const pod = await admin.get('SeerPod', 'finished', NS);
    return pod.status?.container_statuses?.[0]?.state?.terminated !== undefined;
  });
});

after(async () => {
  await agent?.cleanUp();
  rest?.close();
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('POST exec returns the exit code and the output, stdout and stderr apart', async () => {
  const reply = await exec('shell', { command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
  assert.deepEqual(reply, {
    exit_code: 3,
    timed_out: false,
    stdout: 'out\n',
    stderr: 'err\n',
    stdout_truncated: false,
    stderr_truncated: false,
  });
  // The query form, with no shell: the words as they are.
  const query = await request(
    'POST',
    execPath('shell', argvQuery(['printf', '%s|', 'a b', '$HOME'])),
    runnerToken,
  );
  assert.equal(query.status, 200, query.body);
  assert.equal((JSON.parse(query.body) as ExecReply).stdout, 'a b|$HOME|');
});

test("the command runs as the container's process does: its directory, user and environment", async () => {
  const seen = await seenBy('main');
  const reply = await exec('shell', {
    command: ['sh', '-c', 'echo "cwd=$(pwd)"; echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"; env | sort'],
  });
  assert.equal(reply.exit_code, 0, reply.stderr);
  assert.equal(reply.stdout, seen);
  assert.match(seen, /^GREETING=hello from the spec$/m);
  assert.match(seen, /^SEER_CONTAINER_NAME=main$/m);
  if (asRoot) assert.match(seen, /^USER=nobody$/m);
  // The other container's own directory and name.
  const other = await request('POST', execPath('shell', '', 'second'), runnerToken, {
    command: ['sh', '-c', 'pwd; echo $SEER_CONTAINER_NAME'],
  });
  assert.equal(
    (JSON.parse(other.body) as ExecReply).stdout,
    `${path.join(work, 'root', 'pod', 'shell', 'container', 'second')}\nsecond\n`,
  );
});

test('stdin reaches the command', async () => {
  const reply = await exec('shell', { command: ['sh', '-c', 'tr a-z A-Z; wc -l >&2'], stdin: 'one\ntwo\n' });
  assert.equal(reply.stdout, 'ONE\nTWO\n');
  assert.equal(reply.stderr.trim(), '0');
});

test('a timeout kills the command and everything it started', async () => {
  const started = Date.now();
  const reply = await exec('shell', {
    command: ['sh', '-c', 'sleep 1000 & echo $!; setsid sleep 1001 & echo $!; wait'],
    timeout_seconds: 1,
  });
  assert.equal(reply.timed_out, true);
  assert.equal(reply.exit_code, 137);
  assert.ok(Date.now() - started < 10_000);
  const pids = reply.stdout.trim().split('\n').map(Number);
  assert.equal(pids.length, 2);
  for (const pid of pids) await eventually(`sleep ${pid} gone`, () => !alive(pid));
});

/** The pids whose command line is exactly `argv`. */
async function pidsRunning(argv: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === `${argv.join('\0')}\0` && alive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}

test('a POST whose client goes away kills its command', async () => {
  const outgoing = https.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: execPath('shell'),
    ca,
    headers: { authorization: `Bearer ${runnerToken}`, 'content-type': 'application/json' },
  });
  outgoing.on('error', () => {});
  outgoing.end(JSON.stringify({ command: ['sleep', '1003'] }));
  const [pid] = await eventually('the command running', async () => {
    const pids = await pidsRunning(['sleep', '1003']);
    return pids.length === 1 ? pids : undefined;
  });
  outgoing.destroy();
  await eventually(`sleep ${pid ?? 0} gone`, () => pid !== undefined && !alive(pid));
});

test('who may exec: create on seerpods/exec; every refusal says why', async () => {
  const body = { command: ['true'] };
  const reader = await request('POST', execPath('shell'), readerToken, body);
  assert.equal(reader.status, 403);
  assert.match(
    reader.body,
    /user "system:serviceaccount:team-a:reader" cannot create seerpods\/exec "shell" in namespace "team-a"/,
  );
  const bad = await request('POST', execPath('shell'), 'not-a-token', body);
  assert.equal(bad.status, 401);
  assert.match(bad.body, /invalid bearer token/);
  const none = await request('POST', execPath('shell'), undefined, body);
  assert.equal(none.status, 401);
  assert.match(none.body, /no credentials/);
  const elsewhere = await request('POST', execPath('elsewhere'), runnerToken, body);
  assert.equal(elsewhere.status, 404);
  assert.match(elsewhere.body, /not bound to node exec-node \(it is on other-node\)/);
  const noContainer = await request('POST', execPath('shell', '', 'nope'), runnerToken, body);
  assert.equal(noContainer.status, 404);
  assert.match(noContainer.body, /has no container "nope"/);
  const missing = await request('POST', execPath('shell'), runnerToken, {});
  assert.equal(missing.status, 400);
  assert.match(missing.body, /command is required/);
  const timeout = await request('POST', execPath('shell', 'command=true&timeout_seconds=0'), runnerToken);
  assert.equal(timeout.status, 400);
  assert.match(timeout.body, /timeout_seconds must be a whole number/);
  const finished = await request('POST', execPath('finished'), runnerToken, body);
  assert.equal(finished.status, 409);
  assert.match(
    finished.body,
    /container main of pod team-a\/finished is not running \(terminated: Completed\)/,
  );
  const notFound = await exec('shell', { command: ['no-such-program'] });
  assert.equal(notFound.exit_code, 127);
  assert.match(notFound.stderr, /executable file not found in \$PATH/);
  // The same checks before a WebSocket upgrade, answered in plain HTTP.
  const query = argvQuery(['true']);
  assert.equal((await refusedUpgrade(execPath('shell', query), readerToken)).status, 403);
  assert.equal((await refusedUpgrade(execPath('shell', query))).status, 401);
  const other = await refusedUpgrade(execPath('elsewhere', query), runnerToken);
  assert.equal(other.status, 404);
  assert.match(other.body, /it is on other-node/);
  const noCommand = await refusedUpgrade(execPath('shell', 'tty=true'), runnerToken);
  assert.equal(noCommand.status, 400);
  assert.match(noCommand.body, /command is required/);
  const badFlag = await refusedUpgrade(execPath('shell', `${query}&stdin=yes`), runnerToken);
  assert.equal(badFlag.status, 400);
  assert.match(badFlag.body, /stdin must be true or false/);
  const protocol = await refusedUpgrade(execPath('shell', query), runnerToken, ['base64.channel.k8s.io']);
  assert.equal(protocol.status, 400);
  assert.match(protocol.body, /v5.channel.k8s.io and v4.channel.k8s.io/);
  const plainGet = await request('GET', execPath('shell', query), runnerToken);
  assert.equal(plainGet.status, 400);
  assert.match(plainGet.body, /needs a WebSocket upgrade/);
});

test('over a WebSocket: stdout and stderr on their channels, stdin closed by v5, the exit code in the status', async () => {
  const session = await streamExec(
    execPath('shell', argvQuery(['sh', '-c', 'cat; echo err >&2; exit 5'], { stdin: 'true' })),
    'typed\n',
  );
  assert.equal(session.stdout, 'typed\n');
  assert.equal(session.stderr, 'err\n');
  assert.equal(session.exitCode, 5);
  assert.deepEqual(JSON.parse(session.status), {
    metadata: {},
    status: 'Failure',
    message:
      'command terminated with non-zero exit code: ["sh","-c","cat; echo err >&2; exit 5"] exited with 5',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '5' }] },
  });
  const success = await streamExec(execPath('shell', argvQuery(['echo', 'hi'])));
  assert.deepEqual(JSON.parse(success.status), { metadata: {}, status: 'Success' });
  assert.equal(success.stdout, 'hi\n');
  // A v4 client: the same channels, without the close message.
  const v4 = await streamExec(execPath('shell', argvQuery(['sh', '-c', 'echo hi; exit 2'])), undefined, [
    PROTOCOL_V4,
  ]);
  assert.equal(v4.stdout, 'hi\n');
  assert.equal(v4.exitCode, 2);
});

test('closing the WebSocket kills what the command started', async () => {
  const socket = openSocket(
    execPath(
      'shell',
      argvQuery(['sh', '-c', 'echo "pid=$$"; exec sleep 1000'], { tty: 'true', stdin: 'true' }),
    ),
  );
  let output = '';
  socket.on('message', (message: Buffer) => (output += decodeFrame(message).data.toString()));
  const pid = Number(await eventually("the command's pid", () => /pid=(\d+)/.exec(output)?.[1]));
  assert.ok(alive(pid));
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  assert.match(cmdline, /^sleep\0 ?1000/);
  socket.close();
  await eventually(`sleep ${pid} gone`, () => !alive(pid));
});

test('seer exec: the output and the exit code of the command, -i passing stdin', async () => {
  const exit = await seerExec(['shell', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(exit.code, 3, exit.stderr);
  assert.equal(exit.stdout, 'out\n');
  assert.match(exit.stderr, /Defaulted container "main" out of: main, second/);
  assert.match(exit.stderr, /err\n/);
  const piped = await seerExec(
    ['-i', 'shell', '-c', 'second', '--', 'sh', '-c', 'cat; echo $SEER_CONTAINER_NAME'],
    'piped\n',
  );
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout, 'piped\nsecond\n');
  const noTty = await seerExec(['-it', 'shell', '-c', 'main', '--', 'true'], '');
  assert.equal(noTty.code, 0, noTty.stderr);
  assert.match(noTty.stderr, /Unable to use a TTY - input is not a terminal/);
  const usage = await seerExec(['shell', 'true']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /needs -- before the command/);
  const refused = await seerExec(['finished', '--', 'true']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /409: container main of pod team-a\/finished is not running/);
});

test('seer exec -it: a terminal of the local size, resized with it, exiting with the shell', async () => {
  const terminal = pty.spawn(
    process.execPath,
    [
      repoPath('dist', 'cli', 'main.js'),
      'exec',
      '-it',
      'shell',
      '-c',
      'main',
      '--kubeconfig',
      runnerKubeconfig,
      '--',
      'sh',
    ],
    { cols: 100, rows: 30, cwd: work, env: { ...process.env, TERM: 'xterm' } },
  );
  let output = '';
  terminal.onData((data) => (output += data));
  const exited = new Promise<number>((resolve) => terminal.onExit(({ exitCode }) => resolve(exitCode)));
  try {
    // The shell's prompt, then its answer to what is typed.
    await eventually(
      'the remote shell',
      () => {
        terminal.write('echo "rea""dy"\r');
        return output.includes('ready');
      },
      30_000,
      500,
    );
    terminal.write('stty size\r');
    await eventually('the size of the local terminal', () => output.includes('30 100'));
    terminal.resize(120, 40);
    await eventually(
      'the new size',
      () => {
        terminal.write('stty size\r');
        return output.includes('40 120');
      },
      30_000,
      300,
    );
    terminal.write('exit 4\r');
    assert.equal(await exited, 4);
  } finally {
    try {
      terminal.kill();
    } catch {
      // exited
    }
  }
});

test('how long an exec takes, by POST and over a WebSocket', async (t) => {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const time = async (run: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const started = performance.now();
      await run();
      times.push(performance.now() - started);
    }
    return median(times);
  };
  const post = await time(() => exec('shell', { command: ['true'] }));
  const stream = await time(() => streamExec(execPath('shell', argvQuery(['true']))));
  const cli = await time(() => seerExec(['shell', '-c', 'main', '--', 'true']));
  t.diagnostic(
    `median of 20: POST exec ${post.toFixed(1)} ms, WebSocket exec ${stream.toFixed(1)} ms, seer exec ${cli.toFixed(0)} ms`,
  );
  // Each is a TokenReview, a SubjectAccessReview, a pod read and a process: well under a second.
  assert.ok(post < 1000 && stream < 1000, `${post} ${stream}`);
});
