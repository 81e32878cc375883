import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import {
  alive,
  readWritten,
  TestResources,
  waitFor,
  waitForStatus,
  exists,
} from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

test('stop: a process ignoring SIGTERM is SIGKILLed with its whole group after the grace period; the stop command runs first', async () => {
  const box = await resources.sandbox();
  await box.script(
    'stubborn.sh',
    '#!/bin/sh\ntrap "" TERM\nsleep 1000 &\necho $! > child.pid\nwhile :; do sleep 0.1; done\n',
  );
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./stubborn.sh', {
        commands: { start: './stubborn.sh', stop: 'echo "$PWD" > stop-ran.txt' },
        stop_timeout_seconds: 1,
        restart_policy: 'always',
      }),
    ),
  );
  await supervisor.start();
  const pid = supervisor.status().pid ?? -1;
  const child = Number(await readWritten(path.join(box.directory, 'child.pid')));
  assert.ok(alive(child));

  const began = Date.now();
  await supervisor.stop('pod deleted');
  const elapsed = Date.now() - began;

  assert.equal(alive(pid), false);
  assert.equal(alive(child), false, 'the process group went with it');
  assert.ok(elapsed >= 1000, `SIGKILL only after the 1 s grace period (took ${elapsed} ms)`);
  assert.equal((await readFile(path.join(box.directory, 'stop-ran.txt'), 'utf8')).trim(), box.directory);
  const status = supervisor.status();
  assert.equal(status.state.terminated?.reason, 'Stopped');
  assert.equal(status.state.terminated?.signal, 9);
  assert.match(
    status.state.terminated?.message ?? '',
    /^pod deleted: terminated by signal SIGKILL \(after stop command, SIGTERM, SIGKILL after the 1 s grace period\)$/,
  );
  assert.equal(status.restart_count, 0, 'no restart after a stop, whatever the policy');
  assert.equal(status.started, false);
});

test('stop: a process that honours SIGTERM ends without SIGKILL', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('sleep 600', { stop_timeout_seconds: 30 })),
  );
  await supervisor.start();
  await supervisor.stop();
  const terminated = supervisor.status().state.terminated;
  assert.equal(terminated?.reason, 'Stopped');
  assert.equal(terminated?.signal, 15);
  assert.equal(terminated?.message, 'stopped by the agent: terminated by signal SIGTERM (after SIGTERM)');
});

test('stop: a stop command that ends the process spares it any signal', async () => {
  const box = await resources.sandbox();
  await box.script('app.sh', '#!/bin/sh\necho $$ > app.pid\nexec sleep 600\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./app.sh', {
        commands: { start: './app.sh', stop: 'kill -USR2 "$(cat app.pid)"' },
        stop_timeout_seconds: 30,
      }),
    ),
  );
  await supervisor.start();
  await readWritten(path.join(box.directory, 'app.pid'));
  await supervisor.stop();
  const terminated = supervisor.status().state.terminated;
  assert.equal(terminated?.signal, 12);
  assert.equal(
    terminated?.message,
    'stopped by the agent: terminated by signal SIGUSR2 (after stop command)',
  );
});

test('stop while waiting for a backoff restart cancels the restart', async () => {
  const box = await resources.sandbox();
  await box.script('crash.sh', '#!/bin/sh\necho run >> runs.txt\nexit 1\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('./crash.sh', { restart_policy: 'always' }), {
      backoff: { initialMs: 60_000 },
    }),
  );
  await supervisor.start();
  await waitForStatus(supervisor, 'CrashLoopBackOff', (s) => s.state.waiting?.reason === 'CrashLoopBackOff');
  await supervisor.stop('scaled down');
  const status = supervisor.status();
  assert.equal(status.state.terminated?.reason, 'Stopped');
  assert.equal(status.state.terminated?.message, 'scaled down');
  assert.equal(status.last_state?.terminated?.reason, 'Error');
  const runs = (await readFile(path.join(box.directory, 'runs.txt'), 'utf8')).trim().split('\n');
  assert.equal(runs.length, 2, 'the crash, its immediate restart, and nothing after the stop');
});

test('reload: SIGHUP to the main process, or the reload command; a failing reload command rejects', async () => {
  const box = await resources.sandbox();
  await box.script(
    'reloadable.sh',
    '#!/bin/sh\ntrap "echo hup >> reloads.txt" HUP\necho trapped > ready.txt\nwhile :; do sleep 0.05; done\n',
  );
  const bySignal = resources.supervisor(new ContainerSupervisor(box.spec('./reloadable.sh')));
  await assert.rejects(bySignal.reload(), /not running/);
  await bySignal.start();
  const pid = bySignal.status().pid;
  // Before its trap is set, SIGHUP would simply kill the shell.
  await readWritten(path.join(box.directory, 'ready.txt'));
  await bySignal.reload();
  await waitFor('reloads.txt', () => exists(path.join(box.directory, 'reloads.txt')));
  assert.equal(bySignal.status().pid, pid, 'reload keeps the process');

  const byCommand = resources.supervisor(
    new ContainerSupervisor(
      box.spec('sleep 600', {
        name: 'other',
        state_file: path.join(box.root, 'state', 'other.json'),
        commands: { start: 'sleep 600', reload: 'echo "$SEER_POD_NAME" > reloaded-by-command.txt' },
        env: { SEER_POD_NAME: 'web-0' },
      }),
    ),
  );
  await byCommand.start();
  await byCommand.reload();
  assert.equal((await readFile(path.join(box.directory, 'reloaded-by-command.txt'), 'utf8')).trim(), 'web-0');

  const failing = resources.supervisor(
    new ContainerSupervisor(
      box.spec('sleep 600', {
        name: 'failing',
        state_file: path.join(box.root, 'state', 'failing.json'),
        commands: { start: 'sleep 600', reload: 'echo "config test failed" >&2; exit 4' },
      }),
    ),
  );
  await failing.start();
  await assert.rejects(failing.reload(), /^Error: reload command exited with code 4: config test failed$/);
  assert.ok(failing.status().state.running, 'a failed reload leaves the process alone');
});

test('restart on request: stop + start by default, a new pid, not counted in restart_count', async () => {
  const box = await resources.sandbox();
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('sleep 600')));
  await supervisor.start();
  const first = supervisor.status().pid ?? -1;
  await supervisor.restart();
  const status = supervisor.status();
  assert.ok(status.state.running);
  assert.notEqual(status.pid, first);
  assert.equal(alive(first), false);
  assert.equal(status.restart_count, 0);
  assert.equal(status.last_state?.terminated?.reason, 'Stopped');
  assert.match(status.last_state?.terminated?.message ?? '', /^restarted on request: /);
});

test('restart on request with a restart command that makes the process exit: started again, not counted', async () => {
  const box = await resources.sandbox();
  await box.script('app.sh', '#!/bin/sh\necho $$ > app.pid\nexec sleep 600\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./app.sh', {
        commands: { start: './app.sh', restart: 'kill "$(cat app.pid)"' },
        restart_policy: 'never',
      }),
    ),
  );
  await supervisor.start();
  const first = supervisor.status().pid ?? -1;
  await readWritten(path.join(box.directory, 'app.pid'));
  await supervisor.restart();
  const status = await waitForStatus(
    supervisor,
    'running again',
    (s) => s.state.running !== undefined && s.pid !== first,
  );
  assert.equal(status.restart_count, 0);
  assert.equal(status.last_state?.terminated?.reason, 'Stopped');
  assert.match(
    status.last_state?.terminated?.message ?? '',
    /^restart command: terminated by signal SIGTERM$/,
  );
});
