/**
 * The memory of one process exactly as CRIU's restore would lay it out, from one walker: {@link
 * MemoryReader.spans} splits any range into spans, each with the source of its bytes (this checkpoint's
 * pages, a parent checkpoint's, a shared memory object's, zero, a file, or unavailable and why). The byte
 * reader, the core export's plan and the page counts of `maps` and `info` are all made from those spans,
 * so they agree by construction. Walking reads only pagemaps and file sizes, never page data.
 */
import { isTolerable } from '../budget.js';
import { LookupError } from '../errors.js';
import type { ImageDirectory, ImageFile } from '../images/directory.js';
import { PE_LAZY, PE_PARENT, PE_PRESENT, PagemapIndex } from '../images/pagemap.js';
import type { ContentSource } from './backing-file.js';

/** Bytes that a read could not supply, and why. */
export interface UnavailableRange {
  start: bigint;
  /** One past the last unavailable byte. */
  end: bigint;
  reason: string;
}

/** The result of {@link MemoryReader.read}: `data` has the requested length; `unavailable` lists the bytes it does not really hold. */
export interface MemoryRead {
  address: bigint;
  /** Requested bytes. Bytes inside an unavailable range are zero-filled placeholders, never data. */
  data: Buffer;
  unavailable: UnavailableRange[];
}

/** What fills pages that no pagemap lists. */
export type HoleContent =
  | { type: 'zero' }
  | { type: 'file'; source: ContentSource; /** file offset of the region's start */ offset: bigint }
  /** A shared memory object's pages (a private memfd mapping's untouched pages); `offset` as for `file`. */
  | { type: 'shmem'; image: string; offset: bigint }
  | { type: 'unavailable'; reason: string };

/** Where a mapped region's bytes come from. */
export type RegionContent =
  /** Private memory: the process's own pagemap (and its parent chain), then `holes`. */
  | { type: 'private'; holes: HoleContent }
  /** Shared memory object: pagemap-shmem-ID.img; `offset` is the object offset of the region's start. Holes are zero. */
  | { type: 'shmem'; image: string; offset: bigint }
  /** A shared file mapping: the file itself. */
  | { type: 'file'; source: ContentSource; offset: bigint }
  | { type: 'unavailable'; reason: string };

/** One mapping as the memory reader needs it. */
export interface MemoryRegion {
  start: bigint;
  end: bigint;
  content: RegionContent;
  /**
   * Guard pages (MADV_GUARD_INSTALL), which CRIU records as an extra entry over the real mapping: not a
   * mapping of their own, they make the bytes they cover unreadable.
   */
  guard?: boolean;
}

/** Why guard pages have no bytes. */
export const GUARD_PAGES_REASON = 'guard pages (MADV_GUARD_INSTALL): reading them faults';

/** Where the bytes of a span come from. */
export type SpanSource =
  /** This checkpoint's pages file, from byte `position`. */
  | { type: 'pages'; pages: ImageFile; position: number }
  /** The pages file of a shared memory object (pagemap-shmem-ID.img) of this checkpoint, from `position`. */
  | { type: 'shmem'; pages: ImageFile; position: number }
  /** The pages file of a parent checkpoint (incremental dumps), `depth` steps down the chain. */
  | { type: 'parent'; pages: ImageFile; position: number; depth: number }
  /** Pages never touched: zero, without reading anything. */
  | { type: 'zero' }
  /** A file from byte `position`; past its end, up to the end of its last page, zero (as the kernel maps it). */
  | { type: 'file'; content: ContentSource; position: bigint }
  /** Bytes the checkpoint does not hold; `lazy` for pages left on a page server. */
  | { type: 'unavailable'; reason: string; lazy?: boolean | undefined };

/** A byte range and where its content comes from. */
export interface MemorySpan {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  source: SpanSource;
}

/** Largest single read, to bound allocation (gdb and the CLI read far less). */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

/** The reason given for addresses outside every region. */
const NOT_MAPPED = 'not mapped';

/** Whether `next` continues `last` seamlessly: same source, and for data the next bytes of it. */
function continues(last: MemorySpan, next: MemorySpan): boolean {
  const a = last.source;
  const b = next.source;
  if (last.end !== next.start || a.type !== b.type) return false;
  const length = last.end - last.start;
  switch (a.type) {
    case 'zero':
      return true;
    case 'unavailable':
      return b.type === 'unavailable' && a.reason === b.reason && a.lazy === b.lazy;
    case 'file':
      return b.type === 'file' && a.content === b.content && a.position + length === b.position;
    case 'pages':
    case 'shmem':
    case 'parent':
      return 'pages' in b && a.pages === b.pages && a.position + Number(length) === b.position;
  }
}

