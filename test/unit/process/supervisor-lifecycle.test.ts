import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import { RestartLimit } from '../../../agent/process/restart-limit.js';
import { readStateFile } from '../../../agent/process/state-file.js';
import { recordStatuses, TestResources, waitFor, waitForStatus } from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

const FAST = { backoff: { initialMs: 20, maxMs: 40, resetAfterMs: 60_000 } };

test('pre_start runs to completion before every start, in the container directory', async () => {
  const box = await resources.sandbox();
  await box.script('run.sh', '#!/bin/sh\necho "start sees: $(cat prepared)" >> events\nexec sleep 60\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./run.sh', {
        commands: { start: './run.sh', pre_start: 'sleep 0.2; echo "prepared by pre_start" > prepared' },
      }),
      FAST,
    ),
  );
  await supervisor.start();
  await waitForStatus(supervisor, 'running', (s) => s.state.running !== undefined);
  const events = () => readFile(path.join(box.directory, 'events'), 'utf8').catch(() => '');
  await waitFor('the first start', async () => (await events()).split('\n').length > 1);
  await rm(path.join(box.directory, 'prepared'));
  await supervisor.restart();
  await waitFor('the second start', async () => (await events()).split('\n').length > 2);
  assert.equal(await events(), 'start sees: prepared by pre_start\n'.repeat(2));
});

test('a failing pre_start is a start failure: PreStartError with its stderr, retried with back-off', async () => {
  const box = await resources.sandbox();
  await box.script('run.sh', '#!/bin/sh\ntouch started\nexec sleep 60\n');
  // Fails twice, then succeeds.
  const preStart =
    'n=$(cat tries 2>/dev/null || echo 0); echo $((n+1)) > tries; [ $n -ge 2 ] || { echo "db not ready" >&2; exit 3; }';
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./run.sh', {
        restart_policy: 'always',
        commands: { start: './run.sh', pre_start: preStart },
      }),
      FAST,
    ),
  );
  const statuses = recordStatuses(supervisor);
  await supervisor.start();
  await waitForStatus(supervisor, 'running after two failures', (s) => s.state.running !== undefined);
  const failure = statuses.find((s) => s.last_state?.terminated?.reason === 'PreStartError');
  assert.ok(failure, JSON.stringify(statuses.map((s) => s.state)));
  assert.equal(failure.last_state?.terminated?.message, 'pre_start command exited with code 3: db not ready');
  assert.equal((await readFile(path.join(box.directory, 'tries'), 'utf8')).trim(), '3');
  assert.equal(supervisor.status().restart_count, 2);

  // restart_policy never: no retry, the container stays failed with the reason.
  const never = await resources.sandbox('never');
  await never.script('run.sh', '#!/bin/sh\nexec sleep 60\n');
  const once = resources.supervisor(
    new ContainerSupervisor(
      never.spec('./run.sh', {
        restart_policy: 'never',
        commands: { start: './run.sh', pre_start: 'exit 1' },
      }),
      FAST,
    ),
  );
  await once.start();
  const given = await waitForStatus(once, 'failed', (s) => s.state.waiting?.reason === 'PreStartError');
  assert.equal(given.state.waiting?.message, 'pre_start command exited with code 1');
});

test('post_start: not ready until it succeeded; its failure stops the run and the policy restarts it', async () => {
  const box = await resources.sandbox();
  await box.script('run.sh', '#!/bin/sh\nexec sleep 60\n');
  const gate = path.join(box.directory, 'gate');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./run.sh', {
        commands: { start: './run.sh', post_start: `while [ ! -e ${gate} ]; do sleep 0.05; done` },
      }),
      FAST,
    ),
  );
  await supervisor.start();
  await waitForStatus(supervisor, 'running', (s) => s.state.running !== undefined);
  await sleep(300);
  assert.equal(supervisor.status().ready, false, 'post_start still running');
  await writeFile(gate, '');
  await waitForStatus(supervisor, 'ready', (s) => s.ready);

  const failing = await resources.sandbox('failing');
  await failing.script('run.sh', '#!/bin/sh\nexec sleep 60\n');
  const broken = resources.supervisor(
    new ContainerSupervisor(
      failing.spec('./run.sh', {
        restart_policy: 'always',
        commands: { start: './run.sh', post_start: 'echo "cannot register" >&2; exit 4' },
      }),
      FAST,
    ),
  );
  await broken.start();
  const restarted = await waitForStatus(
    broken,
    'restarted after post_start failed',
    (s) => s.restart_count >= 1,
  );
  const terminated = restarted.last_state?.terminated;
  assert.equal(terminated?.reason, 'PostStartHookError');
  assert.match(
    terminated?.message ?? '',
    /^post_start command exited with code 4: cannot register; terminated by signal SIGTERM/,
  );
});

