import { budget, BudgetError, overBudget } from '../budget.js';
import { CriuGdbError, ImageError } from '../errors.js';
import type { ImageDirectory, ImageFile } from './directory.js';
import { num } from './fields.js';
import { EntryReader } from './framing.js';
import { Magic } from './magic.js';
import { WireReader } from './wire.js';

/** Smallest and largest page size a Linux kernel criu-gdb reads can have: 4 KiB (x86-64, arm64) to 64 KiB (arm64). */
export const MIN_PAGE_BYTES = 4096;
export const MAX_PAGE_BYTES = 65536;
/** auxv type of the page size the kernel gave the process. */
export const AT_PAGESZ = 6n;

/** Whether `bytes` can be a page size: a power of two from 4 KiB to 64 KiB. */
export function isPageSize(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= MIN_PAGE_BYTES && bytes <= MAX_PAGE_BYTES && (bytes & (bytes - 1)) === 0;
}

/** log2 of a page size. */
function shiftOf(pageBytes: number): bigint {
  return BigInt(Math.log2(pageBytes));
}

/** Pagemap entry flags. */
export const PE_PARENT = 1;
export const PE_LAZY = 2;
export const PE_PRESENT = 4;

/** Largest pagemap image accepted (a pagemap of millions of runs is still far below). */
export const MAX_PAGEMAP_BYTES = 256 * 1024 * 1024;

const PAGES_IMAGE = /^pages-\d+\.img$/;
const chainPages = new WeakMap<ImageDirectory, Map<number, number>>();

/** Pages held by the pages-N.img files of `dir` and of its parent chain: what pagemap runs can point at. */
function pagesInChain(dir: ImageDirectory, pageBytes: number): number {
  let bySize = chainPages.get(dir);
  if (!bySize) chainPages.set(dir, (bySize = new Map()));
  let cached = bySize.get(pageBytes);
  if (cached === undefined) {
    let bytes = 0;
    for (const name of dir.listing()) if (PAGES_IMAGE.test(name)) bytes += dir.sizeOf(name) ?? 0;
    let parent: ImageDirectory | null = null;
    try {
      parent = dir.parent();
    } catch {
      // A bad parent link is reported when a run needs the parent, not here.
    }
    cached = Math.floor(bytes / pageBytes) + (parent ? pagesInChain(parent, pageBytes) : 0);
    bySize.set(pageBytes, cached);
  }
  return cached;
}

/** One pagemap entry's fields. */
interface PagemapEntryFields {
  start: bigint;
  pages: bigint;
  flags: number;
}

/**
 * Decodes a PagemapEntry (vaddr 1, compat_nr_pages 2, in_parent 3, flags 4, nr_pages 5) straight from the
 * wire. Images written before `flags` existed carry `in_parent` instead: in parent, or present here.
 */
function decodePagemapEntry(data: Buffer, image: string, offset: number): PagemapEntryFields {
  const wire = new WireReader(data, image, offset + 4);
  let vaddr: bigint | undefined;
  let compatPages: bigint | undefined;
  let pages: bigint | undefined;
  let flags: number | undefined;
  let inParent = false;
  while (!wire.atEnd) {
    const { number, value } = wire.field();
    if (value === undefined) continue;
    if (number === 1) vaddr = value;
    else if (number === 2) compatPages = value;
    else if (number === 3) inParent = value !== 0n;
    else if (number === 4) flags = Number(BigInt.asUintN(32, value));
    else if (number === 5) pages = value;
  }
  if (vaddr === undefined || compatPages === undefined) {
    throw new ImageError('bad-entry', image, offset, `PagemapEntry does not decode: missing required '${vaddr === undefined ? 'vaddr' : 'compat_nr_pages'}'`);
  }
  return { start: vaddr, pages: pages ?? BigInt.asUintN(32, compatPages), flags: flags ?? (inParent ? PE_PARENT : PE_PRESENT) };
}

/** A run of pages from a pagemap, with where its data lives. */
export interface PageRun {
  /** First byte covered: a virtual address, or an offset inside a shared-memory object. */
  start: bigint;
  /** One past the last byte covered. */
  end: bigint;
  flags: number;
  /** For PE_PRESENT runs: byte offset of the run's data in the pages file. */
  dataOffset: number;
  /** Offset of the pagemap entry, for error messages. */
  entryOffset: number;
}

/**
 * The sorted runs of one pagemap image (pagemap-PID.img or pagemap-shmem-ID.img) and its pages file.
 * Built from the pagemap alone; the pages file is only opened, never read, until memory is requested.
 */
export class PagemapIndex {
  private constructor(
    /** Image name, e.g. `pagemap-42.img`. */
    readonly image: string,
    readonly runs: readonly PageRun[],
    /** The pages-N.img that holds PE_PRESENT data, or undefined when it is missing. */
    readonly pages: ImageFile | undefined,
    /** Why some present data cannot be read (missing or short pages file), if so. */
    readonly pagesProblem: string | undefined,
    /** Bytes of data this pagemap keeps in its pages file. */
    readonly presentBytes: number,
    /** The checkpoint's page size, in bytes. */
    readonly pageBytes: number,
  ) {}

