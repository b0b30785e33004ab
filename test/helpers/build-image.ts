import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageError } from '../../src/errors.js';
import { ImageDirectory } from '../../src/images/directory.js';
import { IMG_COMMON, Magic } from '../../src/images/magic.js';
import { messageType } from './proto-types.js';

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

/** Writes `files` into a fresh directory and opens it as a checkpoint images directory. */
export function openImageDir(files: Record<string, Buffer>): ImageDirectory {
  return ImageDirectory.openRoot(imageDir(files));
}

/** Runs `action`, which must throw an ImageError, and returns that error. */
export function catchImageError(action: () => unknown): ImageError {
  try {
    action();
  } catch (error) {
    if (error instanceof ImageError) return error;
    throw error;
  }
  throw new Error('expected an ImageError');
}

/** Size of a page in the images the tests build. */
export const PAGE = 4096;

/** Whole pages, each filled with one byte value. */
export function pages(...fills: number[]): Buffer {
  return Buffer.concat(fills.map((fill) => Buffer.alloc(PAGE, fill)));
}

/** A pagemap image naming pages-`pagesId`.img, with runs of [vaddr, page count, flags]. */
export function pagemapImage(pagesId: number, runs: Array<[number, number, number]>): Buffer {
  return image(Magic.pagemap, [
    { type: 'PagemapHead', fields: { pages_id: pagesId } },
    ...runs.map(([vaddr, count, flags]) => ({ type: 'PagemapEntry', fields: { vaddr, compat_nr_pages: count, nr_pages: count, flags } })),
  ]);
}
