import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingToolsReason } from '../../support/host-tools.js';

test('a test needing a missing program is skipped with a reason naming its Debian package', () => {
  const find = (tool: string) => (tool === 'nginx' ? '/usr/sbin/nginx' : undefined);
  assert.equal(missingToolsReason(['nginx'], find), false);
  assert.equal(
    missingToolsReason(['nginx', 'php-fpm', 'htpasswd'], find),
    'needs php-fpm (Debian package php-fpm), htpasswd (Debian package apache2-utils): not installed',
  );
});
