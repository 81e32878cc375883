import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import { readProcStat } from '../../../agent/process/proc.js';
import { alive, TestResources, waitFor, waitForStatus, type Sandbox } from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

/** A classic daemon: forks into a new session, writes its pid file, exits 0 on SIGTERM, dies with its workers. */
async function daemonScripts(box: Sandbox): Promise<void> {
  await mkdir(path.join(box.directory, 'run'));
  await box.script(
    'daemon.sh',
    [
      '#!/bin/sh',
      'trap "echo stopping >&2; exit 0" TERM',
      'sleep 1000 &',
      'echo $! > run/worker.pid',
      'echo $$ > run/daemon.pid',
      'while :; do sleep 0.05; done',
    ].join('\n'),
  );
  await box.script(
    'start.sh',
    '#!/bin/sh\necho "starting daemon"\nsetsid ./daemon.sh </dev/null >/dev/null 2>&1 &\nexit 0\n',
  );
}

const forking = { mode: 'forking' as const, pid_file: 'run/daemon.pid' };

test('forking mode: the daemon named by the pid file is supervised, and restarted when it dies', async () => {
  const box = await resources.sandbox();
  await daemonScripts(box);
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('./start.sh', { ...forking, restart_policy: 'always' })),
  );
  await supervisor.start();
  const status = supervisor.status();
  const pid = Number(await readFile(path.join(box.directory, 'run/daemon.pid'), 'utf8'));
  assert.equal(status.pid, pid);
  assert.ok(status.state.running);
  assert.notEqual(readProcStat(pid)?.ppid, process.pid, 'the daemon is not our child');
  assert.equal(await readFile(path.join(box.logDir, 'app.stdout.log'), 'utf8'), 'starting daemon\n');

  const worker = Number(await readFile(path.join(box.directory, 'run/worker.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  const restarted = await waitForStatus(
    supervisor,
    'a new daemon',
    (s) => s.state.running !== undefined && s.pid !== pid,
  );
  assert.equal(restarted.restart_count, 1);
  const terminated = restarted.last_state?.terminated;
  assert.equal(terminated?.reason, 'Unknown');
  assert.equal(terminated?.exit_code, undefined);
  assert.equal(
    terminated?.message,
    `daemon process ${pid} exited; its exit code is unknown because it is not a child of the agent`,
  );
  await waitFor('the dead daemon’s worker to be cleaned up', () => !alive(worker));
});

test('forking mode stop: SIGTERM to the daemon’s group, which exits', async () => {
  const box = await resources.sandbox();
  await daemonScripts(box);
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('./start.sh', forking)));
  await supervisor.start();
  const pid = supervisor.status().pid ?? -1;
  const worker = Number(await readFile(path.join(box.directory, 'run/worker.pid'), 'utf8'));
  await supervisor.stop();
  assert.equal(alive(pid), false);
  await waitFor('the worker to be gone', () => !alive(worker));
  const terminated = supervisor.status().state.terminated;
  assert.equal(terminated?.reason, 'Stopped');
  assert.match(
    terminated?.message ?? '',
    /^stopped by the agent: daemon process \d+ exited; its exit code is unknown/,
  );
});

test('forking mode: a failing start command is a StartError quoting its exit code and stderr', async () => {
  const box = await resources.sandbox();
  await box.script(
    'start.sh',
    '#!/bin/sh\necho "bind() to 127.0.0.1:80 failed (98: Address in use)" >&2\nexit 1\n',
  );
  const supervisor = resources.supervisor(new ContainerSupervisor(box.spec('./start.sh', forking)));
  await supervisor.start();
  assert.deepEqual(supervisor.status().state.waiting, {
    reason: 'StartError',
    message: 'start command exited with code 1: bind() to 127.0.0.1:80 failed (98: Address in use)',
  });
});

test('forking mode: no pid file, or one naming a dead or stale process, is PidFileMissing after the bound', async () => {
  const box = await resources.sandbox();
  await mkdir(path.join(box.directory, 'run'));
  await box.script('start.sh', '#!/bin/sh\nexit 0\n');
  const none = resources.supervisor(
    new ContainerSupervisor(box.spec('./start.sh', forking), { startTimeoutMs: 500 }),
  );
  await none.start();
  assert.deepEqual(none.status().state.waiting, {
    reason: 'PidFileMissing',
    message: `pid file ${path.join(box.directory, 'run/daemon.pid')} does not exist 0.5 s after the start command was run (it exited 0)`,
  });

  // A pid file left by an earlier run (its process dead) is removed first, never taken for the new daemon.
  await writeFile(path.join(box.directory, 'run/daemon.pid'), '999999\n');
  const stale = resources.supervisor(
    new ContainerSupervisor(box.spec('./start.sh', forking), { startTimeoutMs: 500 }),
  );
  await stale.start();
  assert.equal(stale.status().state.waiting?.reason, 'PidFileMissing');
  assert.match(stale.status().state.waiting?.message ?? '', /does not exist/);

  await box.script('start-bad.sh', '#!/bin/sh\necho 999999 > run/daemon.pid\nexit 0\n');
  const dead = resources.supervisor(
    new ContainerSupervisor(box.spec('./start-bad.sh', forking), { startTimeoutMs: 500 }),
  );
  await dead.start();
  assert.match(dead.status().state.waiting?.message ?? '', /names pid 999999, which is not running/);
});

test('forking mode: a restart command that replaces the daemon is followed through the pid file', async () => {
  const box = await resources.sandbox();
  await daemonScripts(box);
  // Waits on /proc rather than kill -0: an orphan nobody reaps stays a zombie, which kill -0 still sees.
  await box.script(
    'restart.sh',
    [
      '#!/bin/sh',
      'pid=$(cat run/daemon.pid)',
      'kill "$pid"',
      "while grep -qs '^State:[[:space:]]*[^Z]' /proc/$pid/status; do sleep 0.02; done",
      'exec ./start.sh',
    ].join('\n'),
  );
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./start.sh', { ...forking, commands: { start: './start.sh', restart: './restart.sh' } }),
    ),
  );
  await supervisor.start();
  const first = supervisor.status().pid ?? -1;
  await supervisor.restart();
  const status = await waitForStatus(
    supervisor,
    'the new daemon',
    (s) => s.state.running !== undefined && s.pid !== first,
  );
  assert.equal(status.pid, Number(await readFile(path.join(box.directory, 'run/daemon.pid'), 'utf8')));
  assert.equal(status.restart_count, 0);
  assert.equal(alive(first), false);
});
