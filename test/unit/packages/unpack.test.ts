import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PackageError } from '../../../packages/errors.js';
import { unpackPackage, type UnpackLimits } from '../../../packages/unpack.js';
import { paxEntry, rawTar, rawTarGz, type RawEntry } from './tar-fixtures.js';

let scratch: string;

before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'seer-unpack-test-'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Every path under `dir`, relative and sorted, without following symlinks. */
async function listing(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    found.push(relative);
    if (entry.isDirectory()) found.push(...(await listing(dir, relative)));
  }
  return found.sort();
}

/**
 * A fresh layout for one case: base/work/dest is the destination; base/outside is a sibling that a
 * `..` escape would reach. Returns where the archive is and what to check afterwards.
 */
async function layout(name: string, archive: Buffer) {
  const base = path.join(scratch, name);
  await mkdir(path.join(base, 'work'), { recursive: true });
  await mkdir(path.join(base, 'outside'));
  const archiveFile = path.join(scratch, `${name}.tar.gz`);
  await writeFile(archiveFile, archive);
  return { base, work: path.join(base, 'work'), destination: path.join(base, 'work', 'dest'), archiveFile };
}

/**
 * Unpacks a hostile archive and checks the refusal: the reason, the entry named in the message, no
 * destination, and nothing new anywhere under base (no staging directory, no escaped file).
 */
async function assertRefused(
  name: string,
  entries: RawEntry[] | Buffer,
  expected: RegExp,
  limits?: UnpackLimits,
): Promise<void> {
  const archive = Buffer.isBuffer(entries) ? entries : rawTarGz(entries);
  const { base, destination, archiveFile } = await layout(name, archive);
  await assert.rejects(unpackPackage(archiveFile, destination, limits), (error: unknown) => {
    assert.ok(error instanceof PackageError, `expected a PackageError, got ${String(error)}`);
    assert.equal(error.reason, 'PackageRejected');
    assert.match(error.message, expected);
    return true;
  });
  assert.deepEqual(await listing(base), ['outside', 'work'], 'nothing may be written outside or left behind');
}

