import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PackageError } from '../../../packages/errors.js';
import { formatReference, parsePackageReference } from '../../../packages/reference.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('parsePackageReference accepts', () => {
  const cases: [string, unknown][] = [
    [
      '127.0.0.1:5000/team/nginx:v1.9',
      { kind: 'oci', registry: '127.0.0.1:5000', repository: 'team/nginx', tag: 'v1.9' },
    ],
    [
      `hub.x.com/nginx@${DIGEST}`,
      { kind: 'oci', registry: 'hub.x.com', repository: 'nginx', digest: DIGEST },
    ],
    [
      `registry.example.com/a/b/c:1.0@${DIGEST}`,
      { kind: 'oci', registry: 'registry.example.com', repository: 'a/b/c', tag: '1.0', digest: DIGEST },
    ],
    ['localhost/app', { kind: 'oci', registry: 'localhost', repository: 'app', tag: 'latest' }],
    [
      'localhost:5000/my_app-x.y__z:Tag_1',
      { kind: 'oci', registry: 'localhost:5000', repository: 'my_app-x.y__z', tag: 'Tag_1' },
    ],
    ['[::1]:5000/app:v1', { kind: 'oci', registry: '[::1]:5000', repository: 'app', tag: 'v1' }],
    [
      'https://files.example.com/nginx-1.9.tar.gz',
      { kind: 'http', url: 'https://files.example.com/nginx-1.9.tar.gz' },
    ],
    ['http://127.0.0.1:8080/p.tgz?x=1', { kind: 'http', url: 'http://127.0.0.1:8080/p.tgz?x=1' }],
    ['file:///srv/packages/nginx.tar.gz', { kind: 'file', path: '/srv/packages/nginx.tar.gz' }],
    ['file:///srv/with%20space.tar.gz', { kind: 'file', path: '/srv/with space.tar.gz' }],
  ];
  for (const [ref, expected] of cases) {
    test(ref, () => {
      assert.deepEqual(parsePackageReference(ref), expected);
    });
  }

  test('formatReference writes OCI references back as they were', () => {
    for (const ref of ['127.0.0.1:5000/team/nginx:v1.9', `hub.x.com/nginx@${DIGEST}`]) {
      assert.equal(formatReference(parsePackageReference(ref)), ref);
    }
  });
});

describe('parsePackageReference refuses', () => {
  const cases: [string, RegExp][] = [
    ['', /it is empty/],
    ['nginx:1.9', /no registry host; Seer has no default registry/],
    ['team/nginx:v1', /no registry host/],
    ['nginx', /no registry host/],
    ['registry.example.com/Team/nginx:v1', /repository names must be lowercase/],
    ['registry.example.com/team//nginx', /"" in repository/],
    ['registry.example.com/team/-nginx', /"-nginx" in repository/],
    ['registry.example.com/', /repository name is missing/],
    ['registry.example.com/nginx:', /tag "" must be/],
    ['registry.example.com/nginx:.hidden', /tag "\.hidden" must be/],
    [`registry.example.com/nginx:${'t'.repeat(129)}`, /tag "t+" must be/],
    ['registry.example.com/nginx@sha256:abc', /digest "sha256:abc" is not sha256: followed by 64/],
    [`registry.example.com/nginx@sha256:${'AB'.repeat(32)}`, /is not sha256: followed by 64 lowercase hex/],
    [`registry.example.com/nginx@sha512:${'ab'.repeat(64)}`, /only sha256 digests are supported, not sha512/],
    ['bad_host.com/nginx', /"bad_host\.com" is not a valid registry host/],
    ['registry.example.com:99999/nginx', /is not a valid registry host/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255 characters/],
    ['ftp://example.com/p.tar.gz', /unsupported scheme ftp:\/\//],
    ['oci://registry.example.com/nginx', /unsupported scheme oci:\/\//],
    ['http://', /not a valid URL/],
    ['https://user:secret@example.com/p.tar.gz', /credentials do not belong in the reference/],
    ['file://relative/p.tar.gz', /file references name a local absolute path/],
    ['file:relative.tar.gz', /file references name a local absolute path/],
    ['file://otherhost/srv/p.tar.gz', /file references name a local absolute path/],
    ['file:///srv/packages/', /names a directory/],
    ['file:///srv/a%2Fb', /must not include encoded \/ characters/],
    [' registry.example.com/nginx', /whitespace/],
  ];
  for (const [ref, message] of cases) {
    test(JSON.stringify(ref), () => {
      assert.throws(
        () => parsePackageReference(ref),
        (error: unknown) => {
          assert.ok(error instanceof PackageError);
          assert.equal(error.reason, 'InvalidReference');
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
});
