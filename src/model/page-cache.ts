/**
 * A bounded cache of recently read pages in front of a {@link MemoryReader}, for the many small reads a
 * debugger makes (stack walks, pretty printers, heap walkers). A checkpoint never changes, so a cached page
 * never goes stale. A miss reads several pages at once (read-ahead); a miss right after the previous
 * miss's pages (sequential access) reads more. Large reads bypass the cache.
 */
import type { MemoryReader } from './memory.js';

/** The cache's block: 4 KiB, the smallest page size, so every page boundary of any checkpoint is a block boundary. */
const PAGE = 4096;
const PAGE_BIG = 4096n;

/** One cached page: its bytes and how many of them, from its start, are available. */
interface CachedPage {
  data: Buffer;
  available: number;
}

export interface PageCacheOptions {
  /** Most bytes of page data kept. */
  capacityBytes?: number;
  /** Pages read on a miss. */
  readAheadPages?: number;
  /** Pages read on a miss that continues the previous miss's pages. */
  sequentialReadAheadPages?: number;
  /** Reads longer than this go straight to the reader. */
  largeReadBytes?: number;
}

/** Memory reads through a bounded LRU cache of pages. */
export class PageCache {
  private readonly pages = new Map<number, CachedPage>();
  private readonly capacityPages: number;
  private readonly readAheadPages: number;
  private readonly sequentialReadAheadPages: number;
  private readonly largeReadBytes: number;
  /** The page after the last one the previous miss read. */
  private nextSequentialPage = -1;
  private hitCount = 0;
  private missCount = 0;

  constructor(
    private readonly reader: MemoryReader,
    options: PageCacheOptions = {},
  ) {
    this.capacityPages = Math.max(1, Math.floor((options.capacityBytes ?? 16 * 1024 * 1024) / PAGE));
    // Measured (test/bench/roundtrip-bench.ts, first touch of each page): reading ahead 4 and 32 pages made
    // scattered first reads 3-4x slower than none, and the OS already reads the pages files ahead.
    this.readAheadPages = options.readAheadPages ?? 1;
    this.sequentialReadAheadPages = options.sequentialReadAheadPages ?? 4;
    this.largeReadBytes = options.largeReadBytes ?? 64 * 1024;
  }

  /** Cache hits and misses so far (misses count pages that had to be read). */
  get stats(): { hits: number; misses: number; cachedPages: number } {
    return { hits: this.hitCount, misses: this.missCount, cachedPages: this.pages.size };
  }

  /** The bytes at `address` up to the first unavailable one (possibly none), like {@link MemoryReader.readAvailable}. */
  readAvailable(address: bigint, length: number): Buffer {
    if (length > this.largeReadBytes || length <= 0) return this.reader.readAvailable(address, length);
    const out = Buffer.allocUnsafe(length);
    let copied = 0;
    let pageNumber = Number(address / PAGE_BIG);
    let offset = Number(address % PAGE_BIG);
    while (copied < length) {
      const page = this.page(pageNumber);
      const take = Math.min(length - copied, PAGE - offset);
      const usable = Math.min(take, page.available - offset);
      if (usable > 0) page.data.copy(out, copied, offset, offset + usable);
      if (usable < take) return out.subarray(0, copied + Math.max(0, usable));
      copied += take;
      pageNumber++;
      offset = 0;
    }
    return out;
  }

  private page(pageNumber: number): CachedPage {
    const cached = this.pages.get(pageNumber);
    if (cached) {
      this.hitCount++;
      // Most recently used last.
      this.pages.delete(pageNumber);
      this.pages.set(pageNumber, cached);
      return cached;
    }
    const wanted = pageNumber === this.nextSequentialPage ? this.sequentialReadAheadPages : this.readAheadPages;
    const count = Math.max(1, Math.min(wanted, this.capacityPages));
    this.nextSequentialPage = pageNumber + count;
    return this.fill(pageNumber, count);
  }

  /**
   * Reads `count` (at most the capacity) pages from `first` in one read and caches them, evicting the least
   * recently used; returns the first.
   */
  private fill(first: number, count: number): CachedPage {
    const start = BigInt(first) * PAGE_BIG;
    const { data, unavailable } = this.reader.read(start, count * PAGE);
    this.missCount += count;
    for (let i = 0; i < count; i++) {
      const pageStart = start + BigInt(i * PAGE);
      const pageEnd = pageStart + PAGE_BIG;
      let available = PAGE;
      for (const range of unavailable) {
        if (range.start < pageEnd && range.end > pageStart) {
          available = Math.min(available, range.start > pageStart ? Number(range.start - pageStart) : 0);
        }
      }
      const pageData = Buffer.from(data.subarray(i * PAGE, (i + 1) * PAGE));
      this.pages.delete(first + i);
      this.pages.set(first + i, { data: pageData, available });
    }
    while (this.pages.size > this.capacityPages) {
      const oldest = this.pages.keys().next().value as number;
      this.pages.delete(oldest);
    }
    return this.pages.get(first)!;
  }
}
