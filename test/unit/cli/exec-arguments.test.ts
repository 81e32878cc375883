import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExecArguments } from '../../../cli/commands/exec.js';
import { UsageError } from '../../../cli/command.js';

test('seer exec: the pod and options before --, the command after it, untouched', () => {
  assert.deepEqual(parseExecArguments(['web', '--', 'ls', '-l']), {
    pod: 'web',
    container: undefined,
    stdin: false,
    tty: false,
    namespace: undefined,
    kubeconfig: undefined,
    command: ['ls', '-l'],
  });
  const parsed = parseExecArguments([
    '-it',
    'spod/web',
    '-c',
    'php',
    '-n',
    'shop',
    '--',
    'sh',
    '-c',
    'echo -- -i',
  ]);
  assert.equal(parsed.pod, 'web');
  assert.equal(parsed.container, 'php');
  assert.equal(parsed.namespace, 'shop');
  assert.equal(parsed.stdin, true);
  assert.equal(parsed.tty, true);
  assert.deepEqual(parsed.command, ['sh', '-c', 'echo -- -i']);
  assert.deepEqual(parseExecArguments(['web', '--', '--', 'x']).command, ['--', 'x']);
});

test('seer exec: usage errors', () => {
  for (const [args, pattern] of [
    [['web'], /needs -- before the command/],
    [['web', 'ls'], /needs -- before the command/],
    [['web', '--'], /needs a command after --/],
    [['web', '--', ''], /needs a command after --/],
    [['--', 'ls'], /needs a pod/],
    [['web', 'other', '--', 'ls'], /takes one pod/],
    [['deploy/web', '--', 'ls'], /seerpods, not deploy/],
    [['web', '--bogus', '--', 'ls'], /usage:/],
    [['web', '-c', '--', 'ls'], /usage:/],
  ] as const)
    assert.throws(
      () => parseExecArguments([...args]),
      (error: unknown) => {
        assert.ok(error instanceof UsageError, String(error));
        assert.match(error.message, pattern);
        return true;
      },
    );
});
