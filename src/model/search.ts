/**
 * Searching a process's memory for a byte pattern, exactly over the bytes the checkpoint holds.
 *
 * Every mapping is scanned in bounded chunks with a pattern-length overlap, so a match that straddles two
 * chunks is found once and no image is ever read whole. Unavailable bytes (lazy pages, vvar, missing files)
 * are never searched and a match never spans them. Untouched pages of anonymous memory are zero, so when the
 * pattern has a non-zero byte only the pages the pagemap lists (plus a pattern-length margin) are scanned.
 */
import { UsageError } from '../errors.js';
import type { MemoryRead } from './memory.js';
import type { ProcessModel } from './process.js';

/** Bytes read per step. */
export const SEARCH_CHUNK_BYTES = 1024 * 1024;
/** Longest pattern accepted. */
export const MAX_PATTERN_BYTES = 64 * 1024;
/** Matches returned when no limit is given. */
export const DEFAULT_SEARCH_LIMIT = 100;
/** Bytes of context on each side of a match when none is given. */
export const DEFAULT_SEARCH_CONTEXT = 16;

/** How to search. */
export interface SearchOptions {
  /** Stop after this many matches (default {@link DEFAULT_SEARCH_LIMIT}). */
  limit?: number | undefined;
  /** Bytes of context before and after each match (default {@link DEFAULT_SEARCH_CONTEXT}). */
  context?: number | undefined;
}

/** One match. */
export interface SearchMatch {
  pid: number;
  /** Address of the first byte of the match. */
  address: bigint;
  /** The name /proc/PID/maps shows for the mapping that holds the match. */
  mappingName: string;
  /** Address of `context[0]`. */
  contextStart: bigint;
  /** The match with up to `context` available bytes on each side, clipped to the mapping. */
  context: Buffer;
}

interface Span {
  start: bigint;
  end: bigint;
}

/**
 * Finds `pattern` in the memory of `process`, in address order, up to `options.limit` matches.
 * Throws a UsageError for an empty or oversized pattern.
 */
export function searchMemory(process: ProcessModel, pattern: Buffer, options: SearchOptions = {}): SearchMatch[] {
  if (pattern.length === 0) throw new UsageError('the search pattern is empty');
  if (pattern.length > MAX_PATTERN_BYTES) throw new UsageError(`the search pattern is limited to ${MAX_PATTERN_BYTES} bytes`);
  const limit = options.limit ?? DEFAULT_SEARCH_LIMIT;
  const contextBytes = options.context ?? DEFAULT_SEARCH_CONTEXT;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new UsageError('the match limit must be a non-negative integer');
  if (!Number.isSafeInteger(contextBytes) || contextBytes < 0 || contextBytes > 4096) throw new UsageError('the context must be 0 to 4096 bytes');
  const matches: SearchMatch[] = [];
  if (limit === 0) return matches;
  const memory = process.memory();
  const hasNonZero = pattern.some((byte) => byte !== 0);
  for (const mapping of process.mappings()) {
    if (mapping.unavailableReason) continue;
    const spans = hasNonZero ? spansToScan(process, mapping.start, mapping.end, pattern.length) : [{ start: mapping.start, end: mapping.end }];
    for (const span of spans) {
      scanSpan(span, pattern, (address) => {
        const before = address - mapping.start < BigInt(contextBytes) ? address - mapping.start : BigInt(contextBytes);
        const contextStart = address - before;
        const wanted = BigInt(contextBytes) + BigInt(pattern.length) + before;
        const length = contextStart + wanted > mapping.end ? mapping.end - contextStart : wanted;
        const part = availablePart(memory.read(contextStart, Number(length)), address);
        matches.push({ pid: process.pid, address, mappingName: mapping.name, contextStart: part.address, context: part.data });
        return matches.length < limit;
      }, (address, length) => memory.read(address, length));
      if (matches.length >= limit) return matches;
    }
  }
  return matches;
}

/**
 * The parts of [start, end) that can hold a non-zero byte, widened by the pattern length: for anonymous
 * private memory, the pagemap runs (holes are zero); for anything else, the whole range.
 */
function spansToScan(process: ProcessModel, start: bigint, end: bigint, patternLength: number): Span[] {
  const memory = process.memory();
  const region = memory.regionAt(start);
  if (!region || region.content.type !== 'private' || region.content.holes.type !== 'zero') return [{ start, end }];
  const index = memory.ownPagemap();
  if (!index) return [{ start, end }]; // the read reports the missing pagemap as unavailable
  const margin = BigInt(patternLength - 1);
  const spans: Span[] = [];
  for (const run of index.runsIn(start, end)) {
    const from = run.start - margin > start ? run.start - margin : start;
    const to = run.end + margin < end ? run.end + margin : end;
    const last = spans[spans.length - 1];
    if (last && from <= last.end) last.end = to > last.end ? to : last.end;
    else spans.push({ start: from, end: to });
  }
  return spans;
}

/**
 * Scans [span.start, span.end) chunk by chunk. Bytes before the first unavailable byte of each stretch are
 * searched together with the tail (pattern length - 1 bytes) of the previous contiguous stretch.
 * `found` returns false to stop.
 */
function scanSpan(span: Span, pattern: Buffer, found: (address: bigint) => boolean, read: (address: bigint, length: number) => MemoryRead): boolean {
  let carry = Buffer.alloc(0);
  let carryEnd = -1n; // address just past `carry`
  for (let cursor = span.start; cursor < span.end; ) {
    const length = span.end - cursor > BigInt(SEARCH_CHUNK_BYTES) ? SEARCH_CHUNK_BYTES : Number(span.end - cursor);
    const chunk = read(cursor, length);
    for (const piece of availablePieces(chunk)) {
      const joined = carryEnd === piece.address && carry.length > 0 ? Buffer.concat([carry, piece.data]) : piece.data;
      const base = piece.address - BigInt(joined.length - piece.data.length);
      for (let at = joined.indexOf(pattern); at >= 0; at = joined.indexOf(pattern, at + 1)) {
        if (!found(base + BigInt(at))) return false;
      }
      const keep = Math.min(pattern.length - 1, joined.length);
      carry = Buffer.from(joined.subarray(joined.length - keep));
      carryEnd = piece.address + BigInt(piece.data.length);
    }
    cursor += BigInt(length);
  }
  return true;
}

/** The available stretches of a read, in order. */
function availablePieces(read: MemoryRead): Array<{ address: bigint; data: Buffer }> {
  const pieces: Array<{ address: bigint; data: Buffer }> = [];
  let cursor = read.address;
  const end = read.address + BigInt(read.data.length);
  const take = (from: bigint, to: bigint): void => {
    if (to > from) pieces.push({ address: from, data: read.data.subarray(Number(from - read.address), Number(to - read.address)) });
  };
  for (const gap of read.unavailable) {
    take(cursor, gap.start);
    cursor = gap.end;
  }
  take(cursor, end);
  return pieces;
}

/** The stretch of `read` that contains `address` and has no unavailable byte. */
function availablePart(read: MemoryRead, address: bigint): { address: bigint; data: Buffer } {
  for (const piece of availablePieces(read)) {
    if (address >= piece.address && address < piece.address + BigInt(piece.data.length)) return { address: piece.address, data: Buffer.from(piece.data) };
  }
  return { address, data: Buffer.alloc(0) };
}
