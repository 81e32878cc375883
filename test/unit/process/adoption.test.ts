import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ContainerSupervisor, type ContainerStatus, type ProcessSpec } from '../../../agent/process/index.js';
import {
  alive,
  readWritten,
  TestResources,
  waitFor,
  waitForStatus,
  type Sandbox,
} from '../../support/processes.js';

const resources = new TestResources();
const agents: ChildProcess[] = [];
after(async () => {
  for (const agent of agents) agent.kill('SIGKILL');
  await resources.cleanUp();
});

const driver = fileURLToPath(new URL('./fixtures/supervise.js', import.meta.url));

/** A separate node process supervising `spec`, like an agent; its statuses are collected as they come. */
async function startAgent(box: Sandbox, spec: ProcessSpec) {
  const specFile = path.join(box.root, 'agent-spec.json');
  await writeFile(specFile, JSON.stringify({ spec }));
  const agent = spawn(process.execPath, [driver, specFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  agents.push(agent);
  const statuses: ContainerStatus[] = [];
  let buffered = '';
  agent.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) statuses.push(JSON.parse(line) as ContainerStatus);
  });
  const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
  return {
    statuses,
    latest: (predicate: (status: ContainerStatus) => boolean) =>
      waitFor(
        'agent status',
        () => statuses.findLast(predicate),
        20_000,
        () => statuses.at(-1),
      ),
    /** kill -9, as a crash or an OOM kill would. */
    kill: async () => {
      agent.kill('SIGKILL');
      await exited;
    },
  };
}

const size = (file: string): Promise<number> => stat(file).then((s) => s.size);

test('kill -9 of the agent leaves the process running; a new supervisor re-adopts it, restart count kept, no restart', async () => {
  const box = await resources.sandbox();
  // Crashes on its first run (so restart_count is 1), then writes a line every 20 ms forever.
  await box.script(
    'app.sh',
    '#!/bin/sh\nif [ ! -e crashed-once ]; then touch crashed-once; exit 1; fi\nwhile :; do echo tick; sleep 0.02; done\n',
  );
  const spec = box.spec('./app.sh', { restart_policy: 'always' });
  const agent = await startAgent(box, spec);
  const before = await agent.latest((s) => s.state.running !== undefined && s.restart_count === 1);
  const pid = before.pid ?? -1;
  resources.pid(pid);

  await agent.kill();
  const stdout = path.join(box.logDir, 'app.stdout.log');
  const written = await size(stdout);
  // Still writing after the agent died: its output goes to a file, not to a pipe that would SIGPIPE it.
  await waitFor('output written after the agent died', async () => (await size(stdout)) > written + 100);
  assert.ok(alive(pid));

  const supervisor = resources.supervisor(new ContainerSupervisor(spec));
  assert.equal(await supervisor.adopt(), true);
  const adopted = supervisor.status();
  assert.equal(adopted.pid, pid);
  assert.equal(adopted.restart_count, 1);
  assert.deepEqual(adopted.state.running, before.state.running, 'same pid, same started_at');
  assert.equal(
    adopted.last_state?.terminated?.reason,
    'Error',
    'the crash before the agent died is remembered',
  );
  assert.equal(adopted.ready, true);

  // Not our child: its exit is noticed by polling, and the policy restarts it.
  process.kill(pid, 'SIGKILL');
  const restarted = await waitForStatus(
    supervisor,
    'restart after the adopted process died',
    (s) => s.state.running !== undefined && s.pid !== pid,
  );
  assert.equal(restarted.restart_count, 2);
  assert.equal(restarted.last_state?.terminated?.reason, 'Unknown');
  assert.equal(restarted.last_state?.terminated?.exit_code, undefined);
  assert.equal(
    restarted.last_state?.terminated?.message,
    `process ${pid} exited; its exit code is unknown because it was started by a previous agent`,
  );
});

test('a process that exited while no agent was watching is noticed by adopt() and restarted per policy', async () => {
  const box = await resources.sandbox();
  const spec = box.spec('sleep 600', { restart_policy: 'on_failure' });
  const agent = await startAgent(box, spec);
  const before = await agent.latest((s) => s.state.running !== undefined);
  const pid = before.pid ?? -1;
  await agent.kill();
  assert.ok(alive(pid));
  process.kill(pid, 'SIGKILL');
  await waitFor('the orphan to die', () => !alive(pid));

  const supervisor = resources.supervisor(new ContainerSupervisor(spec));
  assert.equal(await supervisor.adopt(), false);
  const status = await waitForStatus(supervisor, 'restarted', (s) => s.state.running !== undefined);
  assert.notEqual(status.pid, pid);
  assert.equal(status.restart_count, 1);
  const terminated = status.last_state?.terminated;
  assert.equal(terminated?.reason, 'Unknown');
  assert.equal(
    terminated?.message,
    `process ${pid} exited while the agent was not watching; its exit code is unknown`,
  );
  assert.equal(terminated?.started_at, before.state.running?.started_at);
});