/** Collects spans in address order, merging a span into the previous one when it continues it. */
class SpanList {
  readonly spans: MemorySpan[] = [];

  add(start: bigint, end: bigint, source: SpanSource): void {
    if (end <= start) return;
    const span = { start, end, source };
    const last = this.spans[this.spans.length - 1];
    if (last && continues(last, span)) last.end = end;
    else this.spans.push(span);
  }

  unavailable(start: bigint, end: bigint, reason: string, lazy?: boolean): void {
    this.add(start, end, lazy ? { type: 'unavailable', reason, lazy } : { type: 'unavailable', reason });
  }
}

/** The source of `span`'s bytes from `address` on. */
function shiftedSource(span: MemorySpan, address: bigint): SpanSource {
  const source = span.source;
  const skip = address - span.start;
  switch (source.type) {
    case 'zero':
    case 'unavailable':
      return source;
    case 'file':
      return { ...source, position: source.position + skip };
    case 'pages':
    case 'shmem':
    case 'parent':
      return { ...source, position: source.position + Number(skip) };
  }
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value;
}

/**
 * Memory of one process exactly as CRIU's restore would lay it out. It never invents data: every byte it
 * cannot source from the images, the parent chain or the backing files is reported unavailable.
 */
export class MemoryReader {
  private readonly regions: readonly MemoryRegion[];
  /** Guard ranges, in address order; never found by {@link regionAt}. */
  private readonly guards: readonly MemoryRegion[];
  /** Pagemaps by label: the index, null when absent, or why it is damaged. */
  private readonly pagemaps = new Map<string, PagemapIndex | null | string>();