test('pre_stop runs first when the program is stopped, within the grace period', async () => {
  const box = await resources.sandbox();
  await box.script(
    'run.sh',
    '#!/bin/sh\ntrap \'echo "SIGTERM after: $(cat deregistered)" >> events; exit 0\' TERM\nwhile :; do sleep 0.05; done\n',
  );
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./run.sh', {
        commands: {
          start: './run.sh',
          pre_stop: 'sleep 0.2; echo yes > deregistered',
          stop: 'echo stop >> events',
        },
        stop_timeout_seconds: 5,
      }),
      FAST,
    ),
  );
  await supervisor.start();
  await waitForStatus(supervisor, 'running', (s) => s.state.running !== undefined);
  await supervisor.stop('pod deleted');
  assert.equal(await readFile(path.join(box.directory, 'events'), 'utf8'), 'stop\nSIGTERM after: yes\n');
  assert.match(
    supervisor.status().state.terminated?.message ?? '',
    /\(after pre_stop, stop command, SIGTERM\)$/,
  );

  // A failing pre_stop does not keep the program running.
  const failing = await resources.sandbox('failing');
  await failing.script('run.sh', '#!/bin/sh\nexec sleep 60\n');
  const stubborn = resources.supervisor(
    new ContainerSupervisor(
      failing.spec('./run.sh', { commands: { start: './run.sh', pre_stop: 'exit 9' } }),
      FAST,
    ),
  );
  await stubborn.start();
  await waitForStatus(stubborn, 'running', (s) => s.state.running !== undefined);
  await stubborn.stop();
  assert.equal(stubborn.status().state.terminated?.reason, 'Stopped');
});

test('max_restarts: the restart after the last allowed one is refused, the container stays down with the reason', async () => {
  const box = await resources.sandbox();
  await box.script('crash.sh', '#!/bin/sh\necho start >> starts\necho "broken config" >&2\nexit 1\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./crash.sh', { restart_policy: 'always', restart_limit: { max: 3, windowSeconds: 60 } }),
      FAST,
    ),
  );
  await supervisor.start();
  const given = await waitForStatus(
    supervisor,
    'given up',
    (s) => s.state.terminated?.reason === 'RestartLimitReached',
  );
  await sleep(300);
  assert.equal(
    (await readFile(path.join(box.directory, 'starts'), 'utf8')).split('\n').filter(Boolean).length,
    4,
  );
  assert.equal(given.restart_count, 3);
  assert.equal(given.state.terminated?.exit_code, 1);
  assert.equal(
    given.state.terminated?.message,
    'exited with code 1: broken config; restarted 3 times within 60 s (max_restarts 3): not restarted again',
  );
  // A later agent finds it settled, with the restarts of the window.
  const saved = await readStateFile(box.stateFile);
  assert.equal(saved?.phase, 'exited');
  assert.equal(saved?.recent_restarts?.length, 3);

  // Start failures count too.
  const unstartable = await resources.sandbox('unstartable');
  const failing = resources.supervisor(
    new ContainerSupervisor(
      unstartable.spec('./missing.sh', {
        restart_policy: 'always',
        commands: { start: './missing.sh', pre_start: 'exit 2' },
        restart_limit: { max: 1, windowSeconds: 60 },
      }),
      FAST,
    ),
  );
  await failing.start();
  const refused = await waitForStatus(
    failing,
    'given up',
    (s) => s.state.waiting?.reason === 'RestartLimitReached',
  );
  assert.match(
    refused.state.waiting?.message ?? '',
    /^PreStartError: pre_start command exited with code 2; restarted 1 time within 60 s/,
  );
});

test('a restart limit counts within its window only, and survives the state file', () => {
  const limit = new RestartLimit({ max: 2, windowSeconds: 10 });
  assert.equal(limit.allow(0), true);
  assert.equal(limit.allow(1000), true);
  assert.equal(limit.allow(2000), false, 'a third within 10 s');
  assert.equal(limit.allow(10_500), true, 'the first has left the window');
  const again = new RestartLimit({ max: 2, windowSeconds: 10 });
  again.restore(limit.recent());
  assert.equal(again.allow(10_600), false);
  assert.equal(new RestartLimit(undefined).allow(), true, 'no limit');
});
