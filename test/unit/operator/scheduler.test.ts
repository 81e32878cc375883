import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  COMPONENT_LABEL,
  DEPLOYMENT_LABEL,
  SEER_API_VERSION,
  STATEFUL_SET_LABEL,
} from '../../../api/names.js';
import type { Container, SeerComponent, SeerNode, SeerPod } from '../../../api/types.js';
import { componentHostPorts, FILTERS } from '../../../operator/scheduler/filters.js';
import { usageByNode } from '../../../operator/scheduler/node-usage.js';
import { plannedInstances } from '../../../operator/scheduler/planned-instances.js';
import { instanceName } from '../../../operator/components/instance-pod.js';
import { parseQuantity } from '../../../common/quantities.js';
import { schedule } from '../../../operator/scheduler/schedule.js';

function node(
  name: string,
  options: {
    ready?: boolean;
    cpu?: string;
    memory?: string;
    pods?: number;
    labels?: Record<string, string>;
    unschedulable?: boolean;
  } = {},
): SeerNode {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerNode',
    metadata: { name, labels: options.labels },
    spec: { unschedulable: options.unschedulable },
    status: {
      allocatable: { cpu: options.cpu ?? '4', memory: options.memory ?? '8Gi', pods: options.pods ?? 110 },
      conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }],
    },
  };
}

function pod(
  name: string,
  containers: Partial<Container>[] = [{}],
  extra: Partial<SeerPod['spec']> = {},
  labels?: Record<string, string>,
): SeerPod {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: { name, namespace: 'default', labels },
    spec: {
      containers: containers.map((c, i) => ({ name: `c${i}`, package: 'file:///p.tgz', ...c })),
      ...extra,
    },
  };
}

const bound = (p: SeerPod, nodeName: string): SeerPod => ({ ...p, spec: { ...p.spec, node_name: nodeName } });

/** An nginx component on port 80, with the template's metadata and the container's resources given. */
function nginxComponent(
  options: {
    metadata?: SeerComponent['spec']['template']['metadata'];
    resources?: Container['resources'];
  } = {},
): SeerComponent {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerComponent',
    metadata: { name: 'nginx', namespace: 'default' },
    spec: {
      template: {
        metadata: options.metadata,
        spec: {
          containers: [
            {
              name: 'nginx',
              package: 'file:///nginx.tgz',
              ports: [{ name: 'http', container_port: 80 }],
              resources: options.resources,
            },
          ],
        },
      },
    },
  };
}

test('quantities parse as Kubernetes writes them', () => {
  assert.equal(parseQuantity('500m'), 0.5);
  assert.equal(parseQuantity('2'), 2);
  assert.equal(parseQuantity(3), 3);
  assert.equal(parseQuantity('256Mi'), 256 * 2 ** 20);
  assert.equal(parseQuantity('1G'), 1e9);
  assert.equal(parseQuantity('1e3'), 1000);
  assert.equal(parseQuantity(undefined), 0);
  assert.throws(() => parseQuantity('lots'), /not a quantity/);
});

test('a pod goes to a node that passes every filter', () => {
  const nodes = [node('a', { ready: false }), node('b', { unschedulable: true }), node('c')];
  assert.deepEqual(schedule(pod('p'), usageByNode(nodes, []).values()), { node: 'c' });
});

test('no fit: the reasons are counted per node, most frequent first', () => {
  const nodes = [node('a'), node('b'), node('c', { memory: '1Gi' }), node('d', { ready: false })];
  const web = pod('web', [{ ports: [{ name: 'http', container_port: 80 }] }]);
  const existing = [
    bound(pod('x', [{ ports: [{ name: 'http', container_port: 80 }] }]), 'a'),
    bound(pod('y', [{ ports: [{ name: 'http', container_port: 80 }] }]), 'b'),
  ];
  const big = pod('web', [
    { ports: [{ name: 'http', container_port: 80 }], resources: { requests: { memory: '2Gi' } } },
  ]);
  const result = schedule(big, usageByNode(nodes, existing).values());
  assert.deepEqual(result, {
    unschedulable: '0/4 nodes are available: 2 port 80 in use, 1 insufficient memory, 1 node not ready.',
  });
  assert.deepEqual(schedule(web, usageByNode(nodes, existing).values()), { node: 'c' });
  assert.deepEqual(schedule(web, usageByNode([], []).values()), {
    unschedulable: '0/0 nodes are available.',
  });
});

test('the same port with another protocol does not conflict', () => {
  const nodes = [node('a')];
  const existing = [
    bound(pod('dns-tcp', [{ ports: [{ name: 'dns', container_port: 53, protocol: 'tcp' }] }]), 'a'),
  ];
  const udp = pod('dns-udp', [{ ports: [{ name: 'dns', container_port: 53, protocol: 'udp' }] }]);
  assert.deepEqual(schedule(udp, usageByNode(nodes, existing).values()), { node: 'a' });
});

