import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyPackageDefaults,
  parsePackageMetadata,
  type PackageContainerFields,
} from '../../../packages/metadata.js';

describe('parsePackageMetadata', () => {
  test('reads every field', () => {
    const text = `
commands:
  start: sbin/nginx
  stop: sbin/nginx -s stop
  reload: sbin/nginx -s reload
  restart: sbin/nginx -s reopen
mode: forking
pid_file: logs/nginx.pid
ports:
  - name: http
    container_port: 80
  - name: dns
    container_port: 53
    protocol: udp
`;
    assert.deepEqual(parsePackageMetadata(text), {
      commands: {
        start: 'sbin/nginx',
        stop: 'sbin/nginx -s stop',
        reload: 'sbin/nginx -s reload',
        restart: 'sbin/nginx -s reopen',
      },
      mode: 'forking',
      pid_file: 'logs/nginx.pid',
      ports: [
        { name: 'http', container_port: 80 },
        { name: 'dns', container_port: 53, protocol: 'udp' },
      ],
    });
  });

  test('an empty file has no defaults', () => {
    assert.deepEqual(parsePackageMetadata(''), {});
    assert.deepEqual(parsePackageMetadata('# only a comment\n'), {});
  });

  const bad: [string, string, RegExp][] = [
    ['not YAML', 'commands: [unclosed', /seer-package\.yaml: not valid YAML/],
    ['a list at the top', '- start: x', /must be a mapping of commands, mode, pid_file and ports/],
    ['a scalar at the top', 'just text', /must be a mapping/],
    [
      'an unknown field',
      'comands:\n  start: x',
      /unknown field "comands" \(expected one of commands, mode, pid_file, ports\)/,
    ],
    ['an unknown command', 'commands:\n  begin: x', /commands: unknown field "begin"/],
    ['commands as a list', 'commands: [x]', /commands must be a mapping/],
    ['an empty command', 'commands:\n  start: "  "', /commands\.start must be a non-empty command line/],
    ['a command that is a number', 'commands:\n  stop: 5', /commands\.stop must be a non-empty command line/],
    ['a command too long', `commands:\n  start: ${'x'.repeat(4097)}`, /commands\.start is longer than 4096/],
    ['an unknown mode', 'mode: daemon', /mode must be foreground or forking, not "daemon"/],
    ['an empty pid_file', 'pid_file: ""', /pid_file must be a non-empty path/],
    ['a pid_file that is a list', 'pid_file: [a]', /pid_file must be a non-empty path/],
    ['ports as a mapping', 'ports: {http: 80}', /ports must be a list/],
    ['a port that is a number', 'ports: [80]', /ports\[0\] must be a mapping/],
    ['a port without a name', 'ports: [{container_port: 80}]', /ports\[0\]\.name must be 1-15 lowercase/],
    ['a port name in capitals', 'ports: [{name: HTTP, container_port: 80}]', /ports\[0\]\.name must be/],
    [
      'a port name too long',
      'ports: [{name: abcdefghijklmnop, container_port: 80}]',
      /ports\[0\]\.name must be/,
    ],
    [
      'port 0',
      'ports: [{name: http, container_port: 0}]',
      /ports\[0\]\.container_port must be an integer from 1 to 65535/,
    ],
    ['port 65536', 'ports: [{name: http, container_port: 65536}]', /container_port must be an integer/],
    [
      'a port as a string',
      'ports: [{name: http, container_port: "80"}]',
      /container_port must be an integer/,
    ],
    ['a fractional port', 'ports: [{name: http, container_port: 80.5}]', /container_port must be an integer/],
    [
      'an unknown protocol',
      'ports: [{name: http, container_port: 80, protocol: sctp}]',
      /protocol must be tcp or udp, not "sctp"/,
    ],
    [
      'a protocol in capitals',
      'ports: [{name: http, container_port: 80, protocol: TCP}]',
      /protocol must be tcp or udp/,
    ],
    [
      'an unknown port field',
      'ports: [{name: http, container_port: 80, host_port: 80}]',
      /ports\[0\]: unknown field "host_port"/,
    ],
    [
      'a port name twice',
      'ports: [{name: http, container_port: 80}, {name: http, container_port: 81}]',
      /ports\[1\]: port name "http" is used twice/,
    ],
    [
      'a port number twice',
      'ports: [{name: a, container_port: 80}, {name: b, container_port: 80, protocol: tcp}]',
      /ports\[1\]: port 80\/tcp is already "a"/,
    ],
    [
      'too many ports',
      `ports:\n${Array.from({ length: 17 }, (_, i) => `  - {name: p${i}, container_port: ${1000 + i}}`).join('\n')}`,
      /at most 16 ports/,
    ],
  ];
  for (const [what, text, message] of bad) {
    test(`refuses ${what}`, () => {
      assert.throws(() => parsePackageMetadata(text), message);
    });
  }

  test('the same port number over tcp and udp is fine', () => {
    const metadata = parsePackageMetadata(
      'ports: [{name: dns-tcp, container_port: 53}, {name: dns-udp, container_port: 53, protocol: udp}]',
    );
    assert.equal(metadata.ports?.length, 2);
  });

  test('YAML dates stay strings and language-specific tags are refused', () => {
    assert.deepEqual(parsePackageMetadata('pid_file: 2024-01-01'), { pid_file: '2024-01-01' });
    assert.throws(() => parsePackageMetadata('mode: !!js/function "x"'), /not valid YAML/);
  });
});

