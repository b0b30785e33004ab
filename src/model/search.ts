/**
 * Searching a process's memory for a byte pattern, exactly over the bytes the checkpoint holds.
 *
 * Every mapping is scanned in bounded chunks with a pattern-length overlap, so a match that straddles two
 * chunks is found once and no image is ever read whole. Unavailable bytes (lazy pages, vvar, missing files)
 * are never searched and a match never spans them. Untouched pages of anonymous memory are zero, so when the
 * pattern has a non-zero byte only the pages the pagemap lists (plus a pattern-length margin) are scanned.
 */
import { UsageError } from '../errors.js';
import { runSteps, type Steps } from '../steps.js';
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
/** Longest match of a regular expression (matches are cut there); also the overlap between chunks. */
export const DEFAULT_REGEX_MAX_MATCH = 4096;

/** How to search. */
export interface SearchOptions {
  /** Stop after this many matches (default {@link DEFAULT_SEARCH_LIMIT}). */
  limit?: number | undefined;
  /** Bytes of context before and after each match (default {@link DEFAULT_SEARCH_CONTEXT}). */
  context?: number | undefined;
  /** For a regular expression: the longest match (default {@link DEFAULT_REGEX_MAX_MATCH}). */
  maxMatch?: number | undefined;
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
  /** Length of the match in bytes (the pattern's length, or what the regular expression matched). */
  length: number;
}

interface Span {
  start: bigint;
  end: bigint;
}

/**
 * Finds `pattern` in the memory of `process`, in address order, up to `options.limit` matches.
 * Throws a UsageError for an empty or oversized pattern.
 */
export function searchMemory(process: ProcessModel, pattern: Buffer | RegExp, options: SearchOptions = {}): SearchMatch[] {
  return runSteps(searchMemorySteps(process, pattern, options));
}

/** {@link searchMemory} as steps: it yields after every chunk read and every mapping. */
export function* searchMemorySteps(process: ProcessModel, pattern: Buffer | RegExp, options: SearchOptions = {}): Steps<void, SearchMatch[]> {
  if (pattern instanceof RegExp) return yield* searchRegex(process, pattern, options);
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
    yield;
    if (mapping.unavailableReason) continue;
    const spans = spansToScan(process, mapping.start, mapping.end, pattern.length, !hasNonZero);
    for (const span of spans) {
      yield* scanSpan(span, pattern, (address) => {
        const before = address - mapping.start < BigInt(contextBytes) ? address - mapping.start : BigInt(contextBytes);
        const contextStart = address - before;
        const wanted = BigInt(contextBytes) + BigInt(pattern.length) + before;
        const length = contextStart + wanted > mapping.end ? mapping.end - contextStart : wanted;
        const part = availablePart(memory.read(contextStart, Number(length)), address);
        matches.push({ pid: process.pid, address, mappingName: mapping.name, contextStart: part.address, context: part.data, length: pattern.length });
        return matches.length < limit;
      }, (address, length) => memory.read(address, length));
      if (matches.length >= limit) return matches;
    }
  }
  return matches;
}

/**
 * The parts of [start, end) that can hold a match, so that a huge sparse mapping costs what its data costs:
 * the memory walker's spans less its unavailable ones (never searched), and less its zero ones unless the
 * pattern matches zeros (`withZeros`); without zeros, widened by the pattern length. Bytes that a pagemap
 * claims but the pages files do not hold are unavailable, so a claim of terabytes costs nothing.
 */
