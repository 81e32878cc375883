import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import {
  alive,
  readWritten,
  recordStatuses,
  TestResources,
  uidOf,
  waitFor,
  waitForStatus,
} from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

const running = (status: { state: { running?: unknown } }): boolean => status.state.running !== undefined;

test('a simple start command is exec’d: the supervised pid is the program itself', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('sleep 600')));
  await supervisor.start();
  const status = supervisor.status();
  assert.ok(status.state.running, JSON.stringify(status));
  assert.equal(status.started, true);
  assert.equal(status.ready, true, 'no readiness probe: ready as soon as it runs');
  assert.equal(status.pid, status.state.running.pid);
  // The shell replaces itself with the program a moment after the spawn.
  const argv = async (): Promise<string[]> =>
    (await readFile(`/proc/${status.pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  await waitFor(
    'the pid to run sleep itself',
    async () => (await argv()).join(' ') === 'sleep 600',
    20_000,
    argv,
  );

  await supervisor.start();
  assert.equal(supervisor.status().pid, status.pid, 'start() again changes nothing');
});

test('the process runs in the container directory with the spec’s environment over a minimal base', async () => {
  const box = await resources.sandbox();
  process.env.SEER_TEST_AGENT_ONLY = 'must not leak';
  await box.script(
    'show-env.sh',
    '#!/bin/sh\npwd > pwd.txt\nenv > env.tmp && mv env.tmp env.txt\nexec sleep 600\n',
  );
  const env = {
    SEER_POD_NAME: 'web-1',
    SEER_NAMESPACE: 'default',
    SEER_NODE_NAME: 'host-1',
    SEER_CONTAINER_DIR: box.directory,
    SEER_PORT_HTTP: '8080',
    GREETING: 'hello world',
  };
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('./show-env.sh', { env })));
  await supervisor.start();
  const written = await readWritten(path.join(box.directory, 'env.txt'));
  const variables = new Map(
    written
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  for (const [name, value] of Object.entries(env)) assert.equal(variables.get(name), value, name);
  assert.match(variables.get('PATH') ?? '', /\/usr\/bin/);
  assert.ok(variables.has('HOME'));
  assert.equal(variables.has('SEER_TEST_AGENT_ONLY'), false, 'the agent’s own environment is not passed on');
  assert.equal(await readWritten(path.join(box.directory, 'pwd.txt')), box.directory);
});

test('exit codes: 0 is Completed, non-zero is Error with the last stderr line, signals are reported', async () => {
  const box = await resources.sandbox();
  await box.script('finish.sh', '#!/bin/sh\necho "about to fail: disk on fire" >&2\nexit "$1"\n');

  const completed = resources.supervisor(new ContainerSupervisor(box.spec('./finish.sh 0')));
  await completed.start();
  const done = await waitForStatus(completed, 'Completed', (s) => s.state.terminated !== undefined);
  assert.equal(done.state.terminated?.reason, 'Completed');
  assert.equal(done.state.terminated?.exit_code, 0);
  assert.equal(done.restart_count, 0);
  assert.equal(done.started, false);
  assert.equal(done.ready, false);

  const failed = resources.supervisor(new ContainerSupervisor(box.spec('./finish.sh 3')));
  await failed.start();
  const error = await waitForStatus(failed, 'Error', (s) => s.state.terminated !== undefined);
  assert.equal(error.state.terminated?.reason, 'Error');
  assert.equal(error.state.terminated?.exit_code, 3);
  assert.match(error.state.terminated?.message ?? '', /exited with code 3: about to fail: disk on fire/);
  assert.ok(error.state.terminated?.started_at && error.state.terminated.finished_at);

  await box.script('signal.sh', '#!/bin/sh\nkill -USR1 $$\nsleep 5\n');
  const signalled = resources.supervisor(new ContainerSupervisor(box.spec('./signal.sh')));
  await signalled.start();
  const bySignal = await waitForStatus(signalled, 'signal exit', (s) => s.state.terminated !== undefined);
  assert.equal(bySignal.state.terminated?.reason, 'Signal');
  assert.equal(bySignal.state.terminated?.signal, 10);
  assert.equal(bySignal.state.terminated?.exit_code, 138);

  const killed = resources.supervisor(new ContainerSupervisor(box.spec('sleep 600')));
  await killed.start();
  process.kill(killed.status().pid ?? -1, 'SIGKILL');
  const byKill = await waitForStatus(killed, 'killed', (s) => s.state.terminated !== undefined);
  assert.equal(byKill.state.terminated?.reason, 'Killed');
  assert.equal(byKill.state.terminated?.signal, 9);
});

test('restart policy always restarts even a successful exit', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('sh -c "exit 0"', { restart_policy: 'always' }), {
      backoff: { initialMs: 10, maxMs: 20 },
    }),
  );
  await supervisor.start();
  const status = await waitForStatus(supervisor, 'two restarts', (s) => s.restart_count >= 2);
  assert.equal(status.last_state?.terminated?.reason, 'Completed');
});

test('restart policy on_failure restarts failures until the process succeeds, then leaves it', async () => {
  const box = await resources.sandbox();
  await box.script(
    'flaky.sh',
    '#!/bin/sh\necho run >> runs.txt\nruns=$(wc -l < runs.txt)\n[ "$runs" -ge 3 ] && exit 0\nexit 1\n',
  );
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('./flaky.sh', { restart_policy: 'on_failure' }), {
      backoff: { initialMs: 10, maxMs: 20 },
    }),
  );
  await supervisor.start();
  const status = await waitForStatus(
    supervisor,
    'completed',
    (s) => s.state.terminated?.reason === 'Completed',
  );
  assert.equal(status.restart_count, 2);
  assert.equal(status.last_state?.terminated?.reason, 'Error');
  assert.equal(status.last_state?.terminated?.exit_code, 1);
  const runs = await readFile(path.join(box.directory, 'runs.txt'), 'utf8');
  assert.equal(runs.trim().split('\n').length, 3, 'no restart after the successful run');
});

test('restart policy never leaves a failed process terminated', async () => {
  const box = await resources.sandbox();
  await box.script('fail.sh', '#!/bin/sh\necho run >> runs.txt\nexit 1\n');
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('./fail.sh')));
  await supervisor.start();
  const status = await waitForStatus(supervisor, 'terminated', (s) => s.state.terminated !== undefined);
  assert.equal(status.state.terminated?.reason, 'Error');
  assert.equal(status.restart_count, 0);
  // A restart would have happened at once (first restart without delay); give it ample time to show up.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await readFile(path.join(box.directory, 'runs.txt'), 'utf8')).trim(), 'run');
  assert.equal(supervisor.status().restart_count, 0);
});

test('a start command whose program does not exist ends with Error 127 and the shell’s message', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('./no-such-program --flag')));
  await supervisor.start();
  const status = await waitForStatus(supervisor, 'terminated', (s) => s.state.terminated !== undefined);
  assert.equal(status.state.terminated?.reason, 'Error');
  assert.equal(status.state.terminated?.exit_code, 127);
  assert.match(status.state.terminated?.message ?? '', /no-such-program.*not found/);
});

test('a missing container directory or user is a StartError with a clear message', async () => {
  const box = await resources.sandbox();
  const missingDir = resources.supervisor(
    new ContainerSupervisor(box.spec('sleep 600', { directory: path.join(box.root, 'nowhere') })),
  );
  await missingDir.start();
  assert.deepEqual(missingDir.status().state.waiting, {
    reason: 'StartError',
    message: `container directory ${path.join(box.root, 'nowhere')} does not exist`,
  });

  const missingUser = resources.supervisor(
    new ContainerSupervisor(box.spec('sleep 600', { user: 'seer-no-such-user' })),
  );
  await missingUser.start();
  assert.deepEqual(missingUser.status().state.waiting, {
    reason: 'StartError',
    message: 'user "seer-no-such-user" does not exist on this node',
  });
  assert.equal(missingUser.status().started, false);
});

test('a start error under restart policy always is retried with backoff (CrashLoopBackOff)', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('sleep 600', { directory: path.join(box.root, 'later'), restart_policy: 'always' }),
      { backoff: { initialMs: 20, maxMs: 40 } },
    ),
  );
  await supervisor.start();
  const looping = await waitForStatus(
    supervisor,
    'CrashLoopBackOff',
    (s) => s.state.waiting?.reason === 'CrashLoopBackOff' && s.restart_count >= 2,
  );
  assert.equal(looping.last_state?.terminated?.reason, 'StartError');
  assert.match(looping.last_state?.terminated?.message ?? '', /does not exist/);
});

test(
  'run as user: the process gets the user’s uid and HOME',
  { skip: process.getuid?.() !== 0 },
  async () => {
    const box = await resources.sandbox();
    await box.script('whoami.sh', '#!/bin/sh\nid -u > uid.txt\necho "$HOME" > home.txt\nexec sleep 600\n');
    const supervisor = resources.supervisor(
      new ContainerSupervisor(box.spec('./whoami.sh', { user: 'nobody' })),
    );
    await supervisor.start();
    const pid = supervisor.status().pid ?? -1;
    assert.equal(uidOf(pid), 65534);
    assert.equal(await readWritten(path.join(box.directory, 'uid.txt')), '65534');
    assert.equal(await readWritten(path.join(box.directory, 'home.txt')), '/nonexistent');
  },
);

test('status events are emitted on real changes only, and report the running pid', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('sleep 600')));
  const statuses = recordStatuses(supervisor);
  await supervisor.start();
  await supervisor.start();
  assert.equal(statuses.length, 1);
  assert.ok(running(statuses[0]!));
  const pid = supervisor.status().pid ?? -1;
  await supervisor.stop();
  assert.equal(alive(pid), false);
  const last = statuses.at(-1);
  assert.equal(last?.state.terminated?.reason, 'Stopped');
  for (let i = 1; i < statuses.length; i++) {
    assert.notDeepEqual(statuses[i], statuses[i - 1], 'consecutive events differ');
  }
});
