/**
 * A minimal, deterministic tar writer (POSIX ustar, with pax records only for what ustar cannot hold).
 * Every header field Seer does not choose is fixed: uid/gid 0, no user or group names, one mtime,
 * so the same entries always give the same bytes.
 */

export interface TarEntry {
  /** Relative path with '/' separators; directories without the trailing slash. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  /** Content length for files. */
  size?: number;
  /** Target for symlinks. */
  linkTarget?: string;
}

export const BLOCK_SIZE = 512;
/** 2000-01-01T00:00:00Z: a fixed mtime that no tool mistakes for "unset". */
export const FIXED_MTIME = 946_684_800;
/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK_SIZE);

const TYPE_FLAGS = { file: '0', directory: '5', symlink: '2' } as const;
// The largest size an 11-digit octal field holds (8 GiB - 1).
const MAX_OCTAL_SIZE = 0o77777777777;

function writeString(block: Buffer, offset: number, length: number, value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  bytes.copy(block, offset, 0, Math.min(bytes.length, length));
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  writeString(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** Splits a long path into ustar's prefix and name fields, if it can be. */
function splitUstarPath(fullPath: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(fullPath) <= 100) return { prefix: '', name: fullPath };
  for (let slash = fullPath.indexOf('/'); slash !== -1; slash = fullPath.indexOf('/', slash + 1)) {
    const prefix = fullPath.slice(0, slash);
    const name = fullPath.slice(slash + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '')
      return { prefix, name };
  }
  return undefined;
}

/** One pax record, "<length> <key>=<value>\n", where the length counts itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let digits = String(bodyLength).length;
  if (String(bodyLength + digits).length > digits) digits += 1;
  return `${bodyLength + digits}${body}`;
}

function ustarHeader(fields: {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  typeFlag: string;
  linkName: string;
}): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  writeString(block, 0, 100, fields.name);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, FIXED_MTIME);
  writeString(block, 148, 8, '        ');
  writeString(block, 156, 1, fields.typeFlag);
  writeString(block, 157, 100, fields.linkName);
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  writeString(block, 345, 155, fields.prefix);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  writeString(block, 148, 8, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** Zero bytes that round `size` up to whole blocks. */
export function padding(size: number): Buffer {
  const remainder = size % BLOCK_SIZE;
  return Buffer.alloc(remainder === 0 ? 0 : BLOCK_SIZE - remainder);
}

/** The header block(s) of one entry: a pax header first when a path, target or size needs one. */
export function entryHeader(entry: TarEntry): Buffer {
  const fullPath = entry.type === 'directory' ? `${entry.path}/` : entry.path;
  const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
  const linkName = entry.linkTarget ?? '';
  const pax: string[] = [];

  let split = splitUstarPath(fullPath);
  if (!split) {
    pax.push(paxRecord('path', fullPath));
    split = { prefix: '', name: Buffer.from(fullPath).subarray(0, 100).toString('utf8') };
  }
  if (Buffer.byteLength(linkName) > 100) pax.push(paxRecord('linkpath', linkName));
  if (size > MAX_OCTAL_SIZE) pax.push(paxRecord('size', String(size)));

  const header = ustarHeader({
    name: split.name,
    prefix: split.prefix,
    mode: entry.mode,
    size: Math.min(size, MAX_OCTAL_SIZE),
    typeFlag: TYPE_FLAGS[entry.type],
    linkName: Buffer.from(linkName).subarray(0, 100).toString('utf8'),
  });
  if (pax.length === 0) return header;

  const records = Buffer.from(pax.join(''), 'utf8');
  const paxHeader = ustarHeader({
    name: 'PaxHeader',
    prefix: '',
    mode: 0o644,
    size: records.length,
    typeFlag: 'x',
    linkName: '',
  });
  return Buffer.concat([paxHeader, records, padding(records.length), header]);
}
