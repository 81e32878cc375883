import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planAdoption } from '../../../agent/process/adoption.js';
import { readProcStat } from '../../../agent/process/proc.js';
import type { PersistedContainer } from '../../../agent/process/state-file.js';

const now = new Date('2026-01-01T00:00:10.000Z');

function record(overrides: Partial<PersistedContainer>): PersistedContainer {
  return {
    version: 1,
    name: 'app',
    phase: 'running',
    restart_count: 0,
    state: { running: { pid: 1, started_at: '2026-01-01T00:00:00.000Z' } },
    backoff: { failures: 0 },
    ...overrides,
  };
}

test('a recorded process that still runs with the same start time is watched again', () => {
  const startTime = readProcStat(process.pid)?.startTime;
  const plan = planAdoption(
    record({ pid: process.pid, proc_start_time: startTime, started_at: '2026-01-01T00:00:00.000Z' }),
    now,
  );
  assert.deepEqual(plan, {
    kind: 'alive',
    pid: process.pid,
    startTime,
    startedAt: new Date('2026-01-01T00:00:00.000Z'),
    signalsGroup: true,
  });
});

test('a recorded process that is gone, or was never recorded, is reported as ended unseen', () => {
  const startTime = readProcStat(process.pid)?.startTime ?? 0;
  const reused = planAdoption(
    record({ pid: process.pid, proc_start_time: startTime - 1, signals_group: true, started_at: 'then' }),
    now,
  );
  assert.deepEqual(reused, {
    kind: 'gone',
    pid: process.pid,
    startTime: startTime - 1,
    killGroup: true,
    terminated: {
      reason: 'Unknown',
      message: `process ${process.pid} exited while the agent was not watching; its exit code is unknown`,
      finished_at: now.toISOString(),
      started_at: 'then',
    },
  });
  const unrecorded = planAdoption(record({}), now);
  assert.equal(unrecorded.kind, 'gone');
  assert.equal(
    unrecorded.kind === 'gone' && unrecorded.terminated.message,
    'the previous agent stopped before the process was recorded',
  );
  assert.equal(unrecorded.kind === 'gone' && unrecorded.killGroup, false);
});

test('a due restart keeps its time; a settled container stays settled', () => {
  const waiting = { waiting: { reason: 'CrashLoopBackOff' } };
  assert.deepEqual(
    planAdoption(
      record({
        phase: 'backoff',
        state: waiting,
        backoff: { failures: 2, next_restart_at: '2026-01-01T00:00:12.500Z' },
      }),
      now,
    ),
    { kind: 'due', delayMs: 2500, state: waiting },
  );
  assert.deepEqual(
    planAdoption(
      record({
        phase: 'backoff',
        state: waiting,
        backoff: { failures: 2, next_restart_at: '2025-12-31T00:00:00Z' },
      }),
      now,
    ),
    { kind: 'due', delayMs: 0, state: waiting },
  );
  const stopped = { terminated: { reason: 'Stopped' } };
  assert.deepEqual(planAdoption(record({ phase: 'stopped', state: stopped }), now), {
    kind: 'settled',
    phase: 'stopped',
    state: stopped,
  });
});
