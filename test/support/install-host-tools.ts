/**
 * Run by `npm test` before the tests: installs the Debian packages of the missing HOST_TOOLS when
 * this runs as root with apt-get (non-interactive, daemons not started). Otherwise it says what is
 * missing; the tests that need it are then skipped, each naming its package. SEER_TEST_INSTALL=0
 * never installs anything.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, rmSync } from 'node:fs';
import { HOST_TOOLS, hostTool, type HostTool } from './host-tools.js';

const POLICY_RC = '/usr/sbin/policy-rc.d';

function log(line: string): void {
  process.stderr.write(`[host-tools] ${line}\n`);
}

function whyNotInstall(): string | undefined {
  if (process.env.SEER_TEST_INSTALL === '0') return 'SEER_TEST_INSTALL=0';
  if (process.getuid?.() !== 0) return 'not root';
  if (spawnSync('apt-get', ['--version']).status !== 0) return 'no apt-get';
  return undefined;
}

function apt(args: string[]): { ok: boolean; output: string } {
  const result = spawnSync('apt-get', ['-q', ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
  });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

const missing = [
  ...new Set(
    (Object.keys(HOST_TOOLS) as HostTool[])
      .filter((tool) => !hostTool(tool))
      .map((t) => HOST_TOOLS[t].package),
  ),
].sort();
const why = missing.length > 0 ? whyNotInstall() : undefined;
if (missing.length === 0) {
  // everything is there
} else if (why) {
  log(`not installing ${missing.join(' ')} (${why}): the tests that need them are skipped`);
} else {
  log(`installing ${missing.join(' ')} with apt-get`);
  // A policy-rc.d that refuses keeps the packages' daemons from starting: tests start their own.
  const ownPolicy = !existsSync(POLICY_RC);
  if (ownPolicy) writeFileSync(POLICY_RC, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const result = [apt(['update']), apt(['install', '-y', '--no-install-recommends', ...missing])].find(
      (step) => !step.ok,
    );
    if (result) {
      log(`apt-get failed; the tests that need ${missing.join(' ')} are skipped:`);
      process.stderr.write(`${result.output.trimEnd().split('\n').slice(-5).join('\n')}\n`);
    }
  } finally {
    if (ownPolicy) rmSync(POLICY_RC, { force: true });
  }
}
