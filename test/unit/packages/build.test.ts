import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { list, type ReadEntry } from 'tar';
import { buildPackage } from '../../../packages/build.js';
import { PackageError } from '../../../packages/errors.js';
import { unpackPackage } from '../../../packages/unpack.js';

const run = promisify(execFile);

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-build-test-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const LONG_DIR = 'd'.repeat(120);
const LONG_FILE = 'f'.repeat(110);
// Longer than ustar's prefix + name can hold: needs a pax path record.
const VERY_LONG = `${'p'.repeat(200)}/${'q'.repeat(150)}`;

/** A package directory with a bit of everything: nested, executable, empty, linked, long names. */
async function makeSource(name: string): Promise<string> {
  const dir = path.join(scratch, name);
  await mkdir(path.join(dir, 'bin'), { recursive: true });
  await mkdir(path.join(dir, 'conf'));
  await mkdir(path.join(dir, 'var', 'empty'), { recursive: true });
  await mkdir(path.join(dir, LONG_DIR));
  await mkdir(path.join(dir, path.dirname(VERY_LONG)));
  await writeFile(path.join(dir, 'bin', 'server'), '#!/bin/sh\necho serving\n');
  await chmod(path.join(dir, 'bin', 'server'), 0o755);
  await writeFile(path.join(dir, 'conf', 'app.conf'), 'listen 8080\n');
  await writeFile(path.join(dir, 'empty-file'), '');
  await writeFile(path.join(dir, LONG_DIR, LONG_FILE), 'long');
  await writeFile(path.join(dir, VERY_LONG), 'very long');
  await writeFile(path.join(dir, 'B-upper'), 'sorted bytewise before lowercase');
  await symlink('bin/server', path.join(dir, 'current'));
  await symlink('../conf', path.join(dir, 'bin', 'conf-link'));
  return dir;
}

async function digestOf(dir: string, name: string): Promise<string> {
  return (await buildPackage(dir, path.join(scratch, `${name}.tar.gz`))).digest;
}