test('directories are never shared: the pod directory and deployment_dir', () => {
  const nodes = [node('a'), node('b')];
  const onA = [bound(pod('same', [{}]), 'a'), bound(pod('other', [{ deployment_dir: '/srv/app' }]), 'b')];
  assert.deepEqual(schedule(pod('same'), usageByNode(nodes, onA).values()), { node: 'b' });
  assert.deepEqual(schedule(pod('new', [{ deployment_dir: '/srv/app' }]), usageByNode(nodes, onA).values()), {
    node: 'a',
  });
});

test('cpu and pod count are checked against allocatable; finished pods hold nothing', () => {
  const nodes = [node('a', { cpu: '1', pods: 2 })];
  const heavy = pod('heavy', [{ resources: { requests: { cpu: '600m' } } }]);
  const existing = [bound(pod('half', [{ resources: { requests: { cpu: '500m' } } }]), 'a')];
  assert.deepEqual(schedule(heavy, usageByNode(nodes, existing).values()), {
    unschedulable: '0/1 nodes are available: 1 insufficient cpu.',
  });
  const finished = { ...existing[0]!, status: { phase: 'Succeeded' as const } };
  assert.deepEqual(schedule(heavy, usageByNode(nodes, [finished]).values()), { node: 'a' });
  const full = [bound(pod('p1'), 'a'), bound(pod('p2'), 'a')];
  assert.deepEqual(schedule(pod('p3'), usageByNode(nodes, full).values()), {
    unschedulable: '0/1 nodes are available: 1 too many pods.',
  });
});

test('node_selector must match the node labels', () => {
  const nodes = [node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'y' } })];
  assert.deepEqual(
    schedule(pod('p', [{}], { node_selector: { zone: 'y' } }), usageByNode(nodes, []).values()),
    { node: 'b' },
  );
  assert.match(
    (
      schedule(pod('p', [{}], { node_selector: { zone: 'z' } }), usageByNode(nodes, []).values()) as {
        unschedulable: string;
      }
    ).unschedulable,
    /2 node didn't match the pod's node_selector/,
  );
});

test("a deployment's replicas spread over nodes", () => {
  const nodes = [node('a'), node('b'), node('c')];
  const pods: SeerPod[] = [];
  for (let i = 0; i < 6; i++) {
    const replica = pod(`web-${i}`, [{}], {}, { [DEPLOYMENT_LABEL]: 'web' });
    const placement = schedule(replica, usageByNode(nodes, pods).values());
    assert.ok('node' in placement);
    pods.push(bound(replica, placement.node));
  }
  const perNode = ['a', 'b', 'c'].map((n) => pods.filter((p) => p.spec.node_name === n).length);
  assert.deepEqual(perNode, [2, 2, 2]);
});

test("a stateful set's pods spread over nodes, apart from a deployment of the same name", () => {
  const nodes = [node('a'), node('b')];
  // Two pods of a deployment `db` on a: they do not count against the stateful set `db`.
  const pods: SeerPod[] = ['db-x', 'db-y'].map((name) =>
    bound(pod(name, [{}], {}, { [DEPLOYMENT_LABEL]: 'db' }), 'a'),
  );
  const placed: string[] = [];
  for (let i = 0; i < 2; i++) {
    const ordinal = pod(`db-${i}`, [{}], {}, { [STATEFUL_SET_LABEL]: 'db' });
    const placement = schedule(ordinal, usageByNode(nodes, pods).values());
    assert.ok('node' in placement);
    placed.push(placement.node);
    pods.push(bound(ordinal, placement.node));
  }
  assert.deepEqual(placed, ['b', 'a'], 'db-0 goes to the emptier node, db-1 away from db-0');
});

test('a node that already runs the required components is preferred', () => {
  const nodes = [node('a'), node('b')];
  const instance = bound(pod('nginx-b', [{}], {}, { [COMPONENT_LABEL]: 'nginx' }), 'b');
  const dependent = pod('site', [{}], { required_components: [{ name: 'nginx' }] });
  assert.deepEqual(schedule(dependent, usageByNode(nodes, [instance]).values()), { node: 'b' });
});

test("the host ports of a required component's new instance must be free on the node", () => {
  const nginx = nginxComponent();
  const filters = [...FILTERS, componentHostPorts((_ns, name) => (name === 'nginx' ? nginx : undefined))];
  const nodes = [node('a'), node('b'), node('c')];
  // a: another program holds port 80. b: nginx's instance holds it, and is shared. c: port 80 free.
  const residents = [
    bound(pod('proxy', [{ ports: [{ name: 'http', container_port: 80 }] }]), 'a'),
    bound(
      pod('nginx-b', [{ ports: [{ name: 'http', container_port: 80 }] }], {}, { [COMPONENT_LABEL]: 'nginx' }),
      'b',
    ),
  ];
  const site = pod('site', [{}], { required_components: [{ name: 'nginx' }] });
  const fits = (names: string[]) =>
    schedule(
      site,
      usageByNode(
        nodes.filter((n) => names.includes(n.metadata.name ?? '')),
        residents,
      ).values(),
      filters,
    );
  assert.deepEqual(fits(['a']), {
    unschedulable: '0/1 nodes are available: 1 port 80 in use (needed by component nginx).',
  });
  assert.deepEqual(fits(['a', 'b']), { node: 'b' });
  assert.deepEqual(fits(['a', 'c']), { node: 'c' });
});

