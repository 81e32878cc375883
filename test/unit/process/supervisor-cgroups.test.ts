import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerCgroup, ContainerCgroups } from '../../../agent/process/cgroups.js';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import { alive, TestResources, waitFor, waitForStatus } from '../../support/processes.js';

const resources = new TestResources();
const cgroups = ContainerCgroups.open(
  // Its own subtree, so that nothing here touches an agent's cgroups.
  process.env.SEER_TEST_CGROUP_ROOT,
);
const unavailable = cgroups ? false : 'no writable cgroup v2 on this host';
const dirs: string[] = [];
after(async () => {
  await resources.cleanUp();
  for (const dir of dirs) {
    await new ContainerCgroup(dir).kill();
    new ContainerCgroup(dir).remove();
  }
});

function cgroupDir(name: string): string {
  const dir = cgroups?.dir('unit-test', `p${process.pid}`, name) ?? '';
  dirs.push(dir);
  return dir;
}

const pidIn = async (file: string): Promise<number> =>
  Number(
    await waitFor(`${file} written`, () => (existsSync(file) ? readFileSync(file, 'utf8').trim() : false)),
  );

test(
  'a forking daemon whose child calls setsid is gone, child and all, after stop',
  { skip: unavailable },
  async () => {
    const box = await resources.sandbox();
    // The daemon detaches (its own session), and so does the worker it starts: no process group holds both.
    await box.script(
      'start.sh',
      '#!/bin/sh\nsetsid sh -c \'echo $$ > daemon.pid; setsid sh -c "echo \\$\\$ > worker.pid; exec sleep 600" & exec sleep 600\' &\n',
    );
    const dir = cgroupDir('forking');
    const supervisor = resources.supervisor(
      new ContainerSupervisor(
        box.spec('./start.sh', {
          mode: 'forking',
          pid_file: 'daemon.pid',
          cgroup_dir: dir,
          stop_timeout_seconds: 2,
        }),
      ),
    );
    await supervisor.start();
    await waitForStatus(supervisor, 'running', (s) => s.state.running !== undefined);
    const daemon = await pidIn(path.join(box.directory, 'daemon.pid'));
    const worker = await pidIn(path.join(box.directory, 'worker.pid'));
    assert.ok(alive(worker));
    assert.notEqual(
      readFileSync(`/proc/${worker}/stat`, 'utf8').split(' ')[5],
      readFileSync(`/proc/${daemon}/stat`, 'utf8').split(' ')[5],
      'the worker is in a session of its own',
    );
    assert.ok(new ContainerCgroup(dir).members().includes(worker), 'but in the container’s cgroup');
    await supervisor.stop();
    assert.equal(alive(daemon), false);
    assert.equal(alive(worker), false, 'the setsid child went with the container');
    assert.equal(existsSync(dir), false, 'the cgroup is removed');
  },
);

test(
  'what a crashed process left running (setsid) is killed with it; the next run starts clean',
  { skip: unavailable },
  async () => {
    const box = await resources.sandbox();
    await box.script(
      'run.sh',
      "#!/bin/sh\nsetsid sh -c 'echo $$ >> escaped.pids; exec sleep 600' &\nsleep 0.3\nexit 1\n",
    );
    const dir = cgroupDir('crash');
    const supervisor = resources.supervisor(
      new ContainerSupervisor(box.spec('./run.sh', { restart_policy: 'always', cgroup_dir: dir }), {
        backoff: { initialMs: 200, maxMs: 200, resetAfterMs: 60_000 },
      }),
    );
    await supervisor.start();
    await waitForStatus(supervisor, 'two restarts', (s) => s.restart_count >= 2);
    await supervisor.stop();
    const escaped = readFileSync(path.join(box.directory, 'escaped.pids'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
    assert.ok(escaped.length >= 2, `${escaped.length} runs`);
    for (const pid of escaped) assert.equal(alive(pid), false, `escaped process ${pid} is gone`);
  },
);

test(
  'limits: written where the host has the controller, else the status says which cannot be',
  { skip: unavailable },
  async (t) => {
    const box = await resources.sandbox();
    // Allocates about 200 MB in the shell, past a 64 MiB limit.
    await box.script(
      'run.sh',
      '#!/bin/sh\nx=$(head -c 200000000 /dev/zero | tr "\\\\0" a)\necho survived\nexec sleep 600\n',
    );
    const dir = cgroupDir('limits');
    const supervisor = resources.supervisor(
      new ContainerSupervisor(
        box.spec('./run.sh', { cgroup_dir: dir, limits: { memoryBytes: 64 * 1024 * 1024, pids: 50 } }),
      ),
    );
    await supervisor.start();
    const status = await waitForStatus(
      supervisor,
      'started or ended',
      (s) => s.state.running !== undefined || s.state.terminated !== undefined,
    );
    const controllers = readFileSync(path.join(path.dirname(dir), 'cgroup.controllers'), 'utf8');
    if (!controllers.includes('memory')) {
      assert.match(status.resources_message ?? '', /^memory, pids cannot be limited: not enabled for /);
      t.skip(
        `the memory controller is not available here (${controllers.trim() || 'none'}): the kill past the limit is not tried`,
      );
      return;
    }
    assert.equal(status.resources_message, undefined);
    assert.equal(readFileSync(path.join(dir, 'memory.max'), 'utf8').trim(), String(64 * 1024 * 1024));
    const ended = await waitForStatus(
      supervisor,
      'killed past its memory limit',
      (s) => s.state.terminated !== undefined,
    );
    assert.equal(ended.state.terminated?.reason, 'Killed');
  },
);

test('limits asked of a host without cgroups are reported, not silently dropped', async () => {
  const box = await resources.sandbox();
  await box.script('run.sh', '#!/bin/sh\nexec sleep 600\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('./run.sh', { limits: { memoryBytes: 1 << 30 } })),
  );
  await supervisor.start();
  const status = await waitForStatus(supervisor, 'running', (s) => s.state.running !== undefined);
  assert.equal(
    status.resources_message,
    'resource limits need a writable cgroup v2, which this host does not offer',
  );
});
