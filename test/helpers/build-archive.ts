/** Tar archives built byte by byte for the archive tests. */

export interface Spec {
  name: string;
  type?: string;
  data?: Buffer | string;
  link?: string;
  /** Write the size in GNU base-256 form. */
  base256?: boolean;
  prefix?: string;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One 512-byte header (ustar), checksum included. */
export function header(spec: Spec, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(spec.name, 0, 100, 'utf8');
  block.write(octal(0o644, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  if (spec.base256) {
    block[124] = 0x80;
    block.writeBigUInt64BE(BigInt(size), 124 + 4);
  } else block.write(octal(size, 12), 124, 'latin1');
  block.write(octal(1700000000, 12), 136, 'latin1');
  block.write(spec.type ?? '0', 156, 'latin1');
  if (spec.link) block.write(spec.link, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 'latin1');
  if (spec.prefix) block.write(spec.prefix, 345, 155, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

export function padTo512(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

export function pax(records: Record<string, string>): Buffer {
  let text = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = body.length + 1;
    while (`${length}${body}`.length !== length) length++;
    text += `${length}${body}`;
  }
  return Buffer.from(text);
}

/** A tar archive of `specs`, with the end-of-archive blocks. */
export function tarOf(specs: Spec[]): Buffer {
  const parts: Buffer[] = [];
  for (const spec of specs) {
    const data = typeof spec.data === 'string' ? Buffer.from(spec.data) : (spec.data ?? Buffer.alloc(0));
    parts.push(header(spec, data.length), padTo512(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

