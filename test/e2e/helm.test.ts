import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import yaml from 'js-yaml';
import { SEER_API_VERSION } from '../../api/names.js';
import type { SeerDeployment, SeerPod } from '../../api/types.js';
import { SimulatedNodes } from '../../bench/simulated-nodes.js';
import { addNode, nodeRestrictionManifests } from '../../cli/commands/node-credentials.js';
import { writeKubeconfig } from '../../cli/control-plane/kubeconfig.js';
import { repoPath } from '../../common/paths.js';
import { connectionFromKubeconfig, MERGE_PATCH, RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { eventually, type SeerProcess } from '../support/agent.js';
import { runCommand, startTestCluster, type TestCluster } from '../support/control-plane.js';
import { assertOtherSeerNodeRefused, nodeRestrictionInForce } from '../support/node-credentials.js';
import { startOperatorProcess } from '../support/operator.js';
import { objectRef } from '../../kube/keys.js';

const CHART = repoPath('helm', 'seer-operator');
const RELEASE = 'seer';
const NAMESPACE = 'seer-system';
// The chart names its objects <release>-seer-operator.
const FULLNAME = `${RELEASE}-seer-operator`;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** The node restriction's two objects, which the chart and `seer node add` both install. */
const POLICY_KINDS = ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'];
const POLICY = 'seer-node-restriction';

function parseManifests(text: string): K8sObject[] {
  return yaml.loadAll(text).filter((doc): doc is K8sObject => doc !== null && typeof doc === 'object');
}

describe('the chart (no cluster)', () => {
  test('ships CRDs byte-identical to the repository crds/', async () => {
    const repoCrds = (await readdir(repoPath('crds'))).filter((f) => f.endsWith('.yaml')).sort();
    const chartCrds = (await readdir(path.join(CHART, 'crds'))).sort();
    assert.ok(repoCrds.length >= 4, `expected the Seer CRDs in crds/, found ${repoCrds.join(', ')}`);
    assert.deepEqual(chartCrds, repoCrds);
    for (const file of repoCrds) {
      const [ours, theirs] = await Promise.all([
        readFile(path.join(CHART, 'crds', file)),
        readFile(repoPath('crds', file)),
      ]);
      assert.ok(ours.equals(theirs), `helm/seer-operator/crds/${file} differs from crds/${file}`);
    }
  });
});

describe('the chart against a real control plane', () => {
  let cluster: TestCluster;
  let admin: RestClient;
  let adminClient: SeerClient;
  let workDir: string;
  let tokenKubeconfig: string;
  let nodes: SimulatedNodes | undefined;
  let operator: SeerProcess | undefined;
  /** Node helm-node-1's own credentials, from `seer node add`. */
  let nodeCredentials: RestClient | undefined;

  /** The node restriction objects as they are in the cluster, or undefined where absent. */
  const policyObjects = async () =>
    Promise.all(
      POLICY_KINDS.map(async (kind) => {
        const got = await cluster.kubectl(['get', kind.toLowerCase(), POLICY, '-o', 'json']);
        return got.code === 0 ? (JSON.parse(got.stdout) as K8sObject) : undefined;
      }),
    );
  const managedByHelm = (object: K8sObject | undefined) =>
    object?.metadata.labels?.['app.kubernetes.io/managed-by'] === 'Helm';
  const addNodeCredentials = async (node: string) => {
    const connection = connectionFromKubeconfig(cluster.kubeconfig);
    const file = path.join(workDir, `${node}.kubeconfig`);
    await writeFile(file, await addNode(admin, node, { server: connection.server, caData: connection.ca }));
    return RestClient.fromKubeconfig(file);
  };

  /** kubectl as the chart's ServiceAccount (its token), never throwing. */
  const asOperator = (args: string[], input?: string) =>
    runCommand(cluster.binaries.kubectl, ['--kubeconfig', tokenKubeconfig, ...args], { input });

  before(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'seer-helm-test-'));
    cluster = await startTestCluster();
    admin = RestClient.fromKubeconfig(cluster.kubeconfig);
    adminClient = new SeerClient(admin);
  });

  after(async () => {
    await operator?.stop();
    await nodes?.stop();
    nodeCredentials?.close();
    admin?.close();
    await cluster?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('helm lint --strict is clean', async () => {
    const result = await cluster.helm(['lint', '--strict', CHART]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout, /\[(WARNING|ERROR)\]/);
    assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('values.schema.json refuses bad values; one replica without leader election is allowed', async () => {
    const bad = [
      ['--set', 'replicaCount=0'],
      ['--set', 'operator.logLevel=loud'],
      ['--set', 'podAntiAffinity=sometimes'],
      ['--set', 'unknownValue=1'],
      ['--set', 'nodeRestriction.enabled=sometimes'],
      ['--set', 'leaderElection.enabled=false'], // 3 replicas would all act at once
    ];
    for (const args of bad) {
      const result = await cluster.helm(['template', RELEASE, CHART, ...args]);
      assert.notEqual(result.code, 0, `helm template ${args.join(' ')} should fail`);
    }
    const single = await cluster.helm([
      'template',
      RELEASE,
      CHART,
      '--set',
      'replicaCount=1',
      '--set',
      'leaderElection.enabled=false',
    ]);
    assert.equal(single.code, 0, single.stderr);
    assert.match(single.stdout, /--leader-elect=false/);
    const names = parseManifests(single.stdout).map((o) => `${o.kind}/${o.metadata.name}`);
    assert.ok(!names.includes(`Role/${FULLNAME}-leader-election`), names.join(', '));
    assert.ok(names.includes(`Role/${FULLNAME}-node-leases`), names.join(', '));
  });

  test('hub.enabled adds the hub flags, its rules on SeerClusters and SeerAppSets, and the kubeconfig Secrets role', async () => {
    const result = await cluster.helm([
      'template',
      RELEASE,
      CHART,
      '-n',
      NAMESPACE,
      '--set',
      'hub.enabled=true',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /--enable-hub=true/);
    const objects = parseManifests(result.stdout);
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    assert.ok(names.includes(`Role/${FULLNAME}-member-kubeconfigs`), names.join(', '));
    const operatorRole = objects.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === FULLNAME,
    ) as unknown as {
      rules: { resources: string[] }[];
    };
    const resources = operatorRole.rules.flatMap((r) => r.resources);
    for (const resource of ['seerclusters', 'seerclusters/status', 'seerappsets', 'seerappsets/status']) {
      assert.ok(resources.includes(resource), resource);
    }
    const plain = await cluster.helm(['template', RELEASE, CHART, '-n', NAMESPACE]);
    assert.doesNotMatch(plain.stdout, /--enable-hub=true|seerappsets/);
  });

  test('renders a 3-replica, leader-elected operator with anti-affinity, probes, PDB and metrics', async () => {
    const result = await cluster.helm(['template', RELEASE, CHART, '-n', NAMESPACE]);
    assert.equal(result.code, 0, result.stderr);
    const objects = parseManifests(result.stdout);
    const kinds = objects.map((o) => o.kind).sort();
    assert.deepEqual(kinds, [
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'PodDisruptionBudget',
      'Role',
      'Role',
      'RoleBinding',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]);
    // The roles users bind to read pods' logs, run commands in them and scrape metrics through the agents.
    const userRoles = Object.fromEntries(
      objects
        .filter(
          (o) =>
            o.kind === 'ClusterRole' && o.metadata.name.startsWith('seer-') && o.metadata.name !== FULLNAME,
        )
        .map((o) => [o.metadata.name, (o as unknown as { rules: unknown }).rules]),
    );
    assert.deepEqual(userRoles, {
      'seer-logs-reader': [
        { apiGroups: ['seer.io'], resources: ['seerpods/log'], verbs: ['get'] },
        { apiGroups: ['seer.io'], resources: ['seerpods'], verbs: ['get', 'list'] },
        { apiGroups: ['seer.io'], resources: ['seerdeployments'], verbs: ['get'] },
      ],
      'seer-exec': [
        { apiGroups: ['seer.io'], resources: ['seerpods/exec'], verbs: ['create'] },
        { apiGroups: ['seer.io'], resources: ['seerpods'], verbs: ['get'] },
      ],
      'seer-node-reader': [
        { apiGroups: ['seer.io'], resources: ['seernodes'], verbs: ['get', 'list', 'watch'] },
      ],
      'seer-metrics-reader': [{ apiGroups: ['seer.io'], resources: ['seernodes/metrics'], verbs: ['get'] }],
      'seer-hub-member': [
        { apiGroups: ['seer.io'], resources: ['seernodes'], verbs: ['get', 'list'] },
        {
          apiGroups: ['seer.io'],
          resources: ['seerdeployments'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
        },
        { apiGroups: ['seer.io'], resources: ['seerpods'], verbs: ['list'] },
        { apiGroups: [''], resources: ['namespaces'], verbs: ['create'] },
      ],
    });
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: {
            serviceAccountName: string;
            affinity?: { podAntiAffinity?: unknown };
            containers: {
              command: string[];
              args: string[];
              image: string;
              livenessProbe: { httpGet: { path: string } };
              readinessProbe: { httpGet: { path: string } };
            }[];
          };
        };
      };
    };
    assert.equal(deployment.spec.replicas, 3);
    const pod = deployment.spec.template.spec;
    assert.equal(pod.serviceAccountName, FULLNAME);
    assert.ok(pod.affinity?.podAntiAffinity, 'pod anti-affinity');
    const container = pod.containers[0];
    assert.ok(container, 'a container');
    assert.deepEqual(container.command, ['seer-operator']);
    assert.equal(container.image, 'seer/seer-operator:0.1.0');
    assert.ok(container.args.includes('--leader-elect=true'));
    assert.ok(container.args.includes(`--namespace=${NAMESPACE}`));
    assert.ok(container.args.includes('--http-address=0.0.0.0:8080'));
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(objects.filter((o) => o.kind === 'ServiceMonitor').length, 0);

    const withMonitor = await cluster.helm([
      'template',
      RELEASE,
      CHART,
      '--set',
      'metrics.serviceMonitor.enabled=true',
    ]);
    assert.equal(withMonitor.code, 0, withMonitor.stderr);
    assert.equal(parseManifests(withMonitor.stdout).filter((o) => o.kind === 'ServiceMonitor').length, 1);
  });

  test("the chart's node restriction is deploy/node-restriction.yaml's, behind nodeRestriction.enabled", async () => {
    const rendered = await cluster.helm(['template', RELEASE, CHART, '-n', NAMESPACE]);
    assert.equal(rendered.code, 0, rendered.stderr);
    const ours = parseManifests(rendered.stdout).filter((o) => POLICY_KINDS.includes(o.kind));
    const deployed = (await nodeRestrictionManifests()).filter((o) => POLICY_KINDS.includes(o.kind));
    // Helm cannot read deploy/: the template is a copy, and only its labels and annotations may differ.
    const essence = (o: K8sObject) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.metadata.name,
      spec: o.spec,
    });
    assert.deepEqual(ours.map(essence), deployed.map(essence));
    for (const object of ours) assert.equal(object.metadata.annotations?.['helm.sh/resource-policy'], 'keep');

    const off = await cluster.helm(['template', RELEASE, CHART, '--set', 'nodeRestriction.enabled=false']);
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(
      parseManifests(off.stdout).filter((o) => POLICY_KINDS.includes(o.kind)),
      [],
    );
  });

  test('helm template | kubectl apply --dry-run=server is clean, with and without the node restriction', async () => {
    // seer-system exists already (seer cluster up makes it), as after `helm install --create-namespace`.
    for (const enabled of [true, false]) {
      const rendered = await cluster.helm([
        'template',
        RELEASE,
        CHART,
        '-n',
        NAMESPACE,
        '--include-crds',
        '--set',
        `nodeRestriction.enabled=${enabled}`,
      ]);
      assert.equal(rendered.code, 0, rendered.stderr);
      // CRDs first, so the dry run knows them (no custom resources are rendered, only the CRDs).
      const applied = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], rendered.stdout);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /deployment\.apps\/seer-seer-operator created \(server dry run\)/);
      assert.match(applied.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/seer-seer-operator created/);
      const policy =
        /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/seer-node-restriction created/;
      const binding =
        /validatingadmissionpolicybinding\.admissionregistration\.k8s\.io\/seer-node-restriction created/;
      for (const line of [policy, binding])
        if (enabled) assert.match(applied.stdout, line);
        else assert.doesNotMatch(applied.stdout, line);
    }
    // A dry run changes nothing.
    const crds = await cluster.kubectl(['get', 'crd', 'seerpods.seer.io']);
    assert.notEqual(crds.code, 0);
    assert.deepEqual(await policyObjects(), [undefined, undefined]);
  });

  test('createNamespace leaves out a namespace that exists already', async () => {
    const result = await cluster.helm([
      'install',
      RELEASE,
      CHART,
      '-n',
      NAMESPACE,
      '--dry-run=server',
      '--set',
      'createNamespace=true',
    ]);
    // Rendering the Namespace would fail: Helm does not take over an object it did not make.
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /kind: Namespace/);
    const template = await cluster.helm([
      'template',
      RELEASE,
      CHART,
      '-n',
      NAMESPACE,
      '--set',
      'createNamespace=true',
    ]);
    assert.match(template.stdout, /kind: Namespace/, 'helm template renders it');
  });

  test('helm install: CRDs, objects, and NOTES that tell the next step', async () => {
    const result = await cluster.helm(['install', RELEASE, CHART, '-n', NAMESPACE, '--create-namespace']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /STATUS: deployed/);
    assert.match(result.stdout, /Next step: add a node/);
    assert.match(result.stdout, /seer-agent --kubeconfig/);
    await cluster.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    const crds = await cluster.kubectlOk(['get', 'crd', '-o', 'name']);
    for (const crd of [
      'seerpods',
      'seerdeployments',
      'seerdaemonsets',
      'seerstatefulsets',
      'seercomponents',
      'seernodes',
    ])
      assert.match(crds, new RegExp(`${crd}\\.seer\\.io`));
    const replicas = await cluster.kubectlOk([
      'get',
      'deployment',
      FULLNAME,
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    assert.equal(replicas, '3');
    await cluster.kubectlOk(['get', 'serviceaccount', FULLNAME, '-n', NAMESPACE]);
    await cluster.kubectlOk(['get', 'service', `${FULLNAME}-metrics`, '-n', NAMESPACE]);
    await cluster.kubectlOk(['get', 'poddisruptionbudget', FULLNAME, '-n', NAMESPACE]);
    const policy = await policyObjects();
    assert.ok(policy.every(managedByHelm), "the node restriction is the release's");
  });

  test("the operator, run as the chart's ServiceAccount, schedules and runs a 3-replica deployment", async () => {
    const token = (await cluster.kubectlOk(['create', 'token', FULLNAME, '-n', NAMESPACE])).trim();
    assert.ok(token.length > 0);
    tokenKubeconfig = path.join(workDir, 'operator.kubeconfig');
    await writeKubeconfig(tokenKubeconfig, {
      server: cluster.state.server,
      caCertFile: path.join(cluster.state.dir, 'pki', 'ca.crt'),
      clusterName: 'seer-test',
      userName: `system:serviceaccount:${NAMESPACE}:${FULLNAME}`,
      credentials: { token },
    });
    const whoami = await asOperator(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.equal(whoami.stdout, `system:serviceaccount:${NAMESPACE}:${FULLNAME}`);

    // The agents' part, with admin rights: nodes, their heartbeat Leases, pods reported Running.
    nodes = new SimulatedNodes(adminClient, ['helm-node-1', 'helm-node-2', 'helm-node-3']);
    await nodes.start();

    operator = await startOperatorProcess({
      kubeconfig: tokenKubeconfig,
      identity: 'helm-operator-0',
      logDir: workDir,
      args: ['--namespace', NAMESPACE, '--lease-duration', '3'],
    });
    await eventually('the operator to hold the leader Lease', async () => {
      const holder = await cluster.kubectl([
        'get',
        'lease',
        'seer-operator',
        '-n',
        NAMESPACE,
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]);
      return holder.stdout === 'helm-operator-0';
    });

    const deployment: SeerDeployment = {
      apiVersion: SEER_API_VERSION,
      kind: 'SeerDeployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 3,
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              { name: 'web', package: 'file:///packages/web-v1.tar.gz', commands: { start: 'bin/web' } },
            ],
          },
        },
      },
    } as SeerDeployment;
    await adminClient.create('SeerDeployment', deployment);

    const available = await eventually(
      'the deployment to have 3 available replicas',
      async () => {
        const d = await adminClient.get('SeerDeployment', 'web', 'default');
        return d.status?.available_replicas === 3 ? d : undefined;
      },
      60_000,
      200,
    );
    assert.equal(available.status?.replicas, 3);
    assert.equal(available.status?.ready_replicas, 3);
    const pods = (await adminClient.list('SeerPod', { namespace: 'default' })).items as SeerPod[];
    assert.equal(pods.length, 3);
    for (const pod of pods) {
      assert.ok(pod.spec.node_name?.startsWith('helm-node-'), `${pod.metadata.name} is bound`);
      assert.equal(pod.status?.phase, 'Running');
    }
    // Its rollout history was written (controllerrevisions) under the chart's role.
    const revisions = await cluster.kubectlOk(['get', 'controllerrevisions', '-n', 'default', '-o', 'name']);
    assert.match(revisions, /controllerrevision\.apps\/web-/);

    // A pod no node fits: the scheduler reports it Unschedulable (seerpods/status) with an Event.
    await adminClient.create('SeerPod', {
      apiVersion: SEER_API_VERSION,
      kind: 'SeerPod',
      metadata: { name: 'nowhere', namespace: 'default' },
      spec: {
        node_selector: { 'seer.io/no-such-label': 'x' },
        containers: [{ name: 'app', package: 'file:///packages/app.tar.gz', commands: { start: 'bin/app' } }],
      },
    } as SeerPod);
    await eventually('the pod to be reported Unschedulable', async () => {
      const pod = await adminClient.get('SeerPod', 'nowhere', 'default');
      return pod.status?.reason === 'Unschedulable';
    });
    await eventually('a FailedScheduling event (events.k8s.io)', async () => {
      const events = await cluster.kubectlOk(['get', 'events.events.k8s.io', '-n', 'default', '-o', 'json']);
      const items = (JSON.parse(events) as { items: { reason?: string; reportingController?: string }[] })
        .items;
      return items.some((e) => e.reason === 'FailedScheduling' && e.reportingController === 'seer-operator');
    });
    await adminClient.delete('SeerPod', objectRef('nowhere', 'default'));

    // Scaling down deletes pods.
    await cluster.kubectlOk(['scale', 'seerdeployment/web', '-n', 'default', '--replicas=2']);
    await eventually(
      'the deployment to scale down to 2',
      async () => {
        const d = await adminClient.get('SeerDeployment', 'web', 'default');
        const left = (await adminClient.list('SeerPod', { namespace: 'default' })).items;
        return d.status?.replicas === 2 && d.status.available_replicas === 2 && left.length === 2;
      },
      60_000,
      200,
    );

    const log = await operator.log();
    assert.doesNotMatch(log, /forbidden/i, 'the operator was refused something it needs');
  });

  test("the chart's role allows what the operator does and refuses what it does not", async () => {
    assert.ok(tokenKubeconfig, 'needs the ServiceAccount kubeconfig from the scenario');
    const canI = async (...args: string[]) => {
      const result = await asOperator(['auth', 'can-i', ...args]);
      return result.stdout.trim();
    };
    for (const allowed of [
      ['watch', 'seerpods.seer.io', '--all-namespaces'],
      ['patch', 'seerpods.seer.io', '--subresource=status', '-n', 'default'],
      ['patch', 'seernodes.seer.io', '--subresource=status'],
      ['watch', 'seerstatefulsets.seer.io', '--all-namespaces'],
      ['patch', 'seerstatefulsets.seer.io', '-n', 'default'],
      ['patch', 'seerstatefulsets.seer.io', '--subresource=status', '-n', 'default'],
      ['delete', 'seerdatadirs.seer.io', '-n', 'default'],
      ['create', 'controllerrevisions.apps', '-n', 'default'],
      ['create', 'events.events.k8s.io', '-n', 'default'],
      ['watch', 'leases.coordination.k8s.io', '-n', 'kube-node-lease'],
      ['update', 'leases.coordination.k8s.io/seer-operator', '-n', NAMESPACE],
    ])
      assert.equal(await canI(...allowed), 'yes', `can-i ${allowed.join(' ')}`);
    for (const refused of [
      ['list', 'secrets', '--all-namespaces'],
      ['get', 'secrets', '-n', NAMESPACE],
      ['create', 'namespaces'],
      ['delete', 'seernodes.seer.io'],
      ['create', 'seernodes.seer.io'],
      ['update', 'seerpods.seer.io', '-n', 'default'],
      ['delete', 'seerdeployments.seer.io', '-n', 'default'],
      ['delete', 'seerstatefulsets.seer.io', '-n', 'default'],
      ['patch', 'configmaps', '-n', 'default'],
      ['create', 'pods', '-n', 'default'],
      ['update', 'leases.coordination.k8s.io', '-n', 'kube-node-lease'],
      ['update', 'leases.coordination.k8s.io/other', '-n', NAMESPACE],
      ['update', 'leases.coordination.k8s.io', '-n', 'kube-system'],
      ['create', 'events', '-n', 'default'], // core events: the operator writes events.k8s.io
      ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
    ])
      assert.equal(await canI(...refused), 'no', `can-i ${refused.join(' ')}`);

    // Real requests, refused by the API server with 403 Forbidden.
    await cluster.kubectlOk(['create', 'configmap', 'settings', '-n', 'default', '--from-literal=a=1']);
    const forbidden = [
      ['get', 'secrets', '-A'],
      ['create', 'namespace', 'not-allowed'],
      ['delete', 'seernode', 'helm-node-1', '--wait=false'],
      ['patch', 'configmap', 'settings', '-n', 'default', '--type=merge', '-p', '{"data":{"a":"2"}}'],
      ['delete', 'seerdeployment', 'web', '-n', 'default', '--wait=false'],
    ];
    for (const args of forbidden) {
      const result = await asOperator(args);
      assert.notEqual(result.code, 0, `kubectl ${args.join(' ')} should be refused`);
      assert.match(result.stderr, /Forbidden|forbidden/, `kubectl ${args.join(' ')}: ${result.stderr}`);
    }
    // And nothing of it happened.
    await cluster.kubectlOk(['get', 'seernode', 'helm-node-1']);
    await cluster.kubectlOk(['get', 'seerdeployment', 'web', '-n', 'default']);
    assert.notEqual((await cluster.kubectl(['get', 'namespace', 'not-allowed'])).code, 0);
    assert.equal(
      await cluster.kubectlOk(['get', 'configmap', 'settings', '-n', 'default', '-o', 'jsonpath={.data.a}']),
      '1',
    );
  });

  test("seer node add leaves the chart's node restriction to Helm, which keeps a node to its own SeerNode", async () => {
    const before = await policyObjects();
    nodeCredentials = await addNodeCredentials('helm-node-1');
    const after = await policyObjects();
    assert.deepEqual(
      after.map((o) => o?.metadata.resourceVersion),
      before.map((o) => o?.metadata.resourceVersion),
      "node add changed the chart's objects",
    );
    await nodeRestrictionInForce(nodeCredentials);
    // Its own SeerNode (a simulated node) it may write; another's it may not.
    await nodeCredentials.request('PATCH', '/apis/seer.io/v1alpha1/seernodes/helm-node-1/status', {
      body: { status: { phase: 'Ready' } },
      contentType: MERGE_PATCH,
    });
    await assertOtherSeerNodeRefused(nodeCredentials, 'helm-node-2');

    const upgraded = await cluster.helm(['upgrade', RELEASE, CHART, '-n', NAMESPACE, '--reuse-values']);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    assert.match(upgraded.stdout, /STATUS: deployed/);
    assert.ok((await policyObjects()).every(managedByHelm));
  });

  test('helm uninstall removes the release objects and keeps the CRDs', async () => {
    await operator?.stop();
    operator = undefined;
    const result = await cluster.helm(['uninstall', RELEASE, '-n', NAMESPACE, '--wait', '--timeout', '60s']);
    assert.equal(result.code, 0, result.stderr);
    for (const [kind, namespaced] of [
      ['deployment', true],
      ['serviceaccount', true],
      ['service', true],
      ['poddisruptionbudget', true],
      ['clusterrole', false],
      ['clusterrolebinding', false],
    ] as const) {
      const name = kind === 'service' ? `${FULLNAME}-metrics` : FULLNAME;
      const got = await cluster.kubectl(['get', kind, name, ...(namespaced ? ['-n', NAMESPACE] : [])]);
      assert.notEqual(got.code, 0, `${kind}/${name} is still there`);
      assert.match(got.stderr, /NotFound|not found/);
    }
    const roles = await cluster.kubectlOk(['get', 'roles', '-n', 'kube-node-lease', '-o', 'name']);
    assert.doesNotMatch(roles, /seer-operator/);
    // Helm never deletes crds/: the custom resources outlive the release.
    await cluster.kubectlOk(['get', 'crd', 'seerpods.seer.io']);
    const list = await cluster.helm(['list', '-n', NAMESPACE, '-q']);
    assert.equal(list.stdout.trim(), '');
    // The ServiceAccount's token no longer grants anything: its bindings (or the account itself) are gone.
    assert.ok(tokenKubeconfig, 'needs the ServiceAccount kubeconfig from the scenario');
    const refused = await asOperator(['get', 'seerpods', '-A']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Forbidden|Unauthorized/, refused.stderr);
    // Node credentials outlive the release, so the node restriction stays in force.
    assert.ok((await policyObjects()).every((o) => o !== undefined));
    assert.ok(nodeCredentials, 'needs the node credentials from node add');
    await assertOtherSeerNodeRefused(nodeCredentials, 'helm-node-2');
  });

  test('seer node add before the chart: helm install --take-ownership adopts its node restriction', async () => {
    // As on a cluster that never had the chart: the policy made by `seer node add` alone.
    await cluster.kubectlOk(['delete', ...POLICY_KINDS.map((kind) => `${kind.toLowerCase()}/${POLICY}`)]);
    (await addNodeCredentials('helm-node-early')).close();
    assert.ok((await policyObjects()).every((o) => o && !managedByHelm(o)));

    const refused = await cluster.helm(['install', RELEASE, CHART, '-n', NAMESPACE]);
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /ValidatingAdmissionPolicy "seer-node-restriction" .*exists and cannot be imported/,
    );
    const adopted = await cluster.helm(['install', RELEASE, CHART, '-n', NAMESPACE, '--take-ownership']);
    assert.equal(adopted.code, 0, adopted.stderr);
    const policy = await policyObjects();
    assert.ok(policy.every(managedByHelm));
    for (const object of policy)
      assert.equal(object?.metadata.annotations?.['meta.helm.sh/release-name'], RELEASE);
    assert.ok(nodeCredentials);
    await assertOtherSeerNodeRefused(nodeCredentials, 'helm-node-2');

    const uninstalled = await cluster.helm([
      'uninstall',
      RELEASE,
      '-n',
      NAMESPACE,
      '--wait',
      '--timeout',
      '60s',
    ]);
    assert.equal(uninstalled.code, 0, uninstalled.stderr);
  });
});
