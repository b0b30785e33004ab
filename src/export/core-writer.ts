/**
 * Streams an ELF core file to disk: header, program headers, notes, then the memory of every segment,
 * read a chunk at a time. Memory use is bounded by the chunk size (plus the headers and notes), never by
 * the size of the core.
 *
 * Layout (as Linux lays out its cores):
 *
 *   0                      ELF header
 *   64                     program headers: PT_NOTE, then one PT_LOAD per segment in address order
 *   64 + 56 * phnum        the notes
 *   next page boundary     segment data, back to back, each segment page-aligned
 *   end                    with PN_XNUM only: section header 0 (sh_info = the real program header count)
 *
 * Pages that are zero are never written: the file is created empty and such pages stay holes of the file
 * system (sparse), both for pages known to be zero (never touched) and for data pages that happen to be
 * all zero. The file's size is set at the end, so trailing zero pages cost nothing either.
 *
 * Cores with much data are written by a second thread (page-writer.ts) while the next chunk is read, which
 * on a fast disk makes the export about 1.5 times faster; memory stays bounded by a few chunks.
 */
import { ftruncateSync, writeSync } from 'node:fs';
import { DirectPageWriter, ThreadedPageWriter, type PageWriter } from './page-writer.js';
import {
  ELF_HEADER_SIZE,
  PROGRAM_HEADER_SIZE,
  PT_LOAD,
  PT_NOTE,
  encodeElfHeader,
  encodeExtendedNumberingSection,
  encodeNote,
  needsExtendedNumbering,
  noteSize,
  writeProgramHeader,
  type Note,
} from './elf.js';
import { runStepsAsync as runSlices } from '../steps.js';
/** Memory read per step. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

/** A part of a segment: `data` is read from the source, `zero` is known to be zero and not read. */
export interface SegmentPart {
  start: bigint;
  end: bigint;
  kind: 'data' | 'zero';
}

/** One PT_LOAD: a page-aligned address range whose every byte is in the file. */
export interface CoreSegment {
  start: bigint;
  end: bigint;
  /** PF_* flags. */
  flags: number;
  /** Cover [start, end) exactly, in order. */
  parts: SegmentPart[];
}

/** Reads memory for the writer: exactly `length` bytes at `address`, or throws. */
export type MemorySource = (address: bigint, length: number) => Buffer;

/** What to write. */
export interface CoreContents {
  machine: number;
  /** The process's page size in bytes: segments are aligned to it. */
  pageSize: number;
  notes: readonly Note[];
  segments: readonly CoreSegment[];
}

/** Where everything goes in the file. */
export interface CoreLayout {
  phnum: number;
  notesOffset: number;
  notesSize: number;
  dataOffset: bigint;
  /** File offset of each segment's data. */
  segmentOffsets: bigint[];
  /** Offset of section header 0 (PN_XNUM only), else 0. */
  shoff: bigint;
  fileSize: bigint;
  extendedNumbering: boolean;
}

function roundUp(value: bigint, to: bigint): bigint {
  return ((value + to - 1n) / to) * to;
}

/** Computes the file layout of `contents`. Throws on segments that are not page-aligned or out of order. */
export function layoutCore(contents: CoreContents): CoreLayout {
  const phnum = 1 + contents.segments.length;
  const notesOffset = ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE * phnum;
  const notesSize = contents.notes.reduce((sum, note) => sum + noteSize(note), 0);
  const PAGE = BigInt(contents.pageSize);
  const dataOffset = roundUp(BigInt(notesOffset + notesSize), PAGE);
  const segmentOffsets: bigint[] = [];
  let offset = dataOffset;
  let previousEnd = 0n;
  for (const segment of contents.segments) {
    if (segment.start % PAGE !== 0n || segment.end % PAGE !== 0n || segment.end <= segment.start) {
      throw new Error(`segment 0x${segment.start.toString(16)}-0x${segment.end.toString(16)} is not a non-empty page-aligned range`);
    }
    if (segment.start < previousEnd) throw new Error(`segment at 0x${segment.start.toString(16)} overlaps or is out of order`);
    previousEnd = segment.end;
    segmentOffsets.push(offset);
    offset += segment.end - segment.start;
  }
  const extendedNumbering = needsExtendedNumbering(phnum);
  const shoff = extendedNumbering ? offset : 0n;
  const fileSize = extendedNumbering ? offset + 64n : offset;
  return { phnum, notesOffset, notesSize, dataOffset, segmentOffsets, shoff, fileSize, extendedNumbering };
}

