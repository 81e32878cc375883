import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import pino from 'pino';
import { ContainerSupervisor } from '../../../agent/process/index.js';
import { readWritten, TestResources, waitForStatus } from '../../support/processes.js';

const resources = new TestResources();
after(() => resources.cleanUp());

/** A logger keeping the messages of error-level lines. */
function errorLogger(): { logger: pino.Logger; errors: string[] } {
  const errors: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { level: number; msg: string; event?: string; phase?: string };
        if (entry.level >= 50) errors.push(`${entry.msg} (${entry.event} in ${entry.phase})`);
      }
      done();
    },
  });
  return { logger: pino({ level: 'error' }, sink), errors };
}

test('crash loops, requested restarts (with and without a restart command) and stops stay within the transition table', async () => {
  const box = await resources.sandbox();
  const { logger, errors } = errorLogger();
  await box.script('crash.sh', '#!/bin/sh\nexit 1\n');
  const crashing = resources.supervisor(
    new ContainerSupervisor(box.spec('./crash.sh', { restart_policy: 'always' }), {
      logger,
      backoff: { initialMs: 10, maxMs: 20 },
    }),
  );
  await crashing.start();
  await waitForStatus(crashing, 'three restarts', (s) => s.restart_count >= 3);
  await crashing.stop();

  await box.script('app.sh', '#!/bin/sh\necho $$ > app.pid\nexec sleep 600\n');
  const restarted = resources.supervisor(
    new ContainerSupervisor(
      box.spec('./app.sh', {
        name: 'restarted',
        state_file: path.join(box.root, 'state', 'restarted.json'),
        commands: { start: './app.sh', restart: 'kill "$(cat app.pid)"' },
      }),
      { logger },
    ),
  );
  await restarted.start();
  await readWritten(path.join(box.directory, 'app.pid'));
  const first = restarted.status().pid;
  await restarted.restart();
  await waitForStatus(restarted, 'running again', (s) => s.state.running !== undefined && s.pid !== first);
  await restarted.stop();
  await restarted.restart();
  await restarted.stop();
  assert.deepEqual(errors, []);
});