function spansToScan(process: ProcessModel, start: bigint, end: bigint, patternLength: number, withZeros: boolean): Span[] {
  const margin = withZeros ? 0n : BigInt(patternLength - 1);
  const spans: Span[] = [];
  for (const span of process.memory().spans(start, end)) {
    if (span.source.type === 'unavailable' || (span.source.type === 'zero' && !withZeros)) continue;
    const from = span.start - margin > start ? span.start - margin : start;
    const to = span.end + margin < end ? span.end + margin : end;
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
function* scanSpan(span: Span, pattern: Buffer, found: (address: bigint) => boolean, read: (address: bigint, length: number) => MemoryRead): Steps<void, boolean> {
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
    yield;
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

/**
 * Compiles a regular expression over bytes: memory is matched as Latin-1 text (one character per byte), so
 * `\\xNN` matches byte NN and `.` any byte but newline; a non-ASCII character of the pattern matches its
 * UTF-8 bytes (outside character classes). Throws a UsageError for an invalid expression.
 */
export function compileByteRegex(source: string, flags = ''): RegExp {
  if (source === '') throw new UsageError('the search pattern is empty');
  const bytes = source.replace(/[^\x00-\x7f]/gu, (char) => Buffer.from(char, 'utf8').toString('latin1').replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`));
  const allFlags = flags.replace(/[gyu]/g, '') + 'g';
  try {
    return new RegExp(bytes, allFlags);
  } catch (error) {
    // JavaScript says `Invalid regular expression: /SOURCE/FLAGS: REASON`: keep the reason, show the user's pattern.
    const message = error instanceof Error ? error.message : String(error);
    const prefix = `Invalid regular expression: /${bytes}/${allFlags}: `;
    const reason = message.startsWith(prefix) ? message.slice(prefix.length) : message.slice(message.lastIndexOf(': ') + 2);
    throw new UsageError(`not a valid regular expression '${source}': ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`);
  }
}

/**
 * Regular-expression search, chunk by chunk like the byte search. Each stretch of available bytes is
 * matched with the last `maxMatch - 1` bytes of the previous chunk in front; a match is reported by the
 * chunk in which it starts before that tail, so it is found once, and never spans unavailable bytes.
 */
function* searchRegex(process: ProcessModel, regex: RegExp, options: SearchOptions): Steps<void, SearchMatch[]> {
  const limit = options.limit ?? DEFAULT_SEARCH_LIMIT;
  const contextBytes = options.context ?? DEFAULT_SEARCH_CONTEXT;
  const maxMatch = options.maxMatch ?? DEFAULT_REGEX_MAX_MATCH;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new UsageError('the match limit must be a non-negative integer');
  if (!Number.isSafeInteger(contextBytes) || contextBytes < 0 || contextBytes > 4096) throw new UsageError('the context must be 0 to 4096 bytes');
  if (!Number.isSafeInteger(maxMatch) || maxMatch < 1 || maxMatch > MAX_PATTERN_BYTES) throw new UsageError(`the longest match must be 1 to ${MAX_PATTERN_BYTES} bytes`);
  const global = new RegExp(regex.source, regex.flags.includes('g') ? regex.flags : `${regex.flags}g`);
  const matches: SearchMatch[] = [];
  if (limit === 0) return matches;
  const memory = process.memory();
  // When the expression cannot match zeros alone (an empty match is no match), only pages near data can.
  global.lastIndex = 0;
  const zeros = '\0'.repeat(Math.min(2 * maxMatch, 16384));
  let matchesZeros = false;
  for (let found = global.exec(zeros); found && !matchesZeros; found = global.exec(zeros)) {
    if (found[0].length > 0) matchesZeros = true;
    else global.lastIndex = found.index + 1;
  }
  for (const mapping of process.mappings()) {
    yield;
    if (mapping.unavailableReason) continue;
    const spans = spansToScan(process, mapping.start, mapping.end, maxMatch, matchesZeros);
    for (const span of spans) {
      let carry = Buffer.alloc(0);
      let carryEnd = -1n;
      let resumeAt = -1n; // no match may start before the end of the last one
      const flush = (joined: Buffer, base: bigint, final: boolean): boolean => {
        const text = joined.toString('latin1');
        const ownedEnd = final ? joined.length : Math.max(0, joined.length - (maxMatch - 1));
        global.lastIndex = resumeAt > base ? Number(resumeAt - base) : 0;
        for (let found = global.exec(text); found; found = global.exec(text)) {
          if (found.index >= ownedEnd) break;
          const length = Math.min(found[0].length, maxMatch);
          if (length === 0) {
            global.lastIndex = found.index + 1;
            continue;
          }
          const address = base + BigInt(found.index);
          resumeAt = address + BigInt(length);
          const before = address - mapping.start < BigInt(contextBytes) ? address - mapping.start : BigInt(contextBytes);
          const contextStart = address - before;
          const wanted = before + BigInt(length) + BigInt(contextBytes);
          const size = contextStart + wanted > mapping.end ? mapping.end - contextStart : wanted;
          const part = availablePart(memory.read(contextStart, Number(size)), address);
          matches.push({ pid: process.pid, address, mappingName: mapping.name, contextStart: part.address, context: part.data, length });
          if (matches.length >= limit) return false;
          global.lastIndex = found.index + length;
        }
        return true;
      };
      for (let cursor = span.start; cursor < span.end; ) {
        const length = span.end - cursor > BigInt(SEARCH_CHUNK_BYTES) ? SEARCH_CHUNK_BYTES : Number(span.end - cursor);
        const chunk = memory.read(cursor, length);
        cursor += BigInt(length);
        const pieces = availablePieces(chunk);
        for (const [i, piece] of pieces.entries()) {
          const contiguous = carryEnd === piece.address && carry.length > 0;
          const joined = contiguous ? Buffer.concat([carry, piece.data]) : piece.data;
          const base = piece.address - BigInt(joined.length - piece.data.length);
          const pieceEnd = piece.address + BigInt(piece.data.length);
          // The stretch ends here when an unavailable gap follows or the span ends.
          const final = i < pieces.length - 1 || pieceEnd < cursor || cursor >= span.end;
          if (!flush(joined, base, final)) return matches;
          const keep = final ? 0 : Math.min(maxMatch - 1, joined.length);
          carry = Buffer.from(joined.subarray(joined.length - keep));
          carryEnd = pieceEnd;
        }
        yield;
      }
    }
  }
  return matches;
}
