import { existsSync } from 'node:fs';

/**
 * The programs from Debian packages that some end-to-end tests run for real. `npm test` installs
 * the missing ones first when it can (scripts/test-prerequisites.sh reads this list); where it
 * cannot, exactly the tests that need one are skipped, with a reason naming its package.
 */
export const HOST_TOOLS = {
  nginx: { package: 'nginx-light', paths: ['/usr/sbin/nginx'] },
  'php-fpm': { package: 'php-fpm', paths: ['/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm'] },
  htpasswd: { package: 'apache2-utils', paths: ['/usr/bin/htpasswd'] },
  ip: { package: 'iproute2', paths: ['/usr/sbin/ip', '/usr/bin/ip', '/sbin/ip', '/bin/ip'] },
  unshare: { package: 'util-linux', paths: ['/usr/bin/unshare'] },
  nsenter: { package: 'util-linux', paths: ['/usr/bin/nsenter'] },
  tmux: { package: 'tmux', paths: ['/usr/bin/tmux'] },
  postgres: { package: 'postgresql-15', paths: ['/usr/lib/postgresql/15/bin/postgres'] },
} as const;

export type HostTool = keyof typeof HOST_TOOLS;

/** Where `tool` is installed, or undefined. php-fpm may carry its version in its name. */
export function hostTool(tool: HostTool): string | undefined {
  return HOST_TOOLS[tool].paths.find((file) => existsSync(file));
}

/**
 * node:test's `skip` for a test needing `tools`: false when all are installed, else one line naming
 * each missing program and its Debian package.
 */
export function skipWithout(...tools: HostTool[]): string | false {
  return missingToolsReason(tools, hostTool);
}

/** The reason of skipWithout, with `find` telling where a tool is. */
export function missingToolsReason(
  tools: HostTool[],
  find: (tool: HostTool) => string | undefined,
): string | false {
  const missing = tools.filter((tool) => !find(tool));
  if (missing.length === 0) return false;
  const names = missing.map((tool) => `${tool} (Debian package ${HOST_TOOLS[tool].package})`);
  return `needs ${names.join(', ')}: not installed`;
}
