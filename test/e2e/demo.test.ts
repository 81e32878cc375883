import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import type { ClusterState } from '../../cli/control-plane/cluster.js';
import { isAlive } from '../../cli/control-plane/processes.js';
import type { DemoState } from '../../cli/demo-cleanup.js';
import { repoPath } from '../../common/paths.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually } from '../support/agent.js';
import { skipWithout } from '../support/host-tools.js';

// `seer demo` in a real terminal: tmux gives it a pseudo-terminal, delivers Ctrl-C as a terminal does
// (SIGINT to the foreground process group) and hangs the terminal up when the session is killed.
const skip = skipWithout('tmux');
const hasTmux = !skip;
const socket = `seer-demo-test-${process.pid}`;
const tmux = (...args: string[]) =>
  execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

after(() => {
  if (hasTmux) spawnSync('tmux', ['-L', socket, 'kill-server']);
});

/** A terminal (a tmux session) whose shell runs `seer demo --dir DIR` and records its exit code. */
interface Terminal {
  session: string;
  dir: string;
  /** Holds the shell's script and the exit code, outside DIR: only the demo's processes mention DIR. */
  shellDir: string;
  exitCode(): string | undefined;
  /** Everything the terminal has shown, or what it showed last once it is gone. */
  screen(): string;
}

/** What the running demo started, read from its own records and from the cluster. */
interface Started {
  state: DemoState;
  cluster: ClusterState;
  podPids: number[];
  registryHost: string;
}

let sessions = 0;

async function openTerminal(): Promise<Terminal> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-demo-test-'));
  const shellDir = await mkdtemp(path.join(os.tmpdir(), 'seer-demo-shell-'));
  const exitFile = path.join(shellDir, 'exit-code');
  const script = [
    `cd '${repoPath()}'`,
    // Like npm: Ctrl-C does not end the shell, which waits for the demo and reports how it ended.
    'trap : INT',
    `'${process.execPath}' '${repoPath('dist', 'cli', 'main.js')}' demo --dir '${dir}'`,
    `echo $? > '${exitFile}'`,
  ];
  await writeFile(path.join(shellDir, 'run.sh'), `${script.join('\n')}\n`);
  const session = `demo${++sessions}`;
  // remain-on-exit keeps the pane (dead) once the shell has exited, so its last words can be read. It
  // is set in the same tmux command, before the shell can have exited.
  const size = ['-x', '250', '-y', '60'];
  const shell = `sh ${path.join(shellDir, 'run.sh')}`;
  tmux('new-session', '-d', '-s', session, ...size, shell, ';', 'set-option', '-w', 'remain-on-exit', 'on');
  let lastScreen = '';
  return {
    session,
    dir,
    shellDir,
    exitCode: () => (existsSync(exitFile) ? readFileSync(exitFile, 'utf8').trim() : undefined),
    screen() {
      try {
        lastScreen = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session);
      } catch {
        // the session is gone
      }
      return lastScreen;
    },
  };
}

