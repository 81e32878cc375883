import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostLayout } from '../../../agent/pods/layout.js';
import { MissingStartCommandError, portVariable, processSpec } from '../../../agent/pods/process-spec.js';
import { seerPod } from '../../support/pods.js';

const layout = new HostLayout('/seer');

test('port variables are SEER_PORT_ and the name in upper case with underscores', () => {
  assert.equal(portVariable('http'), 'SEER_PORT_HTTP');
  assert.equal(portVariable('fpm-port'), 'SEER_PORT_FPM_PORT');
});

test('a container becomes a process spec with the SEER_* environment, its directory and defaults', () => {
  const pod = seerPod('web', { containers: [] }, 'shop');
  const container = {
    name: 'nginx',
    package: 'x',
    commands: { start: 'sbin/nginx', reload: 'sbin/nginx -s reload' },
    ports: [{ name: 'http', container_port: 80 }],
    env: [{ name: 'SEER_NODE_NAME', value: 'overridden' }, { name: 'EMPTY' }],
  };
  const dir = layout.containerDir('web', container);
  assert.equal(dir, '/seer/pod/web/container/nginx');
  const spec = processSpec(pod, container, layout, { name: 'node-1', ip: '10.0.0.11' }, dir);
  assert.deepEqual(spec.env, {
    SEER_PORT_HTTP: '80',
    SEER_POD_NAME: 'web',
    SEER_NAMESPACE: 'shop',
    SEER_CONTAINER_NAME: 'nginx',
    SEER_CONTAINER_DIR: dir,
    SEER_NODE_NAME: 'overridden',
    SEER_NODE_IP: '10.0.0.11',
    EMPTY: '',
  });
  assert.equal(spec.mode, 'foreground');
  assert.equal(spec.restart_policy, 'always');
  assert.equal(spec.stop_timeout_seconds, 30);
  assert.deepEqual(spec.ports, { http: 80 });
  assert.equal(spec.log_dir, '/seer/pod/web/log');
  assert.equal(spec.state_file, '/seer/pod/web/.seer/nginx.state.json');
});

test('SEER_NODE_IP is the node address when the node has one, and unset otherwise', () => {
  const pod = seerPod('p', { containers: [] });
  const container = { name: 'c', package: 'x', commands: { start: 'bin/c' } };
  const env = (ip?: string) => processSpec(pod, container, layout, { name: 'n', ip }, '/d').env;
  assert.equal(env('127.0.0.2').SEER_NODE_IP, '127.0.0.2');
  assert.equal('SEER_NODE_IP' in env(undefined), false);
  const overridden = { ...container, env: [{ name: 'SEER_NODE_IP', value: '0.0.0.0' }] };
  assert.equal(
    processSpec(pod, overridden, layout, { name: 'n', ip: '10.0.0.1' }, '/d').env.SEER_NODE_IP,
    '0.0.0.0',
  );
});

test('deployment_dir replaces the conventional container directory', () => {
  assert.equal(layout.containerDir('p', { name: 'c', deployment_dir: '/srv/app' }), '/srv/app');
});

test('a container with no start command (and none from its package) is refused', () => {
  const pod = seerPod('p', { containers: [] });
  assert.throws(
    () => processSpec(pod, { name: 'c', package: 'x' }, layout, { name: 'n' }, '/d'),
    MissingStartCommandError,
  );
  assert.throws(
    () =>
      processSpec(pod, { name: 'c', package: 'x', commands: { start: '  ' } }, layout, { name: 'n' }, '/d'),
    /no start command/,
  );
});
