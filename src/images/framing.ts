import { budget, BudgetError, overBudget, type BudgetName } from '../budget.js';
import { ImageError } from '../errors.js';
import type { Decoded } from './fields.js';
import type { ImageDirectory, ImageFile } from './directory.js';
import { IMG_COMMON, IMG_SERVICE } from './magic.js';
import { decodeMessage as decodeWire } from './decode.js';
import { messageLayout, type MessageLayout } from './schema.js';

/** Largest single protobuf entry accepted, whatever the file size (CRIU's largest real entries are far below). */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

/** Checks an entry's raw payload (at `offset` of the image) before it is decoded; throws to refuse it. */
export type EntryGuard = (payload: Buffer, offset: number) => void;

/** One decoded entry and where it starts in its image. */
export interface Entry {
  message: Decoded;
  /** Offset of the entry's length prefix. */
  offset: number;
}

/** Bytes read at once by an {@link EntryReader}. */
const READ_AHEAD_BYTES = 64 * 1024;

/**
 * Reads the entries of one protobuf image: a magic header, then `u32 length + message` records to EOF.
 * Every length is checked against the bytes that remain before anything is allocated.
 */
export class EntryReader {
  private position: number;

  constructor(
    readonly file: ImageFile,
    magic: number,
  ) {
    this.position = readHeader(file, magic);
  }

  /** Bytes read ahead: images of many small entries cost one read per window, not two per entry. */
  private window: { start: number; data: Buffer } | undefined;

  /** `length` bytes at `offset`, from the read-ahead window when they are in it. */
  private read(offset: number, length: number): Buffer {
    const window = this.window;
    if (window && offset >= window.start && offset + length <= window.start + window.data.length) {
      return window.data.subarray(offset - window.start, offset - window.start + length);
    }
    if (length >= READ_AHEAD_BYTES) return this.file.readExact(offset, length);
    const data = this.file.readExact(offset, Math.min(READ_AHEAD_BYTES, this.file.size - offset));
    this.window = { start: offset, data };
    return data.subarray(0, length);
  }

  /** Offset of the next unread byte. */
  get offset(): number {
    return this.position;
  }

  /** Whether every byte has been consumed. */
  get atEnd(): boolean {
    return this.position >= this.file.size;
  }

  /**
   * Decodes the next entry as `typeName`, or returns undefined at the end of the file. `guard` sees the raw
   * payload first, to refuse claimed counts before the decoder allocates them.
   */
  next(typeName: string, guard?: EntryGuard): Entry | undefined {
    if (this.atEnd) return undefined;
    const offset = this.position;
    const left = this.file.size - offset;
    if (left < 4) throw new ImageError('truncated', this.file.label, offset, `ends inside an entry's length (${left} bytes left)`);
    const length = this.read(offset, 4).readUInt32LE(0);
    if (length > left - 4) {
      throw new ImageError('truncated', this.file.label, offset, `entry of ${length} bytes runs past the end of the file (${left - 4} bytes left)`);
    }
    if (length > MAX_ENTRY_BYTES) {
      throw new ImageError('too-large', this.file.label, offset, `entry of ${length} bytes exceeds the ${MAX_ENTRY_BYTES}-byte limit`);
    }
    const payload = this.read(offset + 4, length);
    this.position = offset + 4 + length;
    guard?.(payload, offset);
    return { message: decodeMessage(messageLayout(typeName), payload, this.file.label, offset), offset };
  }

  /** Decodes the next entry, which must exist. */
  required(typeName: string, guard?: EntryGuard): Entry {
    const entry = this.next(typeName, guard);
    if (!entry) throw new ImageError('truncated', this.file.label, this.position, `has no ${typeName} entry`);
    return entry;
  }

  /**
   * Decodes every remaining entry. With `cap`, entries beyond budget `cap` are refused as they are met
   * (a BudgetError naming the image and `what`), before they are decoded.
   */
  all(typeName: string, cap?: BudgetName, what = 'entries'): Entry[] {
    const entries: Entry[] = [];
    const guard = cap === undefined ? undefined : () => this.count(cap, what);
    for (let entry = this.next(typeName, guard); entry; entry = this.next(typeName, guard)) entries.push(entry);
    return entries;
  }

  private counted = 0;
  /** The cap in effect, read once per image (the environment is slow to read for every entry). */
  private cap: { name: BudgetName; limit: number } | undefined;

  /** Counts one more entry of this image against budget `cap`. */
  count(cap: BudgetName, what = 'entries'): void {
    if (this.cap?.name !== cap) this.cap = { name: cap, limit: budget(cap) };
    if (++this.counted > this.cap.limit) throw new BudgetError(overBudget(cap, this.counted, `${this.file.label}: ${what}`, this.cap.limit));
  }

  /**
   * Skips a raw blob that follows an entry (pipe data, socket queues, ghost file contents) and returns
   * its offset, so that callers can read it later with positioned reads.
   */
  skipBlob(length: number): number {
    const offset = this.position;
    if (length < 0 || length > this.file.size - offset) {
      throw new ImageError('truncated', this.file.label, offset, `blob of ${length} bytes runs past the end of the file`);
    }
    this.position += length;
    return offset;
  }
}

/** Checks the magic header and returns the offset of the first entry. */
export function readHeader(file: ImageFile, magic: number): number {
  if (file.size < 4) throw new ImageError('truncated', file.label, 0, 'is too short to hold a magic number');
  const first = file.readExact(0, 4).readUInt32LE(0);
  if (first === IMG_COMMON || first === IMG_SERVICE) {
    if (file.size < 8) throw new ImageError('truncated', file.label, 4, 'ends inside its header');
    const second = file.readExact(4, 4).readUInt32LE(0);
    if (second !== magic) throw new ImageError('bad-magic', file.label, 4, `has magic 0x${hex32(second)}, expected 0x${hex32(magic)}`);
    return 8;
  }
  // Inventory, and every image of format v1, carry only their own magic.
  if (first === magic) return 4;
  throw new ImageError('bad-magic', file.label, 0, `has magic 0x${hex32(first)}, expected 0x${hex32(magic)}`);
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** Decodes one protobuf payload, turning decoder failures into an ImageError. */
export function decodeMessage(layout: MessageLayout, payload: Uint8Array, image: string, offset: number): Decoded {
  try {
    return decodeWire(layout, payload);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new ImageError('bad-entry', image, offset, `${layout.name} does not decode: ${why}`);
  }
}

/** Opens `name` in `dir` and reads all its entries, or returns [] when the image is absent. */
export function readOptionalImage(dir: ImageDirectory, name: string, magic: number, typeName: string): Entry[] {
  const file = dir.tryOpen(name);
  return file ? new EntryReader(file, magic).all(typeName) : [];
}

/** Opens `name` in `dir`, which must exist, and reads all its entries. */
export function readImage(dir: ImageDirectory, name: string, magic: number, typeName: string): Entry[] {
  return new EntryReader(dir.openRequired(name), magic).all(typeName);
}

/** Reads the single entry of a one-entry image (core, mm, fs, ids, inventory). */
export function readSingleEntry(dir: ImageDirectory, name: string, magic: number, typeName: string, guard?: EntryGuard): Entry {
  return new EntryReader(dir.openRequired(name), magic).required(typeName, guard);
}
