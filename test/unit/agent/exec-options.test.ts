import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_TIMEOUT_SECONDS,
  MAX_STDIN_BYTES,
  parseExecRequest,
  parseExecStreamQuery,
} from '../../../agent/endpoint/exec-options.js';
import { BadQuery } from '../../../agent/endpoint/logs.js';
import { chooseProtocol } from '../../../agent/endpoint/exec-stream.js';
import { Refusal } from '../../../agent/endpoint/auth.js';

const query = (text: string) => new URLSearchParams(text);

test('POST exec: the argv and timeout from the query, or from a JSON body with stdin', () => {
  assert.deepEqual(parseExecRequest(query('command=sh&command=-c&command=echo%20hi'), ''), {
    command: ['sh', '-c', 'echo hi'],
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
  });
  assert.deepEqual(parseExecRequest(query('command=ls&timeout_seconds=5'), ''), {
    command: ['ls'],
    timeoutSeconds: 5,
  });
  assert.deepEqual(parseExecRequest(query(''), '{"command":["cat"],"timeout_seconds":7,"stdin":"a\\nb"}'), {
    command: ['cat'],
    timeoutSeconds: 7,
    stdin: 'a\nb',
  });
  // The timeout may be given as a string in the body too, and the body may be blank.
  assert.equal(parseExecRequest(query(''), '{"command":["ls"],"timeout_seconds":"9"}').timeoutSeconds, 9);
  assert.deepEqual(parseExecRequest(query('command=ls'), '  \n').command, ['ls']);
  // An argument may be empty; only the program may not.
  assert.deepEqual(parseExecRequest(query('command=echo&command='), '').command, ['echo', '']);
});

test('POST exec: every bad request is refused, naming what is wrong', () => {
  const refused = (params: string, body: string, pattern: RegExp) =>
    assert.throws(
      () => parseExecRequest(query(params), body),
      (error: unknown) => {
        assert.ok(error instanceof BadQuery, String(error));
        assert.match(error.message, pattern);
        return true;
      },
    );
  refused('', '', /command is required/);
  refused('timeout_seconds=5', '', /command is required/);
  refused('', '{}', /command is required/);
  refused('', '{"command":[]}', /command is required/);
  refused('command=', '', /program, is empty/);
  refused('', '{"command":"ls -l"}', /must be an array/);
  refused('', '{"command":["ls",3]}', /must be strings/);
  refused('', '{"command":["ls\\u0000"]}', /NUL/);
  for (const timeout of ['0', '-1', '1.5', 'abc', '', '1e3', '999999999', ' 5'])
    refused(
      `command=ls&timeout_seconds=${encodeURIComponent(timeout)}`,
      '',
      /timeout_seconds must be a whole number/,
    );
  for (const timeout of ['0', '2.5', '-3', 'null', '"x"', '[]', 'true'])
    refused('', `{"command":["ls"],"timeout_seconds":${timeout}}`, /timeout_seconds must be a whole number/);
  refused('', '{"command":["cat"],"stdin":5}', /"stdin" must be a string/);
  refused('', '{"command":["cat"],"stdin":["a"]}', /"stdin" must be a string/);
  refused('', JSON.stringify({ command: ['cat'], stdin: 'x'.repeat(MAX_STDIN_BYTES + 1) }), /larger than/);
  refused('', 'not json', /not JSON/);
  refused('', '["ls"]', /JSON object/);
  refused('', '{"command":["ls"],"tty":true}', /unknown body field "tty"/);
  refused('command=ls&follow=true', '', /unknown parameter "follow"/);
  refused('command=ls', '{"command":["ls"]}', /both in the query and in the body/);
  refused('timeout_seconds=3', '{"command":["ls"],"timeout_seconds":3}', /both in the query and in the body/);
});

test('WebSocket exec: the streams as kubelet reads them, a terminal merging stderr', () => {
  assert.deepEqual(parseExecStreamQuery(query('command=ls')), {
    command: ['ls'],
    stdin: false,
    stdout: true,
    stderr: true,
    tty: false,
  });
  assert.deepEqual(parseExecStreamQuery(query('command=sh&stdin=true&tty=true')), {
    command: ['sh'],
    stdin: true,
    stdout: true,
    stderr: false,
    tty: true,
  });
  assert.deepEqual(parseExecStreamQuery(query('command=cat&stdin=1&stdout=0&stderr=1&container=main')), {
    command: ['cat'],
    stdin: true,
    stdout: false,
    stderr: true,
    tty: false,
    container: 'main',
  });
});

test('WebSocket exec: every bad query is refused', () => {
  const refused = (params: string, pattern: RegExp) =>
    assert.throws(
      () => parseExecStreamQuery(query(params)),
      (error: unknown) => {
        assert.ok(error instanceof BadQuery, String(error));
        assert.match(error.message, pattern);
        return true;
      },
    );
  refused('', /command is required/);
  refused('stdin=true&tty=true', /command is required/);
  for (const name of ['stdin', 'stdout', 'stderr', 'tty']) {
    for (const value of ['yes', 'TRUE', '', '2'])
      refused(`command=ls&${name}=${value}`, new RegExp(`${name} must be true or false`));
    refused(`command=ls&${name}=true&${name}=false`, new RegExp(`${name} is given 2 times`));
  }
  refused('command=ls&stdout=false&stderr=false', /at least one of stdin, stdout and stderr/);
  refused('command=ls&stdout=false&tty=true', /at least one of stdin, stdout and stderr/);
  refused('command=ls&timeout_seconds=5', /unknown parameter "timeout_seconds"/);
  refused('command=ls&container=a&container=b', /more than once/);
});

test('the subprotocol: v5 preferred, then v4; none of them is a 400', () => {
  assert.equal(chooseProtocol('v5.channel.k8s.io, v4.channel.k8s.io'), 'v5.channel.k8s.io');
  assert.equal(chooseProtocol('v4.channel.k8s.io,v5.channel.k8s.io'), 'v5.channel.k8s.io');
  assert.equal(chooseProtocol('channel.k8s.io, v4.channel.k8s.io'), 'v4.channel.k8s.io');
  for (const offered of [undefined, '', 'channel.k8s.io', 'base64.channel.k8s.io'])
    assert.throws(
      () => chooseProtocol(offered),
      (error: unknown) => {
        assert.ok(error instanceof Refusal);
        assert.equal(error.status, 400);
        assert.match(error.message, /v5.channel.k8s.io and v4.channel.k8s.io/);
        return true;
      },
    );
});
