import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMG_COMMON } from '../../src/images/magic.js';
import { messageType } from '../../src/images/schema.js';

/** A protobuf entry to encode: type name and plain field values. */
export interface EntrySpec {
  type: string;
  fields: Record<string, unknown>;
}

/** Encodes one entry as CRIU frames it: u32 length then the message. */
export function frame(spec: EntrySpec): Buffer {
  const type = messageType(spec.type);
  const payload = Buffer.from(type.encode(type.fromObject(spec.fields)).finish());
  const length = Buffer.alloc(4);
  length.writeUInt32LE(payload.length);
  return Buffer.concat([length, payload]);
}

/** Builds a whole image: common magic, the image magic, then the framed entries. */
export function image(magic: number, entries: readonly EntrySpec[], options: { common?: boolean } = {}): Buffer {
  const header = Buffer.alloc(options.common === false ? 4 : 8);
  if (options.common === false) header.writeUInt32LE(magic, 0);
  else {
    header.writeUInt32LE(IMG_COMMON, 0);
    header.writeUInt32LE(magic, 4);
  }
  return Buffer.concat([header, ...entries.map(frame)]);
}

let scratchRoot: string | undefined;

/** One scratch directory per test process, removed when the process exits. */
function scratch(): string {
  if (!scratchRoot) {
    const root = mkdtempSync(join(tmpdir(), 'criu-gdb-unit-'));
    scratchRoot = root;
    process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return scratchRoot;
}

/** Makes a fresh temporary directory and writes `files` into it. */
export function imageDir(files: Record<string, Buffer>): string {
  const dir = mkdtempSync(join(scratch(), 'images-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}
