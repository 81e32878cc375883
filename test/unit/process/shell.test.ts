import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { foregroundScript } from '../../../agent/process/shell.js';

test('a simple command is exec’d, after any leading assignments', () => {
  assert.deepEqual(foregroundScript('bin/server --port 80'), {
    script: 'exec bin/server --port 80',
    execs: true,
  });
  assert.deepEqual(foregroundScript('  /usr/bin/redis-server redis.conf '), {
    script: 'exec /usr/bin/redis-server redis.conf',
    execs: true,
  });
  assert.deepEqual(foregroundScript('JAVA_OPTS="-Xmx1g -Xms1g" MODE=prod bin/run'), {
    script: 'JAVA_OPTS="-Xmx1g -Xms1g" MODE=prod exec bin/run',
    execs: true,
  });
  assert.deepEqual(foregroundScript('exec bin/run'), { script: 'exec bin/run', execs: true });
});

test('lists, pipes, compound commands and builtins keep the shell as the supervised process', () => {
  for (const command of [
    'cd sub && ./run',
    'prepare; exec run',
    'run | tee out',
    'run &',
    'if true; then run; fi',
    '(run)',
    'ulimit -n 4096',
    'X=1',
    'while :\ndo sleep 1; done',
  ]) {
    assert.deepEqual(foregroundScript(command), { script: command.trim(), execs: false }, command);
  }
});

test('leading assignments before exec still reach the program (checked with the real /bin/sh)', () => {
  const { script } = foregroundScript("GREETING='hi there' env");
  const output = execFileSync('/bin/sh', ['-c', script], {
    env: { PATH: '/usr/bin:/bin' },
    encoding: 'utf8',
  });
  assert.match(output, /^GREETING=hi there$/m);
});