  constructor(
    /** The checkpoint's images directory. */
    readonly directory: ImageDirectory,
    /** Pagemap image of this process, e.g. `pagemap-42.img`. */
    private readonly pagemapImage: string,
    regions: readonly MemoryRegion[],
    /** The checkpoint's page size in bytes (Checkpoint.pageSize): the unit of the pagemaps. */
    readonly pageBytes: number,
    /** Told once of each damaged pagemap (its one-line problem); the memory it covers is unavailable. */
    private readonly onDamaged?: (problem: string) => void,
  ) {
    const byStart = (a: MemoryRegion, b: MemoryRegion): number => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);
    this.regions = regions.filter((region) => !region.guard).sort(byStart);
    this.guards = regions.filter((region) => region.guard).sort(byStart);
  }

  /** Pagemap `name` in `dir`, cached; undefined when absent; the problem when it is damaged. */
  private pagemap(dir: ImageDirectory, name: string): PagemapIndex | undefined | string {
    const key = `${dir.labelPrefix}${name}`;
    let index = this.pagemaps.get(key);
    if (index === undefined) {
      try {
        index = PagemapIndex.read(dir, name, this.pageBytes) ?? null;
      } catch (error) {
        // A damaged pagemap costs the memory it describes, not the whole checkpoint (budgets still stop).
        if (!isTolerable(error)) throw error;
        index = error.message;
        this.onDamaged?.(`${index}; the memory it describes is unavailable`);
      }
      this.pagemaps.set(key, index);
    }
    return index ?? undefined;
  }

  /**
   * The pages files of this process's pagemap, here and in the parent checkpoints, that are cut short:
   * each with the number of present pages it does not hold.
   */
  truncatedPageFiles(): { pages: string; missingPages: number }[] {
    const found: { pages: string; missingPages: number }[] = [];
    for (let dir: ImageDirectory | null = this.directory; dir; dir = dir.parent()) {
      const index = this.pagemap(dir, this.pagemapImage);
      if (typeof index === 'object' && index.pages && index.pagesCutOff > 0) found.push({ pages: index.pages.label, missingPages: index.pagesCutOff });
    }
    return found;
  }

  /** Reads this process's pagemap now, so that a damaged one is reported at once (see `onDamaged`). */
  checkPagemap(): void {
    this.pagemap(this.directory, this.pagemapImage);
  }

  /** The region containing `address`, by binary search. */
  regionAt(address: bigint): MemoryRegion | undefined {
    let low = 0;
    let high = this.regions.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const region = this.regions[middle]!;
      if (address < region.start) high = middle - 1;
      else if (address >= region.end) low = middle + 1;
      else return region;
    }
    return undefined;
  }

  private nextRegionAfter(address: bigint): MemoryRegion | undefined {
    return this.regions.find((region) => region.start > address);
  }

  /** The spans of [from, to), in address order, covering it exactly; addresses outside every region are `not mapped`. */
  spans(from: bigint, to: bigint): MemorySpan[] {
    const out = new SpanList();
    let cursor = from;
    while (cursor < to) {
      const region = this.regionAt(cursor);
      if (!region) {
        const next = this.nextRegionAfter(cursor);
        const stop = next && next.start < to ? next.start : to;
        out.unavailable(cursor, stop, NOT_MAPPED);
        cursor = stop;
        continue;
      }
      const stop = region.end < to ? region.end : to;
      this.walkRegion(out, region, cursor, stop);
      cursor = stop;
    }
    return this.guards.length === 0 ? out.spans : this.withGuardHoles(out.spans);
  }

  /** `spans` with the bytes under guard ranges made unavailable as guard pages. */
  private withGuardHoles(spans: readonly MemorySpan[]): MemorySpan[] {
    const out = new SpanList();
    for (const span of spans) {
      let cursor = span.start;
      for (const guard of this.guards) {
        if (guard.end <= cursor || guard.start >= span.end) continue;
        const from = guard.start > cursor ? guard.start : cursor;
        const to = guard.end < span.end ? guard.end : span.end;
        out.add(cursor, from, shiftedSource(span, cursor));
        out.unavailable(from, to, GUARD_PAGES_REASON);
        cursor = to;
      }
      out.add(cursor, span.end, shiftedSource(span, cursor));
    }
    return out.spans;
  }

  /** The spans of [from, to) of `region` itself (which need not be the region {@link regionAt} finds there). */
  regionSpans(region: MemoryRegion, from: bigint, to: bigint): MemorySpan[] {
    const out = new SpanList();
    this.walkRegion(out, region, from, to);
    return out.spans;
  }

  private walkRegion(out: SpanList, region: MemoryRegion, from: bigint, to: bigint): void {
    const { content } = region;
    switch (content.type) {
      case 'unavailable':
        out.unavailable(from, to, content.reason);
        return;
      case 'file':
        walkFile(out, content.source, content.offset + (from - region.start), from, to, this.pageBytes);
        return;
      case 'shmem':
        this.walkPagemap(out, this.directory, content.image, content.offset - region.start, from, to, { type: 'zero' }, 'shmem', 0);
        return;
      case 'private': {
        const holes = content.holes.type === 'file' || content.holes.type === 'shmem' ? { ...content.holes, offset: content.holes.offset - region.start } : content.holes;
        this.walkPagemap(out, this.directory, this.pagemapImage, 0n, from, to, holes, 'pages', 0);
      }
    }
  }

  /**
   * [from, to) from pagemap `image` in `dir`, whose keys are `address + delta`. Pages in no run take
   * `holes` (a `file` hole's offset is relative to the address: file offset = address + offset); PE_PARENT
   * runs continue in the parent directory, whose chain ImageDirectory.parent bounds.
   */
  private walkPagemap(
    out: SpanList,
    dir: ImageDirectory,
    image: string,
    delta: bigint,
    from: bigint,
    to: bigint,
    holes: HoleContent,
    kind: 'pages' | 'shmem',
    depth: number,
  ): void {
    const index = this.pagemap(dir, image);
    if (typeof index === 'string') {
      out.unavailable(from, to, index);
      return;
    }
    if (!index) {
      out.unavailable(from, to, `${dir.labelPrefix}${image} is missing`);
      return;
    }
    let cursor = from;
    for (const run of index.runsIn(from + delta, to + delta)) {
      const runStart = run.start - delta < cursor ? cursor : run.start - delta;
      const runEnd = run.end - delta < to ? run.end - delta : to;
      this.walkHole(out, holes, cursor, runStart);
      if (run.flags & PE_PRESENT) {
        const position = run.dataOffset + Number(runStart + delta - run.start);
        // Only whole pages of a short pages file are data.
        const page = BigInt(this.pageBytes);
        const wholePages = index.pages ? (BigInt(index.pages.size) / page) * page : 0n;
        const whole = clamp(wholePages - BigInt(position), 0n, runEnd - runStart);
        if (index.pages && whole > 0n) {
          const pages = index.pages;
          out.add(runStart, runStart + whole, depth > 0 ? { type: 'parent', pages, position, depth } : { type: kind, pages, position });
        }
        out.unavailable(runStart + whole, runEnd, index.pagesProblem ?? `${index.image}: page data is missing`);
      } else if (run.flags & PE_PARENT) {
        const parent = dir.parent();
        if (!parent) out.unavailable(runStart, runEnd, `${index.image} says the pages are in the parent images, but there is no parent`);
        else this.walkPagemap(out, parent, image, delta, runStart, runEnd, { type: 'unavailable', reason: `missing from ${parent.labelPrefix}${image}` }, kind, depth + 1);
      } else if (run.flags & PE_LAZY) {
        out.unavailable(runStart, runEnd, 'lazy pages are not in the images', true);
      } else {
        out.unavailable(runStart, runEnd, `${index.image}: run has no data (flags ${run.flags})`);
      }
      cursor = runEnd;
    }
    this.walkHole(out, holes, cursor, to);
  }

  /** Pages in no run of a pagemap: `holes`, a shared memory object's pagemap for a `shmem` hole. */
  private walkHole(out: SpanList, holes: HoleContent, from: bigint, to: bigint): void {
    if (holes.type === 'shmem') {
      if (to > from) this.walkPagemap(out, this.directory, holes.image, holes.offset, from, to, { type: 'zero' }, 'shmem', 0);
    } else walkHole(out, holes, from, to, this.pageBytes);
  }

  /** Reads `length` bytes at `address`, reporting exactly which of them the checkpoint does not hold. */
  read(address: bigint, length: number): MemoryRead {
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_READ_BYTES) {
      throw new LookupError(`cannot read ${length} bytes: reads are limited to ${MAX_READ_BYTES} bytes`);
    }
    const result: MemoryRead = { address, data: Buffer.alloc(length), unavailable: [] };
    for (const span of this.spans(address, address + BigInt(length))) fillSpan(result, span);
    return result;
  }

  /** The bytes at `address` up to the first unavailable one (possibly none), as gdb's `m` packet wants. */
  readAvailable(address: bigint, length: number): Buffer {
    const { data, unavailable } = this.read(address, length);
    const first = unavailable[0];
    return first ? data.subarray(0, Number(first.start - address)) : data;
  }

  /** Reads bytes that must all be available, or throws a LookupError naming the first gap. */
  readExact(address: bigint, length: number): Buffer {
    const { data, unavailable } = this.read(address, length);
    const first = unavailable[0];
    if (first) throw new LookupError(`memory at 0x${first.start.toString(16)} is unavailable: ${first.reason}`);
    return data;
  }
}