describe('unpackPackage refuses hostile archives', () => {
  test('a path with ..', async () => {
    await assertRefused('dotdot', [{ name: '../x', content: 'escaped' }], /entry "\.\.\/x" contains '\.\.'/);
  });

  test('a path that climbs out through a/../..', async () => {
    await assertRefused(
      'dotdot-nested',
      [
        { name: 'a/', type: '5' },
        { name: 'a/../../x', content: 'escaped' },
      ],
      /entry "a\/\.\.\/\.\.\/x" contains '\.\.'/,
    );
  });

  test('a .. even when it would stay inside', async () => {
    await assertRefused('dotdot-inside', [{ name: 'a/../b', content: 'x' }], /contains '\.\.'/);
  });

  test('an absolute path', async () => {
    const target = path.join(scratch, 'absolute', 'outside', 'abs-file');
    await assertRefused('absolute', [{ name: target, content: 'escaped' }], /is an absolute path/);
    await assert.rejects(stat(target), { code: 'ENOENT' });
  });

  test('a symlink to /etc', async () => {
    await assertRefused(
      'symlink-etc',
      [{ name: 'etc', type: '2', linkname: '/etc' }],
      /entry "etc" is a symlink to "\/etc", which resolves outside the package/,
    );
  });

  test('a symlink a -> ../../.. and then a file through it', async () => {
    await assertRefused(
      'symlink-climb',
      [
        { name: 'a', type: '2', linkname: '../../..' },
        { name: 'a/x', content: 'escaped' },
      ],
      /entry "a" is a symlink to "\.\.\/\.\.\/\.\.", which resolves outside/,
    );
  });

  test('a file written through a symlink, even one that points inside', async () => {
    await assertRefused(
      'through-symlink',
      [
        { name: 'sub/', type: '5' },
        { name: 'a', type: '2', linkname: 'sub' },
        { name: 'a/x', content: 'through the link' },
      ],
      /entry "a\/x" passes through the symlink a/,
    );
  });

  test('a chain of symlinks that escapes only once both exist (defined in either order)', async () => {
    // x/l1 -> .. is the package root; x/l2 -> l1/.. looks like x but is the root's parent.
    const chain: RawEntry[] = [
      { name: 'x/', type: '5' },
      { name: 'x/l2', type: '2', linkname: 'l1/..' },
      { name: 'x/l1', type: '2', linkname: '..' },
    ];
    await assertRefused(
      'symlink-chain-late',
      chain,
      /entry "x\/l2" is a symlink to "l1\/\.\.", which resolves outside/,
    );
    await assertRefused(
      'symlink-chain-early',
      [chain[0]!, chain[2]!, chain[1]!],
      /entry "x\/l2" is a symlink to "l1\/\.\.", which resolves outside/,
    );
  });

  test('a file replacing a symlink of the same name', async () => {
    await assertRefused(
      'symlink-then-file',
      [
        { name: 'target', content: 'inside' },
        { name: 'a', type: '2', linkname: 'target' },
        { name: 'a', content: 'would be written through the link' },
      ],
      /entry "a" appears twice/,
    );
  });

  test('a directory replacing a file of the same name', async () => {
    await assertRefused(
      'file-then-directory',
      [
        { name: 'a', content: 'x' },
        { name: 'a/', type: '5' },
      ],
      /entry "a" appears twice/,
    );
  });

  test('a symlink in place of the package root', async () => {
    await assertRefused(
      'root-symlink',
      [{ name: '.', type: '2', linkname: '/' }],
      /entry "\." names the package root but is not a directory/,
    );
  });

  test('a hardlink to ../outside', async () => {
    await assertRefused(
      'hardlink-dotdot',
      [{ name: 'h', type: '1', linkname: '../outside' }],
      /entry "h" is a hardlink to "\.\.\/outside", which contains '\.\.'/,
    );
  });

  test('a hardlink to an absolute path', async () => {
    await assertRefused(
      'hardlink-absolute',
      [{ name: 'h', type: '1', linkname: '/etc/passwd' }],
      /entry "h" is a hardlink to "\/etc\/passwd", which is an absolute path/,
    );
  });

  test('a hardlink to something that is not a file earlier in the package', async () => {
    await assertRefused(
      'hardlink-through-symlink',
      [
        { name: 'sub/', type: '5' },
        { name: 'sub/file', content: 'x' },
        { name: 'd', type: '2', linkname: 'sub' },
        { name: 'h', type: '1', linkname: 'd/file' },
      ],
      /entry "h" is a hardlink to "d\/file", which is not a file earlier in the package/,
    );
    await assertRefused(
      'hardlink-to-directory',
      [
        { name: 'sub/', type: '5' },
        { name: 'h', type: '1', linkname: 'sub' },
      ],
      /entry "h" is a hardlink to "sub", which is not a file/,
    );
  });

  test('a character device', async () => {
    await assertRefused('chardev', [{ name: 'null', type: '3' }], /entry "null" is a character device/);
  });

  test('a block device', async () => {
    await assertRefused('blockdev', [{ name: 'sda', type: '4' }], /entry "sda" is a block device/);
  });

  test('a FIFO', async () => {
    await assertRefused('fifo', [{ name: 'pipe', type: '6' }], /entry "pipe" is a FIFO/);
  });

  test('an entry type it does not know', async () => {
    await assertRefused(
      'unknown-type',
      [{ name: 'sparse', type: 'S', content: 'x' }],
      /entry "sparse" has an unsupported type/,
    );
  });

  test('files adding up to more than the size cap', async () => {
    await assertRefused(
      'too-big',
      [
        { name: 'a', content: Buffer.alloc(600) },
        { name: 'b', content: Buffer.alloc(600) },
      ],
      /entry "b" takes the package over its size limit of 1000 bytes/,
      { maxBytes: 1000 },
    );
  });

  test('a tar bomb: a file of zeros far larger than the cap', async () => {
    const bomb = rawTarGz([{ name: 'zeros', content: Buffer.alloc(64 * 1024 * 1024) }]);
    assert.ok(bomb.length < 1024 * 1024, 'the bomb compresses well');
    await assertRefused('bomb', bomb, /entry "zeros" takes the package over its size limit/, {
      maxBytes: 8 * 1024 * 1024,
    });
  });

  test('more entries than the cap', async () => {
    const entries = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, content: 'x' }));
    await assertRefused(
      'too-many',
      entries,
      /entry "f10" is entry number 11; a package may have at most 10/,
      {
        maxEntries: 10,
      },
    );
  });

  test('a path smuggled in through a pax header', async () => {
    await assertRefused(
      'pax-path',
      [paxEntry({ path: '../pax-escape' }), { name: 'innocent', content: 'x' }],
      /entry "\.\.\/pax-escape" contains '\.\.'/,
    );
  });

  test('a path smuggled in through a GNU long name', async () => {
    await assertRefused(
      'gnu-longname',
      [
        { name: '././@LongLink', type: 'L', content: '../../gnu-escape\0' },
        { name: 'innocent', content: 'x' },
      ],
      /entry "\.\.\/\.\.\/gnu-escape" contains '\.\.'/,
    );
  });

  test('a file inside a file', async () => {
    await assertRefused(
      'file-in-file',
      [
        { name: 'f', content: 'x' },
        { name: 'f/g', content: 'y' },
      ],
      /entry "f\/g" is inside f, which is a file/,
    );
  });

  test('something that is not gzip', async () => {
    await assertRefused('not-gzip', Buffer.from('just some text, no archive'), /not valid gzip/);
  });

  test('a truncated archive', async () => {
    const whole = rawTar([{ name: 'big', content: Buffer.alloc(4096, 1) }]);
    await assertRefused('truncated', gzipSync(whole.subarray(0, 512 + 1024)), /not a valid tar archive/);
  });

  test('a header with a bad checksum', async () => {
    const archive = rawTar([{ name: 'file', content: 'x' }]);
    archive[0] = 'g'.charCodeAt(0);
    await assertRefused('checksum', gzipSync(archive), /not a valid tar archive/);
  });

  test('gzip of something that is not tar', async () => {
    await assertRefused('gzip-not-tar', gzipSync(Buffer.alloc(2048, 7)), /not a valid tar archive/);
  });

  test('an invalid seer-package.yaml', async () => {
    await assertRefused(
      'bad-metadata',
      [{ name: 'seer-package.yaml', content: 'mode: sideways\n' }],
      /seer-package\.yaml: mode must be foreground or forking/,
    );
  });

  test('a seer-package.yaml that is a symlink', async () => {
    await assertRefused(
      'metadata-symlink',
      [
        { name: 'real.yaml', content: 'mode: forking\n' },
        { name: 'seer-package.yaml', type: '2', linkname: 'real.yaml' },
      ],
      /entry "seer-package\.yaml" must be a regular file/,
    );
  });

  test('a refusal leaves an existing destination as it was', async () => {
    const { base, destination, archiveFile } = await layout(
      'refused-keeps-old',
      rawTarGz([
        { name: 'ok', content: 'x' },
        { name: '../x', content: 'escaped' },
      ]),
    );
    await mkdir(destination);
    await writeFile(path.join(destination, 'old'), 'previous version');
    await assert.rejects(unpackPackage(archiveFile, destination), { reason: 'PackageRejected' });
    assert.deepEqual(await listing(base), ['outside', 'work', 'work/dest', 'work/dest/old']);
  });
});