describe('buildPackage', () => {
  test('is reproducible: the same files give byte-identical archives', async () => {
    const dir = await makeSource('repro');
    const first = await buildPackage(dir, path.join(scratch, 'repro-1.tar.gz'));
    const second = await buildPackage(dir, path.join(scratch, 'repro-2.tar.gz'));
    assert.match(first.digest, /^sha256:[a-f0-9]{64}$/);
    assert.deepEqual(first, second);
    const bytes = await readFile(path.join(scratch, 'repro-1.tar.gz'));
    assert.ok(bytes.equals(await readFile(path.join(scratch, 'repro-2.tar.gz'))));
    assert.equal(first.size, bytes.length);
  });

  test('ignores mtimes, owners and mode bits other than execute', async () => {
    const dir = await makeSource('metadata-noise');
    const before = await digestOf(dir, 'noise-before');
    await utimes(path.join(dir, 'conf', 'app.conf'), new Date('2011-11-11'), new Date('2011-11-11'));
    await utimes(path.join(dir, 'bin'), new Date('2012-12-12'), new Date('2012-12-12'));
    await chmod(path.join(dir, 'conf', 'app.conf'), 0o600);
    await chmod(path.join(dir, 'bin', 'server'), 0o700);
    await chmod(path.join(dir, 'conf'), 0o700);
    if (process.getuid?.() === 0) await chown(path.join(dir, 'conf', 'app.conf'), 1234, 5678);
    assert.equal(await digestOf(dir, 'noise-after'), before);
  });

  test('changes when content, names or execute bits change', async () => {
    const dir = await makeSource('changes');
    const original = await digestOf(dir, 'changes-0');
    await writeFile(path.join(dir, 'conf', 'app.conf'), 'listen 8081\n');
    const contentChanged = await digestOf(dir, 'changes-1');
    assert.notEqual(contentChanged, original);
    await chmod(path.join(dir, 'conf', 'app.conf'), 0o755);
    const modeChanged = await digestOf(dir, 'changes-2');
    assert.notEqual(modeChanged, contentChanged);
    await writeFile(path.join(dir, 'new-file'), '');
    assert.notEqual(await digestOf(dir, 'changes-3'), modeChanged);
  });

  test('writes a fixed gzip header and normalized tar headers in sorted order', async () => {
    const dir = await makeSource('headers');
    const archive = path.join(scratch, 'headers.tar.gz');
    await buildPackage(dir, archive);
    const bytes = await readFile(archive);
    assert.deepEqual(
      [...bytes.subarray(0, 10)],
      [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
      'no mtime, no name, OS Unix',
    );

    const entries: { path: string; type: string; mode: number; uid: number; gid: number; mtime: string }[] =
      [];
    await list({
      file: archive,
      onReadEntry: (entry: ReadEntry) => {
        assert.equal(entry.uname, '');
        assert.equal(entry.gname, '');
        entries.push({
          path: entry.path,
          type: entry.type,
          mode: entry.mode ?? -1,
          uid: entry.uid ?? -1,
          gid: entry.gid ?? -1,
          mtime: entry.mtime?.toISOString() ?? '',
        });
      },
    });
    assert.deepEqual(
      entries.map((e) => e.path),
      [
        'B-upper',
        'bin/',
        'bin/conf-link',
        'bin/server',
        'conf/',
        'conf/app.conf',
        'current',
        `${LONG_DIR}/`,
        `${LONG_DIR}/${LONG_FILE}`,
        'empty-file',
        `${path.dirname(VERY_LONG)}/`,
        VERY_LONG,
        'var/',
        'var/empty/',
      ],
    );
    for (const entry of entries) {
      assert.equal(entry.uid, 0);
      assert.equal(entry.gid, 0);
      assert.equal(entry.mtime, '2000-01-01T00:00:00.000Z');
      const expected =
        entry.type === 'Directory' || entry.path === 'bin/server'
          ? 0o755
          : entry.type === 'SymbolicLink'
            ? 0o777
            : 0o644;
      assert.equal(entry.mode, expected, `mode of ${entry.path}`);
    }
  });

  test('GNU tar reads the archive back exactly, long names included', async () => {
    const dir = await makeSource('gnu');
    const archive = path.join(scratch, 'gnu.tar.gz');
    await buildPackage(dir, archive);
    const out = path.join(scratch, 'gnu-out');
    await mkdir(out);
    await run('tar', ['-xzf', archive, '-C', out]);
    await run('diff', ['-r', '--no-dereference', dir, out]);
    assert.equal((await stat(path.join(out, 'bin', 'server'))).mode & 0o777, 0o755);
  });

  test('round-trips through unpackPackage', async () => {
    const dir = await makeSource('roundtrip');
    const archive = path.join(scratch, 'roundtrip.tar.gz');
    await buildPackage(dir, archive);
    const destination = path.join(scratch, 'roundtrip-out', 'dest');
    await unpackPackage(archive, destination);
    await run('diff', ['-r', '--no-dereference', dir, destination]);
    assert.equal(await readlink(path.join(destination, 'current')), 'bin/server');
    assert.equal((await stat(path.join(destination, 'bin', 'server'))).mode & 0o777, 0o755);
    assert.equal(await readFile(path.join(destination, VERY_LONG), 'utf8'), 'very long');
  });

  test('leaves the output file out when it is inside the directory', async () => {
    const dir = await makeSource('self');
    const inside = path.join(dir, 'package.tar.gz');
    const first = await buildPackage(dir, inside);
    const second = await buildPackage(dir, inside);
    assert.equal(second.digest, first.digest);
  });

  const refusals: [string, (dir: string) => Promise<void>, RegExp][] = [
    ['a FIFO', (dir) => run('mkfifo', [path.join(dir, 'pipe')]).then(() => undefined), /pipe is a FIFO/],
    [
      'a socket',
      (dir) =>
        new Promise((resolve) => {
          const server = net.createServer().listen(path.join(dir, 'sock'), () => {
            // Closing the server would remove the socket file; keep it until the test ends.
            server.unref();
            resolve();
          });
        }),
      /sock is a socket/,
    ],
    [
      'a symlink to an absolute path',
      (dir) => symlink('/etc/passwd', path.join(dir, 'passwd')),
      /passwd is a symlink to "\/etc\/passwd", outside/,
    ],
    [
      'a symlink that climbs out',
      (dir) => symlink('../../outside', path.join(dir, 'bin', 'up')),
      /bin\/up is a symlink to "\.\.\/\.\.\/outside", outside/,
    ],
  ];
  for (const [what, make, message] of refusals) {
    test(`refuses ${what}`, async () => {
      const dir = await makeSource(`refuse-${what.replace(/\W+/g, '-')}`);
      await make(dir);
      const out = path.join(scratch, `refused-${what.replace(/\W+/g, '-')}.tar.gz`);
      await assert.rejects(buildPackage(dir, out), (error: unknown) => {
        assert.ok(error instanceof PackageError);
        assert.equal(error.reason, 'PackageRejected');
        assert.match(error.message, message);
        return true;
      });
      await assert.rejects(stat(out), { code: 'ENOENT' }, 'no output is left behind');
    });
  }

  test('refuses something that is not a directory', async () => {
    const file = path.join(scratch, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(buildPackage(file, path.join(scratch, 'x.tar.gz')), /a-file is not a directory/);
    await assert.rejects(
      buildPackage(path.join(scratch, 'missing'), path.join(scratch, 'x.tar.gz')),
      /is not a directory/,
    );
  });
});