function walkHole(out: SpanList, holes: Exclude<HoleContent, { type: 'shmem' }>, from: bigint, to: bigint, pageBytes: number): void {
  if (to <= from) return;
  if (holes.type === 'zero') out.add(from, to, { type: 'zero' });
  else if (holes.type === 'unavailable') out.unavailable(from, to, holes.reason);
  else walkFile(out, holes.source, from + holes.offset, from, to, pageBytes);
}

/** [from, to) read from `content` at `position`: the file's bytes and the zero tail of its last page, then a fault. */
function walkFile(out: SpanList, content: ContentSource, position: bigint, from: bigint, to: bigint, pageBytes: number): void {
  const size = content.size();
  if (size === undefined) {
    out.unavailable(from, to, content.problem() ?? `${content.label} is unavailable`);
    return;
  }
  const page = BigInt(pageBytes);
  const pageEnd = ((BigInt(size) + page - 1n) / page) * page;
  const mapped = clamp(pageEnd - position, 0n, to - from);
  out.add(from, from + mapped, { type: 'file', content, position });
  out.unavailable(from + mapped, to, `${content.label}: beyond the end of the mapped file`);
}

/** Copies the bytes of one span into `out` (zero spans are already zero). */
function fillSpan(out: MemoryRead, span: MemorySpan): void {
  const at = Number(span.start - out.address);
  const length = Number(span.end - span.start);
  const { source } = span;
  switch (source.type) {
    case 'zero':
      return;
    case 'unavailable':
      addUnavailable(out, span.start, span.end, source.reason);
      return;
    case 'pages':
    case 'shmem':
    case 'parent':
      source.pages.readInto(out.data, at, length, source.position);
      return;
    case 'file': {
      const readable = Number(clamp(BigInt(source.content.size() ?? 0) - source.position, 0n, BigInt(length)));
      if (readable === 0) return;
      const got = source.content.readInto(out.data, at, readable, Number(source.position));
      if (got < readable) addUnavailable(out, span.start + BigInt(got), span.start + BigInt(readable), `${source.content.label} is shorter than expected`);
    }
  }
}

function addUnavailable(out: MemoryRead, start: bigint, end: bigint, reason: string): void {
  if (start >= end) return;
  const last = out.unavailable[out.unavailable.length - 1];
  if (last && last.end === start && last.reason === reason) last.end = end;
  else out.unavailable.push({ start, end, reason });
}
