import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, DEFAULTS, loadAgentConfig, USAGE } from '../../../agent/config.js';

async function configFile(text: string): Promise<string> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'seer-agent-config-')), 'agent.yaml');
  await writeFile(file, text);
  return file;
}

test('flags give the settings, with defaults for the rest', async () => {
  const config = await loadAgentConfig(
    [
      '--kubeconfig',
      '/k',
      '--node-name',
      'n1',
      '--insecure-registry',
      'a:5000',
      '--insecure-registry',
      'b:5000',
    ],
    'host',
  );
  assert.equal(config.kubeconfig, '/k');
  assert.equal(config.node_name, 'n1');
  assert.equal(config.root, DEFAULTS.root);
  assert.equal(config.heartbeat_interval_seconds, 10);
  assert.deepEqual(config.insecure_registries, ['a:5000', 'b:5000']);
});

test('the node name defaults to the host name', async () => {
  assert.equal((await loadAgentConfig([], 'myhost')).node_name, 'myhost');
});

test('a config file gives settings and flags win over it', async () => {
  const file = await configFile(
    'node_name: from-file\nroot: /srv/seer\nheartbeat_interval_seconds: 3\nmax_pods: 20\n',
  );
  const config = await loadAgentConfig(['--config', file, '--root', '/flag/root'], 'host');
  assert.equal(config.node_name, 'from-file');
  assert.equal(config.root, '/flag/root');
  assert.equal(config.heartbeat_interval_seconds, 3);
  assert.equal(config.max_pods, 20);
});

test('the package cache limit is a Kubernetes quantity, 10Gi by default, 0 for no limit', async () => {
  assert.equal((await loadAgentConfig([], 'h')).package_cache_limit, 10 * 1024 ** 3);
  assert.equal(DEFAULTS.package_cache_limit, 10 * 1024 ** 3);
  const limit = async (...argv: string[]) => (await loadAgentConfig(argv, 'h')).package_cache_limit;
  assert.equal(await limit('--package-cache-limit', '500Mi'), 500 * 1024 ** 2);
  assert.equal(await limit('--package-cache-limit', '2G'), 2e9);
  assert.equal(await limit('--package-cache-limit', '1e6'), 1e6);
  assert.equal(await limit('--package-cache-limit', '0'), 0);
  const file = await configFile('package_cache_limit: 20Gi\n');
  assert.equal(await limit('--config', file), 20 * 1024 ** 3);
  assert.equal(await limit('--config', file, '--package-cache-limit', '1Gi'), 1024 ** 3);
  assert.equal(await limit('--config', await configFile('package_cache_limit: 1048576\n')), 1024 ** 2);
});

test('a package cache limit that is not a size is refused', async () => {
  for (const bad of ['lots', '-1Gi', '10GB', '', '1e400']) {
    await assert.rejects(
      loadAgentConfig([`--package-cache-limit=${bad}`], 'h'),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message === `package cache limit must be a size such as 10Gi or 500Mi (or 0), not ${bad}`,
      bad,
    );
  }
  for (const bad of ['-5', '[1]', 'true']) {
    await assert.rejects(
      loadAgentConfig(['--config', await configFile(`package_cache_limit: ${bad}\n`)], 'h'),
      (e: Error) => e instanceof ConfigError && /^package cache limit must be a size/.test(e.message),
      bad,
    );
  }
});

test('--help lists --package-cache-limit', () => {
  assert.match(USAGE, /--package-cache-limit SIZE .*default 10Gi, 0: never/);
});

