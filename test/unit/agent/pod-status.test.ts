import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerStatus } from '../../../agent/process/index.js';
import { podStatus } from '../../../agent/pods/pod-status.js';
import type { SeerPod } from '../../../api/types.js';
import { seerPod } from '../../support/pods.js';

const pod: SeerPod = {
  ...seerPod('p', {
    containers: [
      { name: 'a', package: 'file:///a.tgz' },
      { name: 'b', package: 'file:///b.tgz' },
    ],
  }),
};
pod.metadata.generation = 4;

const running = (name: string, ready: boolean, restarts = 0): ContainerStatus => ({
  name,
  ready,
  started: true,
  restart_count: restarts,
  pid: 10,
  state: { running: { pid: 10, started_at: '2026-01-01T00:00:00Z' } },
});

const condition = (status: ReturnType<typeof podStatus>, type: string) =>
  status.conditions?.find((c) => c.type === type);

test('while packages are prepared the pod is Pending with the reason in PackagesReady and Ready', () => {
  const status = podStatus({
    pod,
    nodeName: 'n',
    preparing: { reason: 'Pulling', message: 'pulling file:///a.tgz' },
    containers: [],
    digests: {},
  });
  assert.equal(status.phase, 'Pending');
  assert.equal(status.ready, '0/2');
  assert.equal(status.reason, 'Pulling');
  assert.equal(condition(status, 'PackagesReady')?.status, 'False');
  assert.equal(condition(status, 'Ready')?.reason, 'Pulling');
  assert.equal(status.observed_generation, 4);
});

test('running containers make the pod Running; readiness of all makes it Ready; restarts add up', () => {
  const partly = podStatus({
    pod,
    nodeName: 'n',
    containers: [running('a', true, 2), running('b', false, 1)],
    digests: { a: 'sha256:x' },
  });
  assert.equal(partly.phase, 'Running');
  assert.equal(partly.ready, '1/2');
  assert.equal(partly.restarts, 3);
  assert.equal(condition(partly, 'ContainersReady')?.status, 'False');
  assert.match(condition(partly, 'ContainersReady')?.message ?? '', /not ready: b/);
  assert.equal(partly.container_statuses?.[0]?.package_digest, 'sha256:x');
  const all = podStatus({
    pod,
    nodeName: 'n',
    containers: [running('a', true), running('b', true)],
    digests: {},
  });
  assert.equal(condition(all, 'Ready')?.status, 'True');
  assert.equal(all.reason, undefined);
});

test('a crash loop surfaces as the pod reason', () => {
  const looping: ContainerStatus = {
    name: 'b',
    ready: false,
    started: false,
    restart_count: 3,
    state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 400ms' } },
    last_state: { terminated: { exit_code: 1 } },
  };
  const status = podStatus({ pod, nodeName: 'n', containers: [running('a', true), looping], digests: {} });
  assert.equal(status.phase, 'Running');
  assert.equal(status.reason, 'CrashLoopBackOff');
  assert.match(status.message ?? '', /^b: back-off/);
});

test('all containers finished: Succeeded when every exit code is 0, otherwise Failed', () => {
  const done = (name: string, exit_code: number): ContainerStatus => ({
    name,
    ready: false,
    started: false,
    restart_count: 0,
    state: { terminated: { exit_code } },
  });
  assert.equal(
    podStatus({ pod, nodeName: 'n', containers: [done('a', 0), done('b', 0)], digests: {} }).phase,
    'Succeeded',
  );
  assert.equal(
    podStatus({ pod, nodeName: 'n', containers: [done('a', 0), done('b', 2)], digests: {} }).phase,
    'Failed',
  );
});

test('a condition keeps its transition time while its status stays the same', () => {
  const first = podStatus(
    { pod, nodeName: 'n', containers: [running('a', true), running('b', false)], digests: {} },
    '2026-01-01T00:00:00Z',
  );
  const again = podStatus(
    {
      pod: { ...pod, status: first },
      nodeName: 'n',
      containers: [running('a', true), running('b', false)],
      digests: {},
    },
    '2026-01-01T00:05:00Z',
  );
  assert.equal(condition(again, 'Ready')?.last_transition_time, '2026-01-01T00:00:00Z');
  const flipped = podStatus(
    {
      pod: { ...pod, status: again },
      nodeName: 'n',
      containers: [running('a', true), running('b', true)],
      digests: {},
    },
    '2026-01-01T00:09:00Z',
  );
  assert.equal(condition(flipped, 'Ready')?.last_transition_time, '2026-01-01T00:09:00Z');
  assert.equal(condition(flipped, 'PodScheduled')?.last_transition_time, '2026-01-01T00:00:00Z');
});

test('a container given up on (max_restarts) fails the pod, with its reason, while the other still runs', () => {
  const gaveUp: ContainerStatus = {
    name: 'b',
    ready: false,
    started: false,
    restart_count: 5,
    state: {
      terminated: {
        exit_code: 1,
        reason: 'RestartLimitReached',
        message: 'exited with code 1; restarted 5 times within 300 s (max_restarts 5): not restarted again',
      },
    },
  };
  const status = podStatus({ pod, nodeName: 'n', containers: [running('a', true), gaveUp], digests: {} });
  assert.equal(status.phase, 'Failed');
  assert.equal(status.reason, 'RestartLimitReached');
  assert.match(status.message ?? '', /^b: exited with code 1; restarted 5 times/);
});