describe('applyPackageDefaults', () => {
  const metadata = parsePackageMetadata(`
commands: {start: sbin/nginx, stop: sbin/nginx -s stop, reload: sbin/nginx -s reload}
mode: forking
pid_file: logs/nginx.pid
ports:
  - {name: http, container_port: 80}
  - {name: https, container_port: 443}
`);

  test('without metadata the container is unchanged', () => {
    const container = { name: 'web', commands: { start: 'x' } };
    assert.deepEqual(applyPackageDefaults(container, undefined), container);
  });

  test('the package fills what the spec leaves out, and other fields pass through', () => {
    const container: PackageContainerFields & { name: string; env: { name: string; value: string }[] } = {
      name: 'web',
      env: [{ name: 'A', value: '1' }],
    };
    assert.deepEqual(applyPackageDefaults(container, metadata), {
      name: 'web',
      env: [{ name: 'A', value: '1' }],
      commands: { start: 'sbin/nginx', stop: 'sbin/nginx -s stop', reload: 'sbin/nginx -s reload' },
      mode: 'forking',
      pid_file: 'logs/nginx.pid',
      ports: [
        { name: 'http', container_port: 80 },
        { name: 'https', container_port: 443 },
      ],
    });
  });

  test('the spec wins field by field, command by command, port by port', () => {
    const effective = applyPackageDefaults(
      {
        commands: { start: 'sbin/nginx -g "daemon off;"', restart: 'sbin/nginx -s reopen' },
        mode: 'foreground' as const,
        ports: [
          { name: 'metrics', container_port: 9113 },
          { name: 'http', container_port: 8080, protocol: 'tcp' as const },
        ],
      },
      metadata,
    );
    assert.deepEqual(effective, {
      commands: {
        start: 'sbin/nginx -g "daemon off;"',
        stop: 'sbin/nginx -s stop',
        reload: 'sbin/nginx -s reload',
        restart: 'sbin/nginx -s reopen',
      },
      mode: 'foreground',
      pid_file: 'logs/nginx.pid',
      ports: [
        { name: 'metrics', container_port: 9113 },
        { name: 'http', container_port: 8080, protocol: 'tcp' },
        { name: 'https', container_port: 443 },
      ],
    });
  });

  test('a spec port keeps the package protocol it does not override', () => {
    const udp = parsePackageMetadata('ports: [{name: dns, container_port: 53, protocol: udp}]');
    assert.deepEqual(applyPackageDefaults({ ports: [{ name: 'dns', container_port: 5353 }] }, udp).ports, [
      { name: 'dns', container_port: 5353, protocol: 'udp' },
    ]);
  });

  test('does not modify its inputs', () => {
    const container = { commands: { start: 'a' }, ports: [{ name: 'http', container_port: 1 }] };
    const copy = structuredClone(container);
    const metadataCopy = structuredClone(metadata);
    applyPackageDefaults(container, metadata);
    assert.deepEqual(container, copy);
    assert.deepEqual(metadata, metadataCopy);
  });
});
