import { gzipSync } from 'node:zlib';

/**
 * Raw tar entries for tests, written header by header with no checks at all, so the tests can build
 * every hostile archive a package could be (and so they do not trust the writer they test).
 */
export interface RawEntry {
  name: string;
  /** The ustar typeflag: '0' file, '1' hardlink, '2' symlink, '3' char device, '4' block device, '5' directory, '6' FIFO, 'x' pax, 'L' GNU long name. */
  type?: string;
  mode?: number;
  linkname?: string;
  content?: Buffer | string;
  /** The size written in the header, when it should not be the content's length. */
  size?: number;
}

function field(block: Buffer, offset: number, length: number, value: string): void {
  Buffer.from(value, 'utf8').copy(block, offset, 0, length);
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  field(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

export function rawHeader(entry: RawEntry): Buffer {
  const content = Buffer.from(entry.content ?? '');
  const block = Buffer.alloc(512);
  field(block, 0, 100, entry.name);
  octal(block, 100, 8, entry.mode ?? 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, entry.size ?? content.length);
  octal(block, 136, 12, 0);
  field(block, 148, 8, '        ');
  field(block, 156, 1, entry.type ?? '0');
  field(block, 157, 100, entry.linkname ?? '');
  field(block, 257, 6, 'ustar\0');
  field(block, 263, 2, '00');
  let sum = 0;
  for (const byte of block) sum += byte;
  field(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

export function rawTar(entries: RawEntry[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? '');
    parts.push(rawHeader(entry), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  if (options.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function rawTarGz(entries: RawEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}

/** A pax extended header record block that applies to the next entry. */
export function paxEntry(records: Record<string, string>): RawEntry {
  let text = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = body.length + String(body.length).length;
    if (String(length).length !== String(body.length).length) length += 1;
    text += `${length}${body}`;
  }
  return { name: 'PaxHeader', type: 'x', content: text };
}
