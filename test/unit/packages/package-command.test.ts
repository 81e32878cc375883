import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildPackage } from '../../../packages/build.js';
import { PackageError } from '../../../packages/errors.js';
import { UsageError } from '../../../cli/command.js';
import { createPackageCommand, packageCommand } from '../../../cli/commands/package.js';
import { captureOutput as capture } from './command-output.js';
import { closedPort } from './http-fixture.js';

let scratch: string;
let source: string;
before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-package-command-'));
  source = path.join(scratch, 'src');
  await mkdir(path.join(source, 'bin'), { recursive: true });
  await writeFile(path.join(source, 'bin', 'app'), 'app');
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('seer package build', () => {
  test('prints the digest of the package it wrote', async () => {
    const io = capture();
    const out = path.join(scratch, 'cli.tar.gz');
    await createPackageCommand(io.output).run(['build', source, '-o', out]);
    const expected = await buildPackage(source, path.join(scratch, 'direct.tar.gz'));
    assert.equal(io.stdout, `${expected.digest}\n`);
    assert.match(io.stderr, /^built .*cli\.tar\.gz \(0\.0 MB\)\n$/);
  });

  test('a directory that is not one fails with the reason', async () => {
    const io = capture();
    await assert.rejects(
      createPackageCommand(io.output).run([
        'build',
        path.join(scratch, 'missing'),
        '-o',
        path.join(scratch, 'x.tar.gz'),
      ]),
      (error: unknown) => error instanceof PackageError && /is not a directory/.test(error.message),
    );
    assert.equal(io.stdout, '');
  });
});

describe('seer package refuses bad arguments with a usage error', () => {
  const cases: [string, string[], RegExp][] = [
    ['no action', [], /usage:/],
    ['an unknown action', ['publish', 'dir'], /usage:/],
    ['build without -o', ['build', 'dir'], /needs DIR and -o FILE/],
    ['build without DIR', ['build', '-o', 'x.tar.gz'], /needs DIR and -o FILE/],
    ['build with two directories', ['build', 'a', 'b', '-o', 'x'], /needs DIR and -o FILE/],
    ['build with an unknown option', ['build', 'dir', '-o', 'x', '--level', '9'], /Unknown option '--level'/],
    ['push without REF', ['push', 'dir'], /needs DIR and REF/],
    ['push with an extra argument', ['push', 'dir', 'r.io/a:b', 'c'], /needs DIR and REF/],
    ['push to a reference without a registry', ['push', 'dir', 'app:v1'], /no registry host/],
    [
      'push to an http URL',
      ['push', 'dir', 'https://example.com/p.tar.gz'],
      /REF must be registry\/repository:tag/,
    ],
    ['push with a value for --insecure', ['push', 'dir', 'r.io/a:b', '--insecure=yes'], /--insecure/],
    ['push with --credentials and no file', ['push', 'dir', 'r.io/a:b', '--credentials'], /--credentials/],
  ];
  for (const [what, args, message] of cases) {
    test(what, async () => {
      await assert.rejects(packageCommand.run(args), (error: unknown) => {
        assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

describe('seer package push failures', () => {
  test('a registry that is down fails with RegistryUnavailable and prints no digest', async () => {
    const io = capture();
    const host = `127.0.0.1:${await closedPort()}`;
    await assert.rejects(
      createPackageCommand(io.output).run(['push', source, `${host}/app:v1`, '--insecure']),
      (error: unknown) => error instanceof PackageError && error.reason === 'RegistryUnavailable',
    );
    assert.equal(io.stdout, '');
  });

  test('pushing to a digest is refused', async () => {
    const io = capture();
    await assert.rejects(
      createPackageCommand(io.output).run([
        'push',
        source,
        `127.0.0.1:1/app@sha256:${'a'.repeat(64)}`,
        '--insecure',
      ]),
      (error: unknown) => error instanceof PackageError && /give a tag, not a digest/.test(error.message),
    );
  });

  test('an unreadable credentials file says which', async () => {
    const io = capture();
    await assert.rejects(
      createPackageCommand(io.output).run([
        'push',
        source,
        'r.io/app:v1',
        '--credentials',
        path.join(scratch, 'none.json'),
      ]),
      /cannot read registry credentials .*none\.json/,
    );
  });
});
