import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { ContainerSupervisor, type ContainerStatus } from '../../../agent/process/index.js';
import { recordStatuses, TestResources, waitForStatus } from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

/** The delays announced by CrashLoopBackOff statuses, in order. */
function announcedDelays(statuses: ContainerStatus[]): number[] {
  return statuses
    .map((status) => status.state.waiting)
    .filter((waiting) => waiting?.reason === 'CrashLoopBackOff')
    .map((waiting) => Number(/back-off (\d+)ms/.exec(waiting?.message ?? '')?.[1]));
}

test('a crash loop restarts at once, then backs off doubling up to the cap, saying CrashLoopBackOff', async () => {
  const box = await resources.sandbox();
  await box.script('crash.sh', '#!/bin/sh\necho "crashing" >&2\nexit 2\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('./crash.sh', { restart_policy: 'always' }), {
      backoff: { initialMs: 40, maxMs: 160, resetAfterMs: 60_000 },
    }),
  );
  const statuses = recordStatuses(supervisor);
  await supervisor.start();
  await waitForStatus(supervisor, 'six restarts', (s) => s.restart_count >= 6);
  await supervisor.stop();

  // Restart 1 is immediate (no waiting status); then 40, 80, 160, 160 … ms.
  assert.deepEqual(announcedDelays(statuses).slice(0, 5), [40, 80, 160, 160, 160]);
  const waiting = statuses.find((s) => s.state.waiting?.reason === 'CrashLoopBackOff');
  assert.match(waiting?.state.waiting?.message ?? '', /^back-off 40ms restarting failed container app$/);
  assert.equal(waiting?.last_state?.terminated?.reason, 'Error');
  assert.equal(waiting?.last_state?.terminated?.exit_code, 2);
  assert.equal(waiting?.started, false);

  // Each announced delay really separated the crash from the next start (lower bounds only).
  const starts = statuses.filter((s) => s.state.running).map((s) => Date.parse(s.state.running!.started_at!));
  const crashes = statuses
    .filter((s) => s.state.waiting?.reason === 'CrashLoopBackOff')
    .map((s) => Date.parse(s.last_state!.terminated!.finished_at!));
  const delays = announcedDelays(statuses);
  for (let i = 0; i < 3; i++) {
    const nextStart = starts.find((start) => start >= crashes[i]!);
    assert.ok(nextStart !== undefined);
    assert.ok(nextStart - crashes[i]! >= delays[i]! - 2, `restart ${i + 2} waited its ${delays[i]} ms`);
  }
});

test('a run longer than resetAfterMs resets the backoff: the next restart is immediate again', async () => {
  const box = await resources.sandbox();
  const fast = path.join(box.directory, 'crash-fast');
  await writeFile(fast, '');
  // Crashes at once while crash-fast exists, otherwise after a run longer than resetAfterMs.
  await box.script('crash.sh', '#!/bin/sh\n[ -e crash-fast ] && exit 1\nsleep 0.6\nexit 1\n');
  const supervisor = resources.supervisor(
    new ContainerSupervisor(box.spec('./crash.sh', { restart_policy: 'always' }), {
      backoff: { initialMs: 100, maxMs: 400, resetAfterMs: 300 },
    }),
  );
  const statuses = recordStatuses(supervisor);
  await supervisor.start();
  await waitForStatus(supervisor, 'backing off', (s) => s.state.waiting?.message?.includes('200ms') === true);
  await rm(fast);
  const before = supervisor.status().restart_count;
  await waitForStatus(supervisor, 'three more restarts', (s) => s.restart_count >= before + 3);
  await supervisor.stop();

  const ranMs = (status: ContainerStatus): number =>
    Date.parse(status.last_state?.terminated?.finished_at ?? '') -
    Date.parse(status.last_state?.terminated?.started_at ?? '');
  // Only short runs are followed by a backoff …
  const backoffs = statuses.filter((s) => s.state.waiting?.reason === 'CrashLoopBackOff');
  assert.ok(backoffs.length >= 2);
  for (const status of backoffs) assert.ok(ranMs(status) < 300, JSON.stringify(status));
  // … and a stable run is followed straight by the next start.
  const afterStableRuns = statuses.filter((s) => s.state.running && s.last_state && ranMs(s) >= 300);
  assert.ok(afterStableRuns.length >= 2, JSON.stringify(statuses));
});
