import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeAddress, SeerNode } from '../../api/types.js';
import { scrapeTargets } from '../../cli/commands/node-targets.js';

const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`;

function node(name: string, addresses: NodeAddress[], endpoint?: { port: number; ca: string }): SeerNode {
  return {
    apiVersion: 'seer.io/v1alpha1',
    kind: 'SeerNode',
    metadata: { name },
    spec: {},
    status: {
      addresses,
      ...(endpoint ? { endpoint: { port: endpoint.port, ca_certificates: endpoint.ca } } : {}),
    },
  } as SeerNode;
}

test('one file_sd group per node with an endpoint, at its internal address, labelled with its name', () => {
  const targets = scrapeTargets([
    node(
      'web-2',
      [
        { type: 'Hostname', address: 'web-2.example' },
        { type: 'InternalIP', address: '10.0.0.2' },
      ],
      { port: 10250, ca: pem('AAA') },
    ),
    node('web-1', [{ type: 'ExternalIP', address: '2001:db8::1' }], {
      port: 8443,
      ca: `${pem('AAA')}\n${pem('BBB')}`,
    }),
    node('db', [{ type: 'InternalIP', address: '10.0.0.9' }]),
    node('bare', [], { port: 1, ca: pem('CCC') }),
  ]);
  assert.deepEqual(targets.groups, [
    { targets: ['[2001:db8::1]:8443'], labels: { seer_node: 'web-1' } },
    { targets: ['10.0.0.2:10250'], labels: { seer_node: 'web-2' } },
  ]);
  assert.deepEqual(targets.skipped, [
    'node bare publishes no address',
    'node db publishes no endpoint (its agent runs with --no-endpoint or is older)',
  ]);
  // Each CA once, and none of a node left out.
  assert.equal(targets.caBundle, `${pem('AAA')}\n${pem('BBB')}\n`);
});

test('no nodes: an empty document, which Prometheus accepts', () => {
  assert.deepEqual(scrapeTargets([]), { groups: [], caBundle: '', skipped: [] });
});
