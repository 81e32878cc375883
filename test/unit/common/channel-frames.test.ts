import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BadFrame,
  Channel,
  decodeFrame,
  encodeFrame,
  encodeResize,
  exitStatus,
  failureStatus,
  parseResize,
  parseStatus,
  statusExitCode,
} from '../../../common/channel-frames.js';

test('a frame is its channel byte, then the data', () => {
  assert.deepEqual(encodeFrame(Channel.stdout, 'hi'), Buffer.from([1, 0x68, 0x69]));
  assert.deepEqual(encodeFrame(Channel.stdin, Buffer.from([0, 255])), Buffer.from([0, 0, 255]));
  assert.deepEqual(encodeFrame(Channel.stderr), Buffer.from([2]));
  const frame = decodeFrame(Buffer.from([2, 0x6f, 0x6b]));
  assert.equal(frame.channel, Channel.stderr);
  assert.equal(frame.data.toString(), 'ok');
  assert.equal(decodeFrame(Buffer.from([0])).data.length, 0);
  assert.deepEqual(decodeFrame(encodeFrame(Channel.close, Buffer.of(Channel.stdin))), {
    channel: 255,
    data: Buffer.of(0),
  });
  assert.throws(() => decodeFrame(Buffer.alloc(0)), BadFrame);
});

test('a resize is {"Width":W,"Height":H}, both from 1 to 65535', () => {
  assert.deepEqual(encodeResize({ cols: 120, rows: 40 }), encodeFrame(4, '{"Width":120,"Height":40}'));
  assert.deepEqual(parseResize(Buffer.from('{"Width":120,"Height":40}')), { cols: 120, rows: 40 });
  for (const bad of [
    '',
    'x',
    'null',
    '[]',
    '{"Width":120}',
    '{"Height":40}',
    '{"Width":0,"Height":40}',
    '{"Width":80,"Height":-1}',
    '{"Width":80.5,"Height":24}',
    '{"Width":"80","Height":24}',
    '{"Width":65536,"Height":24}',
  ])
    assert.throws(() => parseResize(Buffer.from(bad)), BadFrame, bad);
});

test('the status of an exit, as kubelet sends it, and the exit code it carries', () => {
  assert.deepEqual(exitStatus(0, ['true']), { metadata: {}, status: 'Success' });
  const failed = exitStatus(3, ['sh', '-c', 'exit 3']);
  assert.equal(failed.status, 'Failure');
  assert.equal(failed.reason, 'NonZeroExitCode');
  assert.deepEqual(failed.details, { causes: [{ reason: 'ExitCode', message: '3' }] });
  assert.match(failed.message ?? '', /non-zero exit code/);
  assert.equal(statusExitCode(failed), 3);
  assert.equal(statusExitCode(exitStatus(0, ['true'])), 0);
  assert.equal(statusExitCode(failureStatus('cannot run')), undefined);
  // What kubelet itself sends parses the same.
  const kubelet = Buffer.from(
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}',
  );
  assert.equal(statusExitCode(parseStatus(kubelet)), 3);
  assert.equal(statusExitCode(parseStatus(Buffer.from('{"metadata":{},"status":"Success"}'))), 0);
  for (const bad of ['', 'x', 'null', '{}', '{"status":"Maybe"}'])
    assert.throws(() => parseStatus(Buffer.from(bad)), BadFrame, bad);
});