  /** Pages the pagemap lists as present that its pages file, cut short, does not hold (0 when whole or missing). */
  get pagesCutOff(): number {
    if (!this.pages) return 0;
    const held = Math.floor(this.pages.size / this.pageBytes) * this.pageBytes;
    return Math.max(0, Math.ceil((this.presentBytes - held) / this.pageBytes));
  }

  /**
   * Reads a pagemap image whose runs count pages of `pageBytes` (the checkpoint's page size, see
   * Checkpoint.pageSize); returns undefined when it does not exist.
   */
  static read(dir: ImageDirectory, name: string, pageBytes: number): PagemapIndex | undefined {
    if (!isPageSize(pageBytes)) throw new CriuGdbError(`page size ${pageBytes} is not a power of two from ${MIN_PAGE_BYTES} to ${MAX_PAGE_BYTES}`);
    const pageMask = BigInt(pageBytes) - 1n;
    const pageShift = shiftOf(pageBytes);
    const file = dir.tryOpen(name);
    if (!file) return undefined;
    if (file.size > MAX_PAGEMAP_BYTES) {
      throw new ImageError('too-large', file.label, 0, `is ${file.size} bytes; pagemaps larger than ${MAX_PAGEMAP_BYTES} are refused`);
    }
    const reader = new EntryReader(file, Magic.pagemap);
    const head = reader.required('PagemapHead');
    const pagesId = num(head.message, 'pages_id');
    const runs: PageRun[] = [];
    // Every run with data has at least one page in a pages file of the chain; the budget covers the rest.
    const maxRuns = pagesInChain(dir, pageBytes) + budget('PAGE_RUNS');
    let dataOffset = 0;
    // One read for the whole (small) pagemap, then a direct walk of the framed entries.
    const first = reader.offset;
    const bytes = file.readExact(first, file.size - first);
    for (let at = 0; at < bytes.length; ) {
      const offset = first + at;
      if (bytes.length - at < 4) throw new ImageError('truncated', file.label, offset, `ends inside an entry's length (${bytes.length - at} bytes left)`);
      const length = bytes.readUInt32LE(at);
      if (length > bytes.length - at - 4) {
        throw new ImageError('truncated', file.label, offset, `entry of ${length} bytes runs past the end of the file (${bytes.length - at - 4} bytes left)`);
      }
      if (runs.length >= maxRuns) throw new BudgetError(overBudget('PAGE_RUNS', `more than ${maxRuns}`, `${file.label}: runs (beyond one per page of the pages files)`));
      const entry = decodePagemapEntry(bytes.subarray(at + 4, at + 4 + length), file.label, offset);
      at += 4 + length;
      const { start, pages, flags } = entry;
      if ((start & pageMask) !== 0n) {
        throw new ImageError('bad-value', file.label, offset, `run at 0x${start.toString(16)} is not aligned to the ${pageBytes}-byte page`);
      }
      if (pages <= 0n || pages > 1n << 40n) {
        throw new ImageError('bad-value', file.label, offset, `run at 0x${start.toString(16)} has an impossible page count ${pages}`);
      }
      const end = start + (pages << pageShift);
      if (end > 1n << 64n) throw new ImageError('bad-value', file.label, offset, `run at 0x${start.toString(16)} wraps around`);
      runs.push({ start, end, flags, dataOffset, entryOffset: offset });
      if (flags & PE_PRESENT) dataOffset += Number(pages << pageShift);
    }
    runs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1]!;
      const current = runs[i]!;
      if (current.start < previous.end) {
        throw new ImageError('bad-value', file.label, current.entryOffset, `runs overlap at 0x${current.start.toString(16)}`);
      }
    }
    const pagesName = `pages-${pagesId}.img`;
    const pages = dir.tryOpen(pagesName);
    let problem: string | undefined;
    if (!pages && dataOffset > 0) problem = `${dir.labelPrefix}${pagesName} is missing`;
    else if (pages && pages.size < dataOffset) {
      problem = `${pages.label} holds ${pages.size} bytes but ${file.label} needs ${dataOffset}`;
    }
    return new PagemapIndex(file.label, runs, pages, problem, dataOffset, pageBytes);
  }

  /** The run that covers `address`, found by binary search, or undefined. */
  find(address: bigint): PageRun | undefined {
    let low = 0;
    let high = this.runs.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const run = this.runs[middle]!;
      if (address < run.start) high = middle - 1;
      else if (address >= run.end) low = middle + 1;
      else return run;
    }
    return undefined;
  }

  /** The first run that starts after `address`, for finding where a hole ends. */
  nextAfter(address: bigint): PageRun | undefined {
    let low = 0;
    let high = this.runs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.runs[middle]!.start <= address) low = middle + 1;
      else high = middle;
    }
    return this.runs[low];
  }

  /** Runs that intersect [from, to), in address order. */
  runsIn(from: bigint, to: bigint): PageRun[] {
    let low = 0;
    let high = this.runs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.runs[middle]!.end <= from) low = middle + 1;
      else high = middle;
    }
    const found: PageRun[] = [];
    for (let i = low; i < this.runs.length && this.runs[i]!.start < to; i++) found.push(this.runs[i]!);
    return found;
  }

  /** Whether `length` bytes at `offset` of the pages file can be read. */
  dataReadable(offset: number, length: number): boolean {
    return this.pages !== undefined && offset + length <= this.pages.size;
  }
}
