import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setCondition } from '../../../api/conditions.js';
import type { Condition } from '../../../api/types.js';

const EARLIER = '2026-01-01T00:00:00.000Z';
const NOW = '2026-01-02T00:00:00.000Z';

test('setCondition keeps the transition time while the status holds, and moves it when it changes', () => {
  const before: Condition[] = [
    { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', last_transition_time: EARLIER },
    { type: 'Other', status: 'True', last_transition_time: EARLIER },
  ];
  const still = setCondition(before, { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }, NOW);
  assert.equal(still[0]?.last_transition_time, EARLIER);
  const changed = setCondition(before, { type: 'Ready', status: 'True', reason: 'AgentReady' }, NOW);
  assert.deepEqual(changed[0], {
    type: 'Ready',
    status: 'True',
    reason: 'AgentReady',
    last_transition_time: NOW,
  });
  assert.deepEqual(changed[1], before[1], 'other conditions are left as they are, in place');
  assert.equal(before[0]?.status, 'Unknown', 'the input is not changed');
});

test('setCondition appends a condition of a new type, stamped now', () => {
  const list = setCondition(
    undefined,
    { type: 'Ready', status: 'False', reason: 'X', message: 'why' },
    new Date(NOW),
  );
  assert.deepEqual(list, [
    { type: 'Ready', status: 'False', reason: 'X', message: 'why', last_transition_time: NOW },
  ]);
});