test('under restart policy never, an exit while nobody watched is reported and not restarted', async () => {
  const box = await resources.sandbox();
  const spec = box.spec('sleep 600');
  const first = new ContainerSupervisor(spec);
  await first.start();
  const pid = first.status().pid ?? -1;
  first.detach();
  process.kill(pid, 'SIGKILL');
  await waitFor('exit', () => !alive(pid));

  const second = resources.supervisor(new ContainerSupervisor(spec));
  assert.equal(await second.adopt(), false);
  const status = second.status();
  assert.equal(status.state.terminated?.reason, 'Unknown');
  assert.equal(status.restart_count, 0);
  assert.equal(status.started, false);
});

test('detach() leaves the process alone; adopt() in a new supervisor takes over, and can stop it', async () => {
  const box = await resources.sandbox();
  await box.script('app.sh', '#!/bin/sh\nsleep 1000 &\necho $! > child.pid\nwait\n');
  const spec = box.spec('./app.sh', { restart_policy: 'always' });
  const first = new ContainerSupervisor(spec);
  await first.start();
  const pid = first.status().pid ?? -1;
  resources.pid(pid);
  first.detach();
  const child = Number(await readWritten(path.join(box.directory, 'child.pid')));
  assert.ok(alive(pid));

  const second = resources.supervisor(new ContainerSupervisor(spec));
  assert.equal(await second.adopt(), true);
  assert.equal(await second.adopt(), true, 'adopt() again is harmless');
  await second.stop();
  assert.equal(alive(pid), false);
  await waitFor('the whole group to be gone', () => !alive(child));
  assert.equal(second.status().state.terminated?.reason, 'Stopped');
  assert.equal(second.status().restart_count, 0);

  const third = resources.supervisor(new ContainerSupervisor(spec));
  assert.equal(await third.adopt(), false, 'a stopped container is not started again by adoption');
  assert.equal(third.status().state.terminated?.reason, 'Stopped');
});

test('a reused pid is not adopted: the recorded start time must match', async () => {
  const box = await resources.sandbox();
  const spec = box.spec('sleep 600', { restart_policy: 'never' });
  const first = new ContainerSupervisor(spec);
  await first.start();
  const pid = first.status().pid ?? -1;
  resources.pid(pid);
  first.detach();
  // Pretend the recorded process started at another time: the live pid now belongs to "someone else".
  const saved = JSON.parse(await readFile(spec.state_file, 'utf8')) as { proc_start_time: number };
  saved.proc_start_time -= 1;
  await writeFile(spec.state_file, JSON.stringify(saved));

  const second = resources.supervisor(new ContainerSupervisor(spec));
  assert.equal(await second.adopt(), false);
  assert.equal(second.status().state.terminated?.reason, 'Unknown');
  assert.ok(alive(pid), 'the unrelated process with that pid is left alone');
});

test('a restart that was due while the agent was down is carried out by the new supervisor', async () => {
  const box = await resources.sandbox();
  await box.script('crash.sh', '#!/bin/sh\necho run >> runs.txt\nexit 1\n');
  const spec = box.spec('./crash.sh', { restart_policy: 'always' });
  const backoff = { initialMs: 50_000, maxMs: 200_000 };
  const first = new ContainerSupervisor(spec, { backoff });
  await first.start();
  await waitForStatus(first, 'CrashLoopBackOff', (s) => s.state.waiting?.reason === 'CrashLoopBackOff');
  first.detach();
  // Make the restart due now rather than in 50 s.
  const saved = JSON.parse(await readFile(spec.state_file, 'utf8')) as {
    backoff: { next_restart_at: string };
  };
  saved.backoff.next_restart_at = new Date().toISOString();
  await writeFile(spec.state_file, JSON.stringify(saved));

  const second = resources.supervisor(new ContainerSupervisor(spec, { backoff }));
  assert.equal(await second.adopt(), false);
  await waitFor(
    'the third run',
    async () => (await readFile(path.join(box.directory, 'runs.txt'), 'utf8')).split('\n').length > 3,
  );
  const status = await waitForStatus(
    second,
    'backing off again',
    (s) => s.state.waiting?.reason === 'CrashLoopBackOff',
  );
  assert.equal(status.restart_count, 2);
  assert.equal(
    status.state.waiting?.message,
    'back-off 100s restarting failed container app',
    'the sequence goes on',
  );
});

test('start() on a fresh supervisor adopts a live process from the state file instead of starting a second one', async () => {
  const box = await resources.sandbox();
  const spec = box.spec('sleep 600', { restart_policy: 'always' });
  const first = new ContainerSupervisor(spec);
  await first.start();
  const pid = first.status().pid ?? -1;
  resources.pid(pid);
  first.detach();

  const second = resources.supervisor(new ContainerSupervisor(spec));
  await second.start();
  assert.equal(second.status().pid, pid);
  assert.equal(second.status().restart_count, 0);
});
