/**
 * ghost-file-ID.img (ID in hex): a deleted file that a task still had open, saved with its contents.
 *
 * Regular files smaller than 12 KiB: the GhostFileEntry is followed by the raw contents up to the end
 * of the image. Larger ones (`chunks` set, `size` given): the entry is followed by GhostChunkEntry
 * records, each followed by `len` raw bytes that belong at offset `off`; the gaps are holes (zeros).
 * Symlinks carry their target; other file types carry no data.
 */
import type { ImageDirectory } from './directory.js';
import { badValue, fileTypeOfMode, type EntrySource } from './file-common.js';
import { bool, has, num, optNum, optStr, optU64, sub, u64 } from './fields.js';
import { EntryReader } from './framing.js';
import { Magic } from './magic.js';
import { LookupError } from '../errors.js';

/** Image name of ghost file `id` (hex, as CRIU names it). */
export function ghostImageName(id: number): string {
  return `ghost-file-${id.toString(16)}.img`;
}

/** A run of file bytes stored in a ghost image. */
export interface GhostExtent {
  /** Offset in the deleted file. */
  fileOffset: number;
  length: number;
  /** Image holding the bytes and where they start. */
  image: string;
  imageOffset: number;
}

/** A deleted file's saved metadata and the location of its contents. */
export interface GhostFile {
  id: number;
  image: string;
  uid: number;
  gid: number;
  mode: number;
  fileType: ReturnType<typeof fileTypeOfMode>;
  /** File size: recorded for chunked ghosts, the stored byte count for inline ones, 0 for others. */
  size: number;
  /** Whether the contents were stored as chunks (holes between them). */
  chunked: boolean;
  /** Stored runs of data, in increasing file order. */
  extents: GhostExtent[];
  dev?: number;
  ino?: bigint;
  rdev?: number;
  /** Access and modification times, seconds since the epoch (with microseconds). */
  atime?: number;
  mtime?: number;
  /** Target of a deleted symlink. */
  symlinkTarget?: string;
  source: EntrySource;
}

function seconds(message: object | undefined): number | undefined {
  if (!message) return undefined;
  return Number(u64(message, 'tv_sec')) + Number(u64(message, 'tv_usec')) / 1e6;
}

/** Reads ghost-file-`id`.img, which must exist. */
export function readGhostFile(dir: ImageDirectory, id: number): GhostFile {
  const file = dir.openRequired(ghostImageName(id));
  const reader = new EntryReader(file, Magic.ghostFile);
  const { message, offset } = reader.required('GhostFileEntry');
  const source = { image: file.label, offset };
  const mode = num(message, 'mode');
  const fileType = fileTypeOfMode(mode);
  const chunked = has(message, 'chunks') && bool(message, 'chunks');
  const ghost: GhostFile = {
    id,
    image: file.label,
    uid: num(message, 'uid'),
    gid: num(message, 'gid'),
    mode,
    fileType,
    size: 0,
    chunked,
    extents: [],
    source,
  };
  const dev = optNum(message, 'dev');
  if (dev !== undefined) ghost.dev = dev;
  const ino = optU64(message, 'ino');
  if (ino !== undefined) ghost.ino = ino;
  const rdev = optNum(message, 'rdev');
  if (rdev !== undefined) ghost.rdev = rdev;
  const atime = seconds(sub(message, 'atim'));
  if (atime !== undefined) ghost.atime = atime;
  const mtime = seconds(sub(message, 'mtim'));
  if (mtime !== undefined) ghost.mtime = mtime;
  const target = optStr(message, 'symlnk_target');
  if (target !== undefined) ghost.symlinkTarget = target;

  if (fileType !== 'reg') return ghost;
  if (!chunked) {
    const length = file.size - reader.offset;
    ghost.size = length;
    if (length > 0) ghost.extents.push({ fileOffset: 0, length, image: file.label, imageOffset: reader.skipBlob(length) });
    return ghost;
  }
  const size = optU64(message, 'size');
  if (size === undefined) badValue(source, 'chunked ghost file has no size');
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) badValue(source, `ghost file size ${size} is too large`);
  ghost.size = Number(size);
  let end = 0;
  for (let chunk = reader.next('GhostChunkEntry'); chunk; chunk = reader.next('GhostChunkEntry')) {
    const chunkSource = { image: file.label, offset: chunk.offset };
    const off = u64(chunk.message, 'off');
    const len = u64(chunk.message, 'len');
    if (off < BigInt(end) || off + len > size) {
      badValue(chunkSource, `chunk of ${len} bytes at ${off} overlaps another or lies outside the ${size}-byte file`);
    }
    const length = Number(len);
    const imageOffset = reader.skipBlob(length);
    if (length > 0) ghost.extents.push({ fileOffset: Number(off), length, image: file.label, imageOffset });
    end = Number(off) + length;
  }
  return ghost;
}

/**
 * Reads `length` bytes of a ghost file's contents at `position` (holes read as zeros). The range must
 * lie inside the file.
 */
export function readGhostContent(dir: ImageDirectory, ghost: GhostFile, position: number, length: number): Buffer {
  if (position < 0 || length < 0 || position + length > ghost.size) {
    throw new LookupError(`${ghost.image}: bytes ${position}-${position + length} are outside the ${ghost.size}-byte deleted file`);
  }
  const out = Buffer.alloc(length);
  const file = dir.openRequired(ghostImageName(ghost.id));
  for (const extent of ghost.extents) {
    const start = Math.max(position, extent.fileOffset);
    const end = Math.min(position + length, extent.fileOffset + extent.length);
    if (start >= end) continue;
    const data = file.readExact(extent.imageOffset + (start - extent.fileOffset), end - start);
    data.copy(out, start - position);
  }
  return out;
}
