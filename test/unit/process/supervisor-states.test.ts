import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  afterExit,
  afterStartFailure,
  persistedPhase,
  transition,
  TRANSITIONS,
  type Phase,
  type SupervisorEvent,
} from '../../../agent/process/supervisor-states.js';

/** Runs `events` from `phase` through the table, failing on the first one it does not allow. */
function walk(phase: Phase, events: SupervisorEvent[]): Phase[] {
  const phases: Phase[] = [];
  for (const event of events) {
    const next = transition(phase, event);
    assert.ok(next, `${event} is allowed in ${phase}`);
    phase = next.to;
    phases.push(phase);
  }
  return phases;
}

test('a container started, crashing, restarted and stopped goes through the expected phases', () => {
  assert.deepEqual(walk('idle', ['launch', 'run', 'restart-now', 'launch', 'run', 'back-off', 'launch']), [
    'starting',
    'running',
    'backoff',
    'starting',
    'running',
    'backoff',
    'starting',
  ]);
  assert.deepEqual(walk('running', ['stop', 'end-while-stopping', 'stopped']), [
    'stopping',
    'stopping',
    'stopped',
  ]);
  assert.deepEqual(walk('running', ['stop', 'end-while-stopping', 'launch', 'run']), [
    'stopping',
    'stopping',
    'starting',
    'running',
  ]);
});

test('a restart command’s exit starts the container again; a liveness failure keeps it running until the exit', () => {
  assert.deepEqual(walk('running', ['end-for-restart-command', 'launch', 'run']), [
    'starting',
    'starting',
    'running',
  ]);
  assert.deepEqual(walk('running', ['end-for-restart-command', 'run']), ['starting', 'running']);
  assert.deepEqual(walk('running', ['liveness-failed', 'back-off']), ['running', 'backoff']);
});

test('adoption: a live process is watched, an ended one reported, a settled container stays settled', () => {
  assert.deepEqual(walk('idle', ['run']), ['running']);
  assert.deepEqual(walk('idle', ['finish']), ['exited']);
  assert.deepEqual(walk('idle', ['restart-now', 'launch']), ['backoff', 'starting']);
  assert.deepEqual(walk('idle', ['restore-stopped']), ['stopped']);
  assert.deepEqual(walk('idle', ['restore-exited']), ['exited']);
  assert.deepEqual(walk('idle', ['restore-failed']), ['failed']);
  assert.deepEqual(walk('stopped', ['restore-stopped', 'launch']), ['stopped', 'starting']);
});

test('events the table does not allow where they would make no sense', () => {
  assert.equal(transition('idle', 'stop'), undefined, 'nothing to stop');
  assert.equal(transition('idle', 'stopped'), undefined, 'stop() before anything started changes nothing');
  assert.equal(transition('running', 'launch'), undefined, 'never a second process');
  assert.equal(transition('running', 'give-up'), undefined, 'only a launch can fail to start');
  assert.equal(
    transition('stopping', 'back-off'),
    undefined,
    'a stopped process is not restarted by the policy',
  );
  assert.equal(transition('backoff', 'run'), undefined);
  assert.equal(transition('running', 'restore-exited'), undefined);
});

test('what each transition records and reports', () => {
  assert.deepEqual(transition('idle', 'launch'), {
    to: 'starting',
    persist: false,
    notify: false,
    logs: 'rotate',
  });
  assert.equal(transition('idle', 'launch-daemon')?.notify, true, 'a daemon’s start shows as Starting');
  assert.equal(
    transition('running', 'restart-now')?.notify,
    false,
    'no status between the crash and the new run',
  );
  assert.equal(transition('running', 'back-off')?.notify, 'unless-detached');
  assert.equal(transition('starting', 'run')?.persist, true, 'a new agent must find the pid');
  assert.equal(transition('running', 'stop')?.persist, false, 'the process runs until it has ended');
  for (const event of ['finish', 'give-up', 'stopped'] as const) {
    assert.equal(TRANSITIONS[event].logs, 'stop-rotating', event);
    assert.equal(TRANSITIONS[event].persist, true, event);
  }
  for (const [event, rule] of Object.entries(TRANSITIONS)) assert.ok(rule.from.length > 0, event);
});

test('the restart policy decides what follows an exit or a failed start', () => {
  const never = (): number => assert.fail('no delay is needed when nothing restarts');
  assert.deepEqual(afterExit('never', false, never), { event: 'finish' });
  assert.deepEqual(afterExit('on_failure', true, never), { event: 'finish' });
  assert.deepEqual(
    afterExit('on_failure', false, () => 0),
    { event: 'restart-now', delayMs: 0 },
  );
  assert.deepEqual(
    afterExit('always', true, () => 400),
    { event: 'back-off', delayMs: 400 },
  );
  assert.deepEqual(afterStartFailure('never', never), { event: 'give-up' });
  assert.deepEqual(
    afterStartFailure('on_failure', () => 100),
    { event: 'back-off', delayMs: 100 },
  );
  assert.deepEqual(
    afterStartFailure('always', () => 0),
    { event: 'restart-now', delayMs: 0 },
  );
});

test('the state file records a phase a later agent can act on', () => {
  const recorded = (
    ['idle', 'starting', 'running', 'stopping', 'backoff', 'stopped', 'exited', 'failed'] as const
  ).map(persistedPhase);
  assert.deepEqual(recorded, [
    'backoff',
    'backoff',
    'running',
    'running',
    'backoff',
    'stopped',
    'exited',
    'failed',
  ]);
});