async function waitUntilReady(terminal: Terminal): Promise<Started> {
  await eventually(
    'the demo ready',
    () => terminal.exitCode() !== undefined || terminal.screen().includes('Press Ctrl-C'),
    150_000,
    250,
  );
  assert.equal(terminal.exitCode(), undefined, `the demo exited:\n${terminal.screen()}`);
  const state = JSON.parse(await readFile(path.join(terminal.dir, 'demo.json'), 'utf8')) as DemoState;
  const cluster = JSON.parse(
    await readFile(path.join(terminal.dir, 'cluster', 'cluster.json'), 'utf8'),
  ) as ClusterState;
  const rest = RestClient.fromKubeconfig(cluster.kubeconfig);
  const pods = (await new SeerClient(rest).list('SeerPod', { namespace: 'default' })).items;
  rest.close();
  assert.deepEqual(new Set(pods.map((p) => p.spec.node_name)), new Set(['demo-1', 'demo-2']));
  const podPids = pods.map((p) => p.status?.container_statuses?.[0]?.state?.running?.pid ?? 0);
  assert.ok(
    podPids.every((pid) => pid > 0 && isAlive(pid)),
    'the pods run',
  );
  const registryHost = /pushed (127\.0\.0\.1:\d+)\//.exec(terminal.screen())?.[1] ?? '';
  assert.ok(registryHost, terminal.screen());
  return { state, cluster, podPids, registryHost };
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function answers(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const [address, port] = host.split(':');
    const socket = net.connect({ host: address, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Live processes whose command line or working directory is in `dir`. */
function processesIn(dir: string): string[] {
  const inDir = (text: string) => text === dir || text.includes(`${dir}/`);
  const read = (what: () => string) => {
    try {
      return what();
    } catch {
      return ''; // gone meanwhile
    }
  };
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    const args = read(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    const cwd = read(() => readlinkSync(`/proc/${pid}/cwd`));
    if ((args.some(inDir) || inDir(cwd)) && isAlive(Number(pid))) found.push(`${pid} ${args.join(' ')}`);
  }
  return found;
}

/** Everything the demo started that still runs, found by pid and by scanning /proc. */
async function leftovers(dir: string, { state, cluster, podPids, registryHost }: Started): Promise<string[]> {
  const known: [string, number | undefined][] = [
    ['demo', state.owner.pid],
    ['watchdog', state.watchdog?.pid],
    ['registry', state.registry?.pid],
    ['operator', state.operator?.pid],
    ...state.agents.map((agent): [string, number] => [`agent ${agent.node}`, agent.pid]),
    ['etcd', cluster.etcd.pid],
    ['kube-apiserver', cluster.apiserver.pid],
    ...podPids.map((pid): [string, number] => ['pod', pid]),
  ];
  const left = known.filter(([, pid]) => pid && isAlive(pid)).map(([name, pid]) => `${name} (${pid})`);
  left.push(...processesIn(dir));
  if (await answers(registryHost)) left.push(`a registry on ${registryHost}`);
  if (state.registry && existsSync(state.registry.dir))
    left.push(`the registry's storage ${state.registry.dir}`);
  return left;
}

/** After a failure, whatever still runs gets the cleanup a killed demo gets from its watchdog. */
async function closeTerminal(terminal: Terminal): Promise<void> {
  spawnSync('tmux', ['-L', socket, 'kill-session', '-t', terminal.session]);
  const state = JSON.parse(
    await readFile(path.join(terminal.dir, 'demo.json'), 'utf8').catch(() => '{}'),
  ) as Partial<DemoState>;
  if (state.owner && isAlive(state.owner.pid)) process.kill(state.owner.pid, 'SIGKILL');
  const watchdog = state.watchdog?.pid ?? 0;
  await eventually('the watchdog done', () => !isAlive(watchdog), 60_000).catch(() => undefined);
  await rm(terminal.dir, { recursive: true, force: true });
  await rm(terminal.shellDir, { recursive: true, force: true });
}

/**
 * Starts the demo in a terminal, checks what it shows, stops it with `stop`, and checks that nothing
 * it started is left within `withinMs`, cleaned up `by` the demo itself or by its watchdog.
 */
async function stopAndCheck(
  t: TestContext,
  stop: (terminal: Terminal, started: Started) => void | Promise<void>,
  { withinMs, by }: { withinMs: number; by: 'the demo' | 'the watchdog' },
): Promise<void> {
  const terminal = await openTerminal();
  try {
    const started = await waitUntilReady(terminal);
    const screen = terminal.screen();
    assert.ok(started.state.registry, 'the demo knows its registry process');
    assert.ok((await leftovers(terminal.dir, started)).length > 5, 'the check sees the running demo');
    assert.match(screen, /seerdeployment\.seer\.io\/hello\s+2\s+2\s+2\s+2/);
    assert.match(screen, /seernode\.seer\.io\/demo-2\s+Ready.*127\.0\.0\.2/);
    // What a person is told to try works: each node's replica answers on that node's address.
    const urls = [...screen.matchAll(/curl (http:\/\/\S+)/g)].map((match) => match[1] ?? '');
    assert.deepEqual(
      urls.map((url) => new URL(url).hostname),
      ['127.0.0.1', '127.0.0.2'],
    );
    for (const [index, url] of urls.entries()) {
      assert.match(await get(url), new RegExp(`^hello from hello-\\S+ on demo-${index + 1}\\n$`));
    }

    const stopping = Date.now();
    await stop(terminal, started);
    await eventually(
      'nothing left running',
      async () => (await leftovers(terminal.dir, started)).length === 0,
      withinMs,
      200,
    ).catch(async () => {
      const left = await leftovers(terminal.dir, started);
      assert.fail(`left running:\n${left.join('\n')}\n${terminal.screen()}`);
    });
    t.diagnostic(`nothing left ${Date.now() - stopping} ms after the signal`);
    const watchdogLog = await readFile(path.join(terminal.dir, 'watchdog.log'), 'utf8').catch(() => '');
    if (by === 'the watchdog') {
      assert.match(
        watchdogLog,
        /is gone: stopping what it started[\s\S]*removing the deployment[\s\S]*stopped/,
      );
    } else {
      assert.equal(watchdogLog, '', 'the watchdog had nothing to do');
    }
    // The agents stopped the pods; the last resort (killing what they left) was not needed.
    assert.doesNotMatch(terminal.screen() + watchdogLog, /pod processes the agents left running/);
  } finally {
    await closeTerminal(terminal);
  }
}

const options = { skip, timeout: 180_000 };

test('Ctrl-C in the terminal stops the demo and everything it started', options, async (t) => {
  const ctrlC = async (terminal: Terminal) => {
    tmux('send-keys', '-t', terminal.session, 'C-c');
    const code = await eventually('the demo to exit', () => terminal.exitCode(), 60_000, 200);
    assert.equal(code, '0', terminal.screen());
    assert.match(terminal.screen(), /removing the deployment[\s\S]*==> stopped/);
  };
  // By the time the demo exits, it has stopped everything.
  await stopAndCheck(t, ctrlC, { withinMs: 1_000, by: 'the demo' });
});

test('Ctrl-C, then the terminal closing at once (npm gone), stops everything', options, async (t) => {
  const ctrlCThenHangUp = async (terminal: Terminal) => {
    tmux('send-keys', '-t', terminal.session, 'C-c');
    await new Promise((resolve) => setTimeout(resolve, 200));
    tmux('kill-session', '-t', terminal.session);
  };
  await stopAndCheck(t, ctrlCThenHangUp, { withinMs: 60_000, by: 'the demo' });
});

test('closing the terminal (SIGHUP) stops the demo and everything it started', options, async (t) => {
  const hangUp = (terminal: Terminal) => void tmux('kill-session', '-t', terminal.session);
  await stopAndCheck(t, hangUp, { withinMs: 60_000, by: 'the demo' });
});

test('a demo killed with SIGKILL leaves nothing: its watchdog stops it all', options, async (t) => {
  const kill = (_: Terminal, started: Started) => void process.kill(started.state.owner.pid, 'SIGKILL');
  await stopAndCheck(t, kill, { withinMs: 30_000, by: 'the watchdog' });
});