/** Header, program headers and notes: the first `dataOffset` bytes (without the padding). */
export function encodeCoreHead(contents: CoreContents, layout: CoreLayout): Buffer {
  const head = Buffer.alloc(layout.notesOffset + layout.notesSize);
  encodeElfHeader({ machine: contents.machine, phnum: layout.phnum, phoff: BigInt(ELF_HEADER_SIZE), shoff: layout.shoff }).copy(head, 0);
  writeProgramHeader(head, ELF_HEADER_SIZE, {
    type: PT_NOTE,
    flags: 0,
    offset: BigInt(layout.notesOffset),
    vaddr: 0n,
    filesz: BigInt(layout.notesSize),
    memsz: 0n,
    align: 4n,
  });
  contents.segments.forEach((segment, i) => {
    const size = segment.end - segment.start;
    writeProgramHeader(head, ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE * (i + 1), {
      type: PT_LOAD,
      flags: segment.flags,
      offset: layout.segmentOffsets[i]!,
      vaddr: segment.start,
      filesz: size,
      memsz: size,
      align: BigInt(contents.pageSize),
    });
  });
  let at = layout.notesOffset;
  for (const note of contents.notes) {
    const encoded = encodeNote(note);
    encoded.copy(head, at);
    at += encoded.length;
  }
  return head;
}

/** Progress of a write. */
export interface CoreProgress {
  /** Bytes of segment data handled so far (written or skipped as zero). */
  done: bigint;
  /** Bytes of segment data in total. */
  total: bigint;
}

/** What was written. */
export interface CoreWriteResult {
  layout: CoreLayout;
  /** Bytes actually written (headers, notes and non-zero pages). */
  writtenBytes: bigint;
}

function writeAll(fd: number, buffer: Buffer, offset: number, length: number, position: bigint): void {
  let done = 0;
  while (done < length) {
    const n = writeSync(fd, buffer, offset + done, length - done, Number(position) + done);
    if (n <= 0) throw new Error('write made no progress');
    done += n;
  }
}

/** Segment data from which the writer thread pays off (below it, starting the thread costs more). */
export const THREADED_WRITE_MIN_BYTES = 64n * 1024n * 1024n;

/**
 * Writes the core to `fd` (an empty file open for writing), yielding progress after every chunk of memory.
 * Drive it with {@link runSteps} (synchronously) or {@link runStepsAsync}.
 */
export function* writeCoreSteps(
  fd: number,
  contents: CoreContents,
  read: MemorySource,
  chunkBytes = DEFAULT_CHUNK_BYTES,
  options: { threaded?: boolean } = {},
): Generator<CoreProgress, CoreWriteResult> {
  if (chunkBytes <= 0 || chunkBytes % contents.pageSize !== 0) throw new Error('chunk size must be a positive multiple of the page size');
  const layout = layoutCore(contents);
  const head = encodeCoreHead(contents, layout);
  writeAll(fd, head, 0, head.length, 0n);
  const total = contents.segments.reduce((sum, s) => sum + (s.end - s.start), 0n);
  const dataBytes = contents.segments.reduce((sum, s) => sum + s.parts.reduce((n, p) => n + (p.kind === 'data' ? p.end - p.start : 0n), 0n), 0n);
  const threaded = options.threaded ?? dataBytes >= THREADED_WRITE_MIN_BYTES;
  const writer: PageWriter = threaded ? new ThreadedPageWriter(fd, chunkBytes) : new DirectPageWriter(fd);
  let done = 0n;
  let written: bigint;
  const chunk = BigInt(chunkBytes);
  try {
    for (const [i, segment] of contents.segments.entries()) {
      const base = layout.segmentOffsets[i]!;
      for (const part of segment.parts) {
        if (part.kind === 'zero') {
          done += part.end - part.start;
          continue;
        }
        for (let at = part.start; at < part.end; at += chunk) {
          const length = Number(part.end - at < chunk ? part.end - at : chunk);
          const data = read(at, length);
          if (data.length !== length) throw new Error(`memory source returned ${data.length} bytes for ${length} at 0x${at.toString(16)}`);
          writer.write(data, base + (at - segment.start));
          done += BigInt(length);
          yield { done, total };
        }
      }
    }
    written = BigInt(head.length) + writer.finish();
  } finally {
    writer.abort();
  }
  ftruncateSync(fd, Number(layout.fileSize));
  if (layout.extendedNumbering) {
    const section = encodeExtendedNumberingSection(layout.phnum);
    writeAll(fd, section, 0, section.length, layout.shoff);
    written += BigInt(section.length);
  }
  return { layout, writtenBytes: written };
}

export { runSteps } from '../steps.js';

/**
 * Runs a step generator to its end, giving the event loop a turn every `everyMs` milliseconds (so that a
 * server in the same process keeps answering) and reporting progress then; `signal` stops it.
 */
export function runStepsAsync<P, R>(steps: Generator<P, R>, onTurn?: (progress: P) => Promise<void> | void, everyMs = 50, signal?: AbortSignal): Promise<R> {
  return runSlices(steps, { onTurn, sliceMs: everyMs, signal });
}