test('bad settings are refused with a message that names them', async () => {
  await assert.rejects(
    loadAgentConfig(['--root', 'relative/dir'], 'h'),
    (e: Error) => e instanceof ConfigError && /absolute/.test(e.message),
  );
  await assert.rejects(
    loadAgentConfig(['--heartbeat-interval', '0'], 'h'),
    /heartbeat interval must be a positive number/,
  );
  await assert.rejects(loadAgentConfig(['--max-pods', 'many'], 'h'), /max pods/);
  await assert.rejects(
    loadAgentConfig(['--node-name', 'Bad_Name'], 'h'),
    /not a valid Kubernetes object name/,
  );
  await assert.rejects(
    loadAgentConfig(['--config', await configFile('nod_name: typo\n')], 'h'),
    /unknown settings: nod_name/,
  );
  await assert.rejects(
    loadAgentConfig(['--config', await configFile('- a list\n')], 'h'),
    /expected a mapping/,
  );
  await assert.rejects(loadAgentConfig(['--no-such-flag'], 'h'), /Unknown option/);
});

test('the endpoint: port, address, certificate files, and turning it off', async () => {
  const defaults = await loadAgentConfig([], 'host');
  assert.equal(defaults.endpoint_enabled, true);
  assert.equal(defaults.endpoint_port, 10350);
  assert.equal(defaults.endpoint_address, '0.0.0.0');
  const flags = await loadAgentConfig(
    [
      '--endpoint-port',
      '0',
      '--endpoint-address',
      '127.0.0.1',
      '--tls-cert-file',
      '/c',
      '--tls-key-file',
      '/k',
    ],
    'host',
  );
  assert.equal(flags.endpoint_port, 0);
  assert.equal(flags.endpoint_address, '127.0.0.1');
  assert.equal(flags.tls_cert_file, '/c');
  assert.equal(flags.tls_key_file, '/k');
  assert.equal((await loadAgentConfig(['--no-endpoint'], 'host')).endpoint_enabled, false);
  const file = await configFile('endpoint_port: 12000\nendpoint_enabled: false\n');
  const fromFile = await loadAgentConfig(['--config', file], 'host');
  assert.equal(fromFile.endpoint_port, 12000);
  assert.equal(fromFile.endpoint_enabled, false);
  for (const bad of ['-1', '65536', 'http', '1.5'])
    await assert.rejects(loadAgentConfig([`--endpoint-port=${bad}`], 'host'), ConfigError);
  await assert.rejects(loadAgentConfig(['--tls-cert-file', '/c'], 'host'), /go together/);
  await assert.rejects(
    loadAgentConfig(['--config', await configFile('endpoint_enabled: sometimes\n')], 'host'),
    /endpoint_enabled must be true or false/,
  );
  assert.match(USAGE, /--endpoint-port PORT/);
  assert.match(USAGE, /--no-endpoint/);
});

test('container log rotation settings', async () => {
  const defaults = await loadAgentConfig([], 'host');
  assert.equal(defaults.container_log_max_size, 10 * 1024 ** 2);
  assert.equal(defaults.container_log_max_files, 5);
  const set = await loadAgentConfig(
    ['--container-log-max-size', '64Ki', '--container-log-max-files', '2'],
    'host',
  );
  assert.equal(set.container_log_max_size, 65536);
  assert.equal(set.container_log_max_files, 2);
  await assert.rejects(loadAgentConfig(['--container-log-max-size', '0'], 'host'), ConfigError);
  await assert.rejects(loadAgentConfig(['--container-log-max-files', '1.5'], 'host'), ConfigError);
});

test('an app log root from a flag or the config file, absolute; none by default', async () => {
  assert.equal((await loadAgentConfig([], 'h')).app_log_root, undefined);
  assert.equal((await loadAgentConfig(['--app-log-root', '/opt/var/log'], 'h')).app_log_root, '/opt/var/log');
  const file = await configFile('app_log_root: /var/app-logs\n');
  assert.equal((await loadAgentConfig(['--config', file], 'h')).app_log_root, '/var/app-logs');
  await assert.rejects(loadAgentConfig(['--app-log-root', 'relative/dir'], 'h'), ConfigError);
  assert.match(USAGE, /--app-log-root DIR/);
});
