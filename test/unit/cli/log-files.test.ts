import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../../cli/command.js';
import { logFilesTable, runLogFiles } from '../../../cli/commands/log-files.js';

const silent = { stdout: { write: () => true }, stderr: { write: () => true } };

test('the list prints as a PATH SIZE MODIFIED table, columns aligned', () => {
  assert.equal(
    logFilesTable([
      { path: 'container/logs/app.log', size: 1234, modified: '2026-01-02T03:04:05.000Z' },
      { path: 'app/a.log', size: 5, modified: '2026-01-02T03:04:06.000Z' },
    ]),
    'PATH                     SIZE   MODIFIED\n' +
      'container/logs/app.log   1234   2026-01-02T03:04:05.000Z\n' +
      'app/a.log                5      2026-01-02T03:04:06.000Z\n',
  );
});

test('seer logs files refuses a missing pod, a bad --tail, and --tail without a path', async () => {
  for (const args of [
    [],
    ['p', '--tail', '-3'],
    ['p', '--tail', 'x', 'container/a.log'],
    ['p', '--tail', '3'],
    ['p', 'a', 'b'],
  ])
    await assert.rejects(runLogFiles(args, silent), UsageError, args.join(' '));
});