test('a pod bound where its component has no instance yet plans one, which holds its ports at once', () => {
  const nginx = nginxComponent({
    metadata: { labels: { tier: 'web' } },
    resources: { requests: { cpu: '1' } },
  });
  const lookup = (_ns: string, name: string) => (name === 'nginx' ? nginx : undefined);
  const site = pod('site', [{}], { required_components: [{ name: 'nginx' }, { name: 'missing' }] });
  const usage = usageByNode([node('a')], []).get('a');
  assert.ok(usage);
  const [planned, ...more] = plannedInstances(site, usage, lookup);
  assert.equal(more.length, 0, 'nothing is planned for a component that does not exist');
  assert.equal(planned?.metadata.name, instanceName('nginx', 'a'));
  assert.deepEqual(planned?.metadata.labels, {
    tier: 'web',
    [COMPONENT_LABEL]: 'nginx',
    'seer.io/node': 'a',
  });
  assert.equal(planned?.spec.node_name, 'a');

  // Counted on the node, it keeps a pod wanting port 80 away before the real instance exists, and
  // a second dependent shares it instead of planning another.
  const withPlan = usageByNode([node('a')], [planned as SeerPod]);
  const proxy = pod('proxy', [{ ports: [{ name: 'http', container_port: 80 }] }]);
  assert.deepEqual(schedule(proxy, withPlan.values()), {
    unschedulable: '0/1 nodes are available: 1 port 80 in use.',
  });
  const planUsage = withPlan.get('a');
  assert.ok(planUsage);
  assert.deepEqual(
    plannedInstances(pod('site-2', [{}], { required_components: [{ name: 'nginx' }] }), planUsage, lookup),
    [],
  );
  assert.equal(planUsage.cpu, 1, "the instance's requests count too");
});

test('two pods writing the same config file into a component never share a node', () => {
  const nodes = [node('a'), node('b')];
  const site = (name: string, file: string) =>
    pod(name, [{}], { required_components: [{ name: 'nginx', config: { [file]: 'server {}' } }] });
  const first = bound(site('site-1', 'site.conf'), 'a');
  assert.deepEqual(schedule(site('site-2', 'site.conf'), usageByNode([node('a')], [first]).values()), {
    unschedulable: '0/1 nodes are available: 1 config file site.conf of component nginx in use.',
  });
  assert.deepEqual(schedule(site('site-2', 'site.conf'), usageByNode(nodes, [first]).values()), {
    node: 'b',
  });
  // Another file in the same component: the node with the component is preferred.
  const instance = bound(pod('nginx-a', [{}], {}, { [COMPONENT_LABEL]: 'nginx' }), 'a');
  assert.deepEqual(schedule(site('blog', 'blog.conf'), usageByNode(nodes, [first, instance]).values()), {
    node: 'a',
  });
});

test('anti_affinity keeps a pod off nodes running a matching pod of its namespace', () => {
  const nodes = [node('a'), node('b')];
  const term = [{ match_labels: { app: 'db', role: 'primary' } }];
  const onA = [bound(pod('db-0', [{}], {}, { app: 'db', role: 'primary' }), 'a')];
  assert.deepEqual(schedule(pod('db-1', [{}], { anti_affinity: term }), usageByNode(nodes, onA).values()), {
    node: 'b',
  });
  // Only a pod carrying every label of the term counts, and only in the same namespace.
  const partial = [
    bound(pod('x', [{}], {}, { app: 'db' }), 'a'),
    bound(pod('y', [{}], {}, { role: 'primary' }), 'b'),
  ];
  assert.ok(
    'node' in schedule(pod('db-2', [{}], { anti_affinity: term }), usageByNode(nodes, partial).values()),
  );
  const elsewhere = { ...onA[0]!, metadata: { ...onA[0]!.metadata, namespace: 'other' } };
  const both = [bound(pod('db-0', [{}], {}, { app: 'db', role: 'primary' }), 'b'), elsewhere];
  assert.deepEqual(schedule(pod('db-3', [{}], { anti_affinity: term }), usageByNode(nodes, both).values()), {
    node: 'a',
  });
  const full = [onA[0]!, bound(pod('db-9', [{}], {}, { app: 'db', role: 'primary' }), 'b')];
  assert.deepEqual(schedule(pod('db-4', [{}], { anti_affinity: term }), usageByNode(nodes, full).values()), {
    unschedulable: "0/2 nodes are available: 2 node has a pod matching the pod's anti_affinity.",
  });
});