describe('unpackPackage unpacks good archives', () => {
  test('files, directories, links and modes, without setuid or setgid bits', async () => {
    const { base, destination, archiveFile } = await layout(
      'good',
      rawTarGz([
        { name: './', type: '5', mode: 0o750 },
        { name: 'bin/', type: '5', mode: 0o755 },
        { name: 'bin/server', content: '#!/bin/sh\n', mode: 0o755 },
        { name: 'bin/suid', content: 'x', mode: 0o4755 },
        { name: 'shared/', type: '5', mode: 0o2775 },
        { name: 'conf/app.conf', content: 'listen 8080\n', mode: 0o600 },
        { name: 'empty', content: '' },
        { name: 'current', type: '2', linkname: 'bin/server' },
        { name: 'lib/self', type: '2', linkname: '../conf' },
        { name: 'hard', type: '1', linkname: 'conf/app.conf' },
      ]),
    );
    const metadata = await unpackPackage(archiveFile, destination);
    assert.equal(metadata, undefined);
    assert.deepEqual(await listing(base), [
      'outside',
      'work',
      'work/dest',
      'work/dest/bin',
      'work/dest/bin/server',
      'work/dest/bin/suid',
      'work/dest/conf',
      'work/dest/conf/app.conf',
      'work/dest/current',
      'work/dest/empty',
      'work/dest/hard',
      'work/dest/lib',
      'work/dest/lib/self',
      'work/dest/shared',
    ]);
    const mode = async (p: string) => (await lstat(path.join(destination, p))).mode & 0o7777;
    assert.equal(await mode('.'), 0o750);
    assert.equal(await mode('bin/server'), 0o755);
    assert.equal(await mode('bin/suid'), 0o755, 'the setuid bit is dropped');
    assert.equal(await mode('shared'), 0o775, 'the setgid bit is dropped');
    assert.equal(await mode('conf/app.conf'), 0o600);
    assert.equal(await mode('conf'), 0o755, 'implicit directories are 0755');
    assert.equal(await mode('empty'), 0o644);
    assert.equal(await readFile(path.join(destination, 'bin/server'), 'utf8'), '#!/bin/sh\n');
    assert.equal(await readFile(path.join(destination, 'empty'), 'utf8'), '');
    assert.equal(await readlink(path.join(destination, 'current')), 'bin/server');
    assert.equal(await readlink(path.join(destination, 'lib/self')), '../conf');
    const hard = await stat(path.join(destination, 'hard'));
    assert.equal(hard.ino, (await stat(path.join(destination, 'conf/app.conf'))).ino, 'a real hardlink');
  });

  test('returns the package metadata', async () => {
    const { destination, archiveFile } = await layout(
      'metadata',
      rawTarGz([
        {
          name: 'seer-package.yaml',
          content:
            'commands:\n  start: sbin/nginx\nmode: forking\npid_file: logs/nginx.pid\nports:\n  - {name: http, container_port: 80}\n',
        },
      ]),
    );
    assert.deepEqual(await unpackPackage(archiveFile, destination), {
      commands: { start: 'sbin/nginx' },
      mode: 'forking',
      pid_file: 'logs/nginx.pid',
      ports: [{ name: 'http', container_port: 80 }],
    });
  });

  test('replaces an existing destination as a whole', async () => {
    const { base, destination, archiveFile } = await layout(
      'replace',
      rawTarGz([{ name: 'new', content: 'v2' }]),
    );
    await mkdir(destination);
    await writeFile(path.join(destination, 'old'), 'v1');
    await unpackPackage(archiveFile, destination);
    assert.deepEqual(await listing(base), ['outside', 'work', 'work/dest', 'work/dest/new']);
  });

  test('a file read in many chunks arrives whole', async () => {
    const content = Buffer.alloc(5 * 1024 * 1024 + 17);
    for (let i = 0; i < content.length; i += 1) content[i] = (i * 31) % 251;
    const { destination, archiveFile } = await layout('large', rawTarGz([{ name: 'data.bin', content }]));
    await unpackPackage(archiveFile, destination);
    assert.ok((await readFile(path.join(destination, 'data.bin'))).equals(content));
  });

  test('a missing archive fails with UnpackFailed and leaves nothing', async () => {
    const base = path.join(scratch, 'missing');
    await mkdir(base);
    await assert.rejects(unpackPackage(path.join(base, 'nope.tar.gz'), path.join(base, 'dest')), {
      reason: 'UnpackFailed',
    });
    assert.deepEqual(await listing(base), []);
  });
});
