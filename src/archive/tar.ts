/**
 * Reading tar archives (POSIX ustar, pax and GNU formats), without extracting them.
 *
 * Two readers share one header decoder:
 * - {@link indexTar} walks the headers of a tar file (or of a byte range of a file: a tar inside a tar) with
 *   positioned reads and records where each member's data starts, so members can be read in place;
 * - {@link TarStreamParser} is fed a decompressed stream chunk by chunk and reports members and their data.
 *
 * Member names are normalized (`./` and empty components dropped). A name that is absolute or has a `..`
 * component is refused: the whole archive is rejected, because such a member can only be hostile.
 */
import { readSync } from 'node:fs';
import { checkBudget } from '../budget.js';
import { CheckpointError } from '../errors.js';

export const BLOCK = 512;

/** Most bytes of a pax extended header or GNU long name accepted. */
const MAX_META_BYTES = 1024 * 1024;

/** Kind of a tar member. */
export type MemberType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

/** One member of a tar archive. */
export interface TarMember {
  /** Normalized path: no leading `./` or `/`, no trailing `/`, no `.` or empty components. */
  name: string;
  type: MemberType;
  /** The type flag as written, e.g. `0`, `5`, `S`. */
  typeFlag: string;
  /** Bytes of data (0 for everything but regular files). */
  size: number;
  /** Permission bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Target of a symlink (as written) or of a hard link (normalized member name). */
  linkName: string;
  /** Offset of the member's data in the tar stream (relative to the start of the tar). */
  dataOffset: number;
}

/** The problem with an archive, as one line naming the archive. */
export class ArchiveError extends CheckpointError {}

const TYPES: Record<string, MemberType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** A header block as decoded, before pax and GNU long names are applied. */
interface RawHeader {
  name: string;
  typeFlag: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkName: string;
}

