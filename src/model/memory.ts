import { LookupError } from '../errors.js';
import type { ImageDirectory } from '../images/directory.js';
import type { ContentSource } from './backing-file.js';
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT, PagemapIndex } from '../images/pagemap.js';

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
}

/** Largest single read, to bound allocation (gdb and the CLI read far less). */
export const MAX_READ_BYTES = 256 * 1024 * 1024;

/**
 * Memory of one process exactly as CRIU's restore would lay it out. It never invents data: every byte it
 * cannot source from the images, the parent chain or the backing files is reported unavailable.
 */
export class MemoryReader {
  private readonly regions: readonly MemoryRegion[];
  private readonly pagemaps = new Map<string, PagemapIndex | null>();

  constructor(
    /** The checkpoint's images directory. */
    readonly directory: ImageDirectory,
    /** Pagemap image of this process, e.g. `pagemap-42.img`. */
    private readonly pagemapImage: string,
    regions: readonly MemoryRegion[],
  ) {
    this.regions = [...regions].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** The process's own pagemap index (loaded on first use). */
  ownPagemap(): PagemapIndex | undefined {
    return this.pagemap(this.directory, this.pagemapImage);
  }

  /** Pagemap `name` in `dir`, cached; undefined when absent. */
  pagemap(dir: ImageDirectory, name: string): PagemapIndex | undefined {
    const key = `${dir.labelPrefix}${name}`;
    let index = this.pagemaps.get(key);
    if (index === undefined) {
      index = PagemapIndex.read(dir, name) ?? null;
      this.pagemaps.set(key, index);
    }
    return index ?? undefined;
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

  /** Reads `length` bytes at `address`, reporting exactly which of them the checkpoint does not hold. */
  read(address: bigint, length: number): MemoryRead {
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_READ_BYTES) {
      throw new LookupError(`cannot read ${length} bytes: reads are limited to ${MAX_READ_BYTES} bytes`);
    }
    const data = Buffer.alloc(length);
    const result: MemoryRead = { address, data, unavailable: [] };
    const end = address + BigInt(length);
    let cursor = address;
    while (cursor < end) {
      const region = this.regionAt(cursor);
      if (!region) {
        const next = this.nextRegionAfter(cursor);
        const stop = next && next.start < end ? next.start : end;
        addUnavailable(result, cursor, stop, 'not mapped');
        cursor = stop;
        continue;
      }
      const stop = region.end < end ? region.end : end;
      this.fillRegion(result, region, cursor, stop);
      cursor = stop;
    }
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

  private fillRegion(out: MemoryRead, region: MemoryRegion, from: bigint, to: bigint): void {
    const { content } = region;
    switch (content.type) {
      case 'unavailable':
        addUnavailable(out, from, to, content.reason);
        return;
      case 'file':
        fillFromSource(out, content.source, content.offset + (from - region.start), from, to, 'beyond the end of the mapped file');
        return;
      case 'shmem': {
        const delta = content.offset - region.start;
        this.fillFromPagemaps(out, this.directory, content.image, delta, from, to, { type: 'zero' }, 0);
        return;
      }
      case 'private': {
        const holes =
          content.holes.type === 'file'
            ? { ...content.holes, offset: content.holes.offset - region.start }
            : content.holes;
        this.fillFromPagemaps(out, this.directory, this.pagemapImage, 0n, from, to, holes, 0);
      }
    }
  }

  /**
   * Fills [from, to) from pagemap `image` in `dir`, whose keys are `address + delta`. Pages found in no run
   * take `holes`; PE_PARENT runs recurse into the parent directory. For a `file` hole, `offset` is already
   * relative to the address (file offset = address + offset).
   */
  private fillFromPagemaps(
    out: MemoryRead,
    dir: ImageDirectory,
    image: string,
    delta: bigint,
    from: bigint,
    to: bigint,
    holes: HoleContent,
    depth: number,
  ): void {
    const index = this.pagemap(dir, image);
    if (!index) {
      addUnavailable(out, from, to, `${dir.labelPrefix}${image} is missing`);
      return;
    }
    let cursor = from;
    while (cursor < to) {
      const key = cursor + delta;
      const run = index.find(key);
      if (!run) {
        const next = index.nextAfter(key);
        const stop = next && next.start - delta < to ? next.start - delta : to;
        this.fillHole(out, holes, cursor, stop);
        cursor = stop;
        continue;
      }
      const stop = run.end - delta < to ? run.end - delta : to;
      if (run.flags & PE_PRESENT) {
        const length = Number(stop - cursor);
        const position = run.dataOffset + Number(key - run.start);
        if (index.pages && index.dataReadable(position, length)) {
          index.pages.readInto(out.data, Number(cursor - out.address), length, position);
        } else {
          addUnavailable(out, cursor, stop, index.pagesProblem ?? `${index.image}: page data is missing`);
        }
      } else if (run.flags & PE_PARENT) {
        const parent = dir.parent();
        if (!parent) addUnavailable(out, cursor, stop, `${index.image} says the pages are in the parent images, but there is no parent`);
        else
          this.fillFromPagemaps(out, parent, image, delta, cursor, stop, { type: 'unavailable', reason: `missing from ${parent.labelPrefix}${image}` }, depth + 1);
      } else if (run.flags & PE_LAZY) {
        addUnavailable(out, cursor, stop, 'lazy pages are not in the images');
      } else {
        addUnavailable(out, cursor, stop, `${index.image}: run has no data (flags ${run.flags})`);
      }
      cursor = stop;
    }
  }

  private fillHole(out: MemoryRead, holes: HoleContent, from: bigint, to: bigint): void {
    if (holes.type === 'zero') return; // out.data is zero-filled
    if (holes.type === 'unavailable') addUnavailable(out, from, to, holes.reason);
    else fillFromSource(out, holes.source, from + holes.offset, from, to, 'beyond the end of the mapped file');
  }
}

/** Copies file bytes for [from, to) starting at `position`, honouring the kernel's zero tail of the last page. */
function fillFromSource(out: MemoryRead, source: ContentSource, position: bigint, from: bigint, to: bigint, beyond: string): void {
  const size = source.size();
  if (size === undefined) {
    addUnavailable(out, from, to, source.problem() ?? `${source.label} is unavailable`);
    return;
  }
  const fileEnd = BigInt(size);
  const pageEnd = ((fileEnd + PAGE_SIZE - 1n) / PAGE_SIZE) * PAGE_SIZE;
  const length = to - from;
  const readable = clamp(fileEnd - position, 0n, length);
  if (readable > 0n) {
    const got = source.readInto(out.data, Number(from - out.address), Number(readable), Number(position));
    if (BigInt(got) < readable) addUnavailable(out, from + BigInt(got), from + readable, `${source.label} is shorter than expected`);
  }
  // Bytes past EOF up to the page boundary read as zero; past that page the mapping faults.
  const zeroEnd = clamp(pageEnd - position, 0n, length);
  if (zeroEnd < length) addUnavailable(out, from + zeroEnd, to, `${source.label}: ${beyond}`);
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value;
}

function addUnavailable(out: MemoryRead, start: bigint, end: bigint, reason: string): void {
  if (start >= end) return;
  const last = out.unavailable[out.unavailable.length - 1];
  if (last && last.end === start && last.reason === reason) last.end = end;
  else out.unavailable.push({ start, end, reason });
}
