import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SEER_API_VERSION } from '../../api/names.js';
import type { SeerComponent, SeerDeployment, SeerPod } from '../../api/types.js';
import { convertSeedManifests } from '../../cli/seed-format.js';
import { repoPath } from '../../common/paths.js';

const seed = (name: string) => readFileSync(repoPath('test', 'fixtures', 'seed', name), 'utf8');

test("the original design's pod becomes a SeerPod with the same spec", () => {
  const [pod, ...rest] = convertSeedManifests(seed('passport-pod.yaml'));
  assert.equal(rest.length, 0);
  assert.equal(pod?.apiVersion, SEER_API_VERSION);
  assert.equal(pod?.kind, 'SeerPod');
  assert.equal(pod?.metadata.name, 'passport');
  const spec = (pod as SeerPod).spec;
  assert.deepEqual(
    spec.containers.map((c) => [c.name, c.package, c.commands?.start]),
    [
      ['nginx', 'hub.x.com/nginx:v1.9', 'sbin/nginx'],
      ['fpm', 'hub.x.com/fpm:v7.0', 'sbin/fpm'],
      ['passport', 'hub.x.com/passport:v1.0', undefined],
    ],
  );
  // The seed indents one port with a tab; it is read as the spaces it stands for.
  assert.deepEqual(spec.containers[0]?.ports, [
    { name: 'http', container_port: 80 },
    { name: 'https', container_port: 443 },
  ]);
  assert.equal('api_version' in (pod ?? {}), false);
});

test("the original design's deployment and component stack convert, tabs and all", () => {
  const [deployment] = convertSeedManifests(seed('passport-deployment.yaml'));
  assert.equal(deployment?.kind, 'SeerDeployment');
  assert.equal((deployment as SeerDeployment).spec.replicas, 3);

  const stack = convertSeedManifests(seed('php-stack.yaml'));
  assert.deepEqual(
    stack.map((o) => `${o.kind}/${o.metadata.name}`),
    ['SeerComponent/nginx-component', 'SeerComponent/fpm-component', 'SeerDeployment/passport-deployment'],
  );
  const nginx = stack[0] as SeerComponent;
  assert.equal(nginx.spec.template.spec.containers[0]?.sharing_dir, 'conf.d');
  const passport = stack[2] as SeerDeployment;
  const required = passport.spec.template.spec.required_components ?? [];
  assert.deepEqual(
    required.map((r) => r.name),
    ['nginx-component', 'fpm-component'],
  );
  assert.match(required[0]?.config?.['passport.x.com.conf'] ?? '', /fastcgi_pass 127\.0\.0\.1:9000;/);
  assert.equal(passport.spec.template.spec.containers[0]?.deployment_dir, '/seer/web/passport');
});

test('Seer objects pass through unchanged', () => {
  const text = readFileSync(repoPath('examples', 'passport-pod.yaml'), 'utf8');
  const [pod] = convertSeedManifests(text);
  assert.equal(pod?.kind, 'SeerPod');
  assert.equal(pod?.apiVersion, SEER_API_VERSION);
});

test('what cannot be converted is refused, naming the document and the field', () => {
  const refused = (text: string, message: RegExp) => assert.throws(() => convertSeedManifests(text), message);
  const pod = (extra: string) =>
    `api_version: v1\nkind: pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      package: hub.x.com/web:v1\n${extra}`;
  refused(
    `${pod('')}---\napi_version: v1\nkind: service\nmetadata:\n  name: web\n`,
    /document 2: kind service is not one of pod, deployment, component, node/,
  );
  refused('api_version: v1\nkind: pod\nmetadata: {}\nspec: {}\n', /document 1: metadata\.name is missing/);
  refused(
    pod('      image: nginx\n'),
    /document 1 \(SeerPod web\): unknown field spec\.containers\[0\]\.image/,
  );
  refused(
    pod('').replace('api_version: v1', 'api_version: v2'),
    /api_version v2 is neither v1 nor seer\.io\/v1alpha1/,
  );
  refused('- a\n- b\n', /document 1: not a mapping/);
  refused('kind: pod\n  name: [', /not YAML/);
});