/** Overrides carried by pax extended headers and GNU long-name members. */
interface Pending {
  path?: string | undefined;
  linkPath?: string | undefined;
  size?: number | undefined;
  mtime?: number | undefined;
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** A numeric field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function numeric(block: Buffer, start: number, length: number, what: string, where: string): number {
  const field = block.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    if ((field[0]! & 0x40) !== 0) throw new ArchiveError(`${where}: negative ${what} in a tar header`);
    let value = BigInt(field[0]! & 0x7f);
    for (let i = 1; i < field.length; i++) value = (value << 8n) | BigInt(field[i]!);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArchiveError(`${where}: ${what} ${value} in a tar header is too large`);
    return Number(value);
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new ArchiveError(`${where}: ${what} ${JSON.stringify(text)} in a tar header is not an octal number`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw new ArchiveError(`${where}: ${what} in a tar header is too large`);
  return value;
}

function checksumOk(block: Buffer, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 0x100 : byte;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Whether `block` (the first 512 bytes of a file) looks like a tar header. */
export function looksLikeTar(block: Buffer): boolean {
  if (block.length < BLOCK || isZeroBlock(block)) return false;
  const magic = block.subarray(257, 263).toString('latin1');
  if (magic.startsWith('ustar')) return true;
  try {
    return checksumOk(block, numeric(block, 148, 8, 'checksum', 'archive'));
  } catch {
    return false;
  }
}

function decodeHeader(block: Buffer, where: string): RawHeader {
  const stored = numeric(block, 148, 8, 'checksum', where);
  if (!checksumOk(block, stored)) throw new ArchiveError(`${where}: tar header checksum does not match (damaged or not a tar archive)`);
  let name = cString(block, 0, 100);
  const magic = block.subarray(257, 263).toString('latin1');
  // POSIX ustar (not the old GNU format, which keeps other fields there) puts a name prefix at 345.
  if (magic === 'ustar\u0000') {
    const prefix = cString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return {
    name,
    typeFlag: String.fromCharCode(block[156]!),
    size: numeric(block, 124, 12, 'size', where),
    mode: numeric(block, 100, 8, 'mode', where) & 0o7777,
    uid: numeric(block, 108, 8, 'uid', where),
    gid: numeric(block, 116, 8, 'gid', where),
    mtime: numeric(block, 136, 12, 'mtime', where),
    linkName: cString(block, 157, 100),
  };
}

/** Parses pax extended header records (`LEN key=value\n`) into `pending`. */
function applyPax(data: Buffer, pending: Pending, where: string): void {
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > data.length) {
      throw new ArchiveError(`${where}: malformed pax extended header`);
    }
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) {
      const key = record.slice(0, eq);
      const value = record.slice(eq + 1);
      if (key === 'path') pending.path = value;
      else if (key === 'linkpath') pending.linkPath = value;
      else if (key === 'size') {
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new ArchiveError(`${where}: bad pax size ${JSON.stringify(value)}`);
        pending.size = Number(value);
      } else if (key === 'mtime') {
        const seconds = Number(value);
        if (Number.isFinite(seconds)) pending.mtime = seconds;
      }
    }
    at += length;
  }
}

/**
 * Normalizes a member name; throws for absolute names and names with `..` components.
 * Returns '' for the archive's top directory (`./`).
 */
export function normalizeMemberName(raw: string, where: string): string {
  if (raw.startsWith('/')) throw new ArchiveError(`${where}: member ${JSON.stringify(raw)} has an absolute path; refused`);
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new ArchiveError(`${where}: member ${JSON.stringify(raw)} has '..' in its path; refused`);
  return parts.join('/');
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Builds a member from a header and the pax/GNU overrides that precede it. */
function makeMember(header: RawHeader, pending: Pending, dataOffset: number, where: string): TarMember {
  const type = TYPES[header.typeFlag] ?? 'other';
  const size = pending.size ?? header.size;
  const rawLink = pending.linkPath ?? header.linkName;
  return {
    name: normalizeMemberName(pending.path ?? header.name, where),
    type,
    typeFlag: header.typeFlag,
    size: type === 'file' || type === 'other' ? size : 0,
    mode: header.mode,
    uid: header.uid,
    gid: header.gid,
    mtime: pending.mtime ?? header.mtime,
    linkName: type === 'hardlink' ? normalizeMemberName(rawLink, where) : rawLink,
    dataOffset,
  };
}

/** Whether a header is metadata for the next member (pax, GNU long names) rather than a member itself. */
function isMetaHeader(flag: string): boolean {
  return flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
}

function applyMeta(header: RawHeader, data: Buffer, pending: Pending, where: string): void {
  if (header.typeFlag === 'x') applyPax(data, pending, where);
  else if (header.typeFlag === 'L') pending.path = cString(data, 0, data.length);
  else if (header.typeFlag === 'K') pending.linkPath = cString(data, 0, data.length);
  // 'g' (global pax header) carries nothing this reader uses.
}

/** Reads up to `length` bytes at `position` of `fd`. */
function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/**
 * Indexes the tar that occupies `size` bytes of `fd` from `base` (the whole file, or a member of another
 * archive), with positioned reads of the headers only. `label` names the archive in errors.
 * Data offsets are relative to `base`.
 */
export function indexTar(fd: number, base: number, size: number, label: string): TarMember[] {
  const members: TarMember[] = [];
  let pending: Pending = {};
  let at = 0;
  while (at + BLOCK <= size) {
    const block = readAt(fd, base + at, BLOCK);
    const where = `${label} (at offset ${at})`;
    if (block.length < BLOCK) throw new ArchiveError(`${where}: archive ends inside a tar header`);
    if (isZeroBlock(block)) break;
    const header = decodeHeader(block, where);
    const dataOffset = at + BLOCK;
    if (isMetaHeader(header.typeFlag)) {
      if (header.size > MAX_META_BYTES) throw new ArchiveError(`${where}: extended header of ${header.size} bytes is too large`);
      if (dataOffset + header.size > size) throw new ArchiveError(`${where}: archive ends inside an extended header`);
      applyMeta(header, readAt(fd, base + dataOffset, header.size), pending, where);
      at = dataOffset + padded(header.size);
      continue;
    }
    const member = makeMember(header, pending, dataOffset, where);
    pending = {};
    const dataBytes = member.type === 'file' || member.type === 'other' ? member.size : 0;
    if (dataOffset + dataBytes > size) {
      throw new ArchiveError(`${where}: member ${JSON.stringify(member.name)} of ${dataBytes} bytes runs past the end of the archive`);
    }
    members.push(member);
    checkBudget('ARCHIVE_MEMBERS', members.length, `${label}: members`);
    at = dataOffset + padded(dataBytes);
  }
  return members;
}

/** What a {@link TarStreamParser} reports. */
export interface TarStreamHandler {
  /** A member begins. Return true to receive its data through {@link data}. */
  member(member: TarMember): boolean;
  /** A piece of the data of the member last accepted, in order. */
  data(chunk: Buffer): void;
  /** The data of the member last accepted is complete. */
  end(): void;
}

type StreamState = 'header' | 'meta' | 'data' | 'padding' | 'done';

/**
 * A push parser for a tar stream: feed decompressed bytes with {@link push}, in order, then call
 * {@link finish}. Keeps at most one header (or extended header) in memory; member data is passed through.
 */
export class TarStreamParser {
  private state: StreamState = 'header';
  private offset = 0;
  private pending: Pending = {};
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Bytes still to come in the current data/meta/padding section. */
  private left = 0;
  private metaHeader: RawHeader | undefined;
  private wanted = false;
  private padding = 0;
  private memberCount = 0;

  constructor(
    private readonly label: string,
    private readonly handler: TarStreamHandler,
  ) {}

  /** Whether the end-of-archive blocks have been seen. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** Offset in the tar stream of the next byte expected. */
  get position(): number {
    return this.offset;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, chunk.length - at);
        if (this.wanted && n > 0) this.handler.data(chunk.subarray(at, at + n));
        at += n;
        this.offset += n;
        this.left -= n;
        if (this.left === 0) this.endData();
        continue;
      }
      if (this.state === 'padding') {
        const n = Math.min(this.left, chunk.length - at);
        at += n;
        this.offset += n;
        this.left -= n;
        if (this.left === 0) this.state = 'header';
        continue;
      }
      // header or meta: collect a fixed number of bytes
      const need = this.state === 'header' ? BLOCK - this.bufferedBytes : this.left;
      const n = Math.min(need, chunk.length - at);
      this.buffered.push(chunk.subarray(at, at + n));
      this.bufferedBytes += n;
      at += n;
      this.offset += n;
      if (this.state === 'header') {
        if (this.bufferedBytes === BLOCK) this.onHeader(this.take());
      } else {
        this.left -= n;
        if (this.left === 0) this.onMeta(this.take());
      }
    }
  }

  /** Checks that the stream did not end inside a member. */
  finish(): void {
    if (this.state === 'done' || (this.state === 'header' && this.bufferedBytes === 0)) return;
    throw new ArchiveError(`${this.label}: archive ends inside a member (at offset ${this.offset})`);
  }

  private take(): Buffer {
    const data = this.buffered.length === 1 ? Buffer.from(this.buffered[0]!) : Buffer.concat(this.buffered);
    this.buffered = [];
    this.bufferedBytes = 0;
    return data;
  }

  private onHeader(block: Buffer): void {
    const headerOffset = this.offset - BLOCK;
    const where = `${this.label} (at offset ${headerOffset})`;
    if (isZeroBlock(block)) {
      this.state = 'done';
      return;
    }
    const header = decodeHeader(block, where);
    if (isMetaHeader(header.typeFlag)) {
      if (header.size > MAX_META_BYTES) throw new ArchiveError(`${where}: extended header of ${header.size} bytes is too large`);
      this.metaHeader = header;
      this.padding = padded(header.size) - header.size;
      if (header.size === 0) this.onMeta(Buffer.alloc(0));
      else {
        this.state = 'meta';
        this.left = header.size;
      }
      return;
    }
    const member = makeMember(header, this.pending, this.offset, where);
    this.pending = {};
    checkBudget('ARCHIVE_MEMBERS', ++this.memberCount, `${this.label}: members`);
    const dataBytes = member.type === 'file' || member.type === 'other' ? member.size : 0;
    this.wanted = this.handler.member(member);
    this.padding = padded(dataBytes) - dataBytes;
    this.left = dataBytes;
    if (dataBytes === 0) this.endData();
    else this.state = 'data';
  }

  private onMeta(data: Buffer): void {
    applyMeta(this.metaHeader!, data, this.pending, `${this.label} (at offset ${this.offset - data.length - BLOCK})`);
    this.metaHeader = undefined;
    this.startPadding();
  }

  private endData(): void {
    if (this.wanted) this.handler.end();
    this.wanted = false;
    this.startPadding();
  }

  private startPadding(): void {
    if (this.padding > 0) {
      this.state = 'padding';
      this.left = this.padding;
      this.padding = 0;
    } else this.state = 'header';
  }
}
