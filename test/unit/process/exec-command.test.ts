import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { executionContext, type ExecutionContext } from '../../../agent/process/execution-context.js';
import { findProgram, runExec, startExec, type ExecExit } from '../../../agent/process/exec-command.js';
import { alive, sandbox, waitFor, type Sandbox } from '../../support/processes.js';

let box: Sandbox;
let context: ExecutionContext;
const asRoot = process.getuid?.() === 0;

before(async () => {
  box = await sandbox('exec');
  context = await executionContext(box.spec('unused', { env: { GREETING: 'hello' } }));
});

after(() => box.remove());

const run = (argv: string[], options: { stdin?: string; timeoutMs?: number; maxOutputBytes?: number } = {}) =>
  runExec(argv, context, { timeoutMs: 10_000, maxOutputBytes: 1024 * 1024, ...options });

test("runs the argv in the container's directory with its environment, stdout and stderr apart", async () => {
  const result = await run(['sh', '-c', 'pwd; echo "$GREETING $HOME"; echo oops >&2; exit 3']);
  assert.equal(result.exitCode, 3);
  assert.equal(result.stdout, `${box.directory}\nhello ${context.env.HOME}\n`);
  assert.equal(result.stderr, 'oops\n');
  assert.equal(result.timedOut, false);
  // No shell: the words reach the program as they are.
  assert.equal((await run(['printf', '%s|', 'a b', '$GREETING', ''])).stdout, 'a b|$GREETING||');
});

test('stdin reaches the command, which then reads its end', async () => {
  const result = await run(['sh', '-c', 'wc -l; cat'], { stdin: 'one\ntwo\n' });
  assert.equal(result.exitCode, 0);
  assert.equal(result.stdout.trim(), '2');
  // Without stdin the command reads /dev/null, not the agent's input.
  assert.equal((await run(['cat'])).stdout, '');
});

test('output beyond the bound is cut and said so', async () => {
  const result = await run(['sh', '-c', 'head -c 5000 /dev/zero | tr "\\0" x; echo ok >&2'], {
    maxOutputBytes: 1000,
  });
  assert.equal(result.stdout.length, 1000);
  assert.equal(result.stdoutTruncated, true);
  assert.equal(result.stderr, 'ok\n');
  assert.equal(result.stderrTruncated, false);
});

test('a program relative to the container directory, or from PATH; a missing one is 127', async () => {
  await box.script('hello.sh', '#!/bin/sh\necho "hello from $(basename "$0")"\n');
  assert.equal((await run(['./hello.sh'])).stdout, 'hello from hello.sh\n');
  const missing = await run(['no-such-program']);
  assert.equal(missing.exitCode, 127);
  assert.match(missing.stderr, /"no-such-program": executable file not found in \$PATH/);
  assert.equal((await run(['./nope'])).exitCode, 127);
  await writeFile(path.join(box.directory, 'data.txt'), 'not a program', { mode: 0o644 });
  const denied = findProgram('./data.txt', context);
  assert.ok(!('file' in denied) && denied.exitCode === 126, JSON.stringify(denied));
  assert.ok('file' in findProgram('sh', context));
});

test('a timeout kills the command and what it started, in other groups and sessions too', async () => {
  const pids = path.join(box.directory, 'pids');
  const started = Date.now();
  const result = await run(
    ['sh', '-c', `sleep 1000 & echo $! > ${pids}; setsid sleep 1001 & echo $! >> ${pids}; wait`],
    { timeoutMs: 500 },
  );
  assert.equal(result.timedOut, true);
  assert.equal(result.exitCode, 137);
  assert.equal(result.signal, 'SIGKILL');
  assert.ok(Date.now() - started < 5000);
  const children = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
  assert.equal(children.length, 2);
  for (const pid of children) await waitFor(`sleep ${pid} gone`, () => !alive(pid));
});

test('in a terminal: its size, resizes, and the exit code', async () => {
  let output = '';
  const exec = startExec(['sh'], context, {
    stdin: true,
    tty: { cols: 100, rows: 30 },
    onOutput: (_stream, chunk) => (output += chunk.toString()),
  });
  assert.ok('pid' in exec);
  exec.write('stty size; echo "term=$TERM"\n');
  await waitFor('the first size', () => output.includes('30 100') && output.includes('term=xterm'));
  exec.resize(132, 43);
  exec.write('stty size\n');
  await waitFor('the new size', () => output.includes('43 132'));
  exec.write('exit 4\n');
  assert.deepEqual(await exec.done, { exitCode: 4 } satisfies ExecExit);
});

test('killing a terminal kills the jobs its shell started', async () => {
  let output = '';
  const exec = startExec(['sh', '-i'], context, {
    stdin: true,
    tty: { cols: 80, rows: 24 },
    onOutput: (_stream, chunk) => (output += chunk.toString()),
  });
  assert.ok('pid' in exec);
  exec.write('sleep 1002 & echo "job=$!"\n');
  const job = Number(await waitFor('the job', () => /job=(\d+)/.exec(output)?.[1]));
  assert.ok(alive(job));
  exec.kill();
  const exit = await exec.done;
  assert.equal(exit.signal, 'SIGKILL');
  await waitFor('the job gone', () => !alive(job));
});

test('as the container user, with its groups only', { skip: !asRoot && 'needs root' }, async () => {
  const nobody = await executionContext(box.spec('unused', { user: 'nobody' }));
  const result = await runExec(['sh', '-c', 'id -u; id -G; echo "$USER $HOME"'], nobody, {
    timeoutMs: 10_000,
    maxOutputBytes: 1024,
  });
  const [uid, groups, names] = result.stdout.trim().split('\n');
  assert.equal(Number(uid), nobody.identity?.uid);
  assert.equal(groups, String(nobody.identity?.gid));
  assert.equal(names, `nobody ${nobody.identity?.home}`);
  let output = '';
  const terminal = startExec(['id', '-G'], nobody, {
    stdin: false,
    tty: { cols: 80, rows: 24 },
    onOutput: (_stream, chunk) => (output += chunk.toString()),
  });
  assert.ok('pid' in terminal);
  await terminal.done;
  assert.equal(output.trim(), String(nobody.identity?.gid));
});

test("a terminal's last output reaches the reader before its exit", async () => {
  for (let run = 0; run < 10; run += 1) {
    let output = '';
    const exec = startExec(['sh', '-c', 'seq 1 3000; echo end-marker'], context, {
      stdin: false,
      tty: { cols: 80, rows: 24 },
      onOutput: (_stream, chunk) => (output += chunk.toString()),
    });
    assert.ok('pid' in exec);
    assert.equal((await exec.done).exitCode, 0);
    assert.match(output, /3000\r\nend-marker\r\n$/, `run ${run}`);
  }
});
