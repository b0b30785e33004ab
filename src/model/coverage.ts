import type { MemoryReader, MemoryRegion, HoleContent } from './memory.js';
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT, type PagemapIndex } from '../images/pagemap.js';
import type { Mapping, MappingCoverage } from './types.js';

function pagesOf(bytes: bigint): number {
  return Number((bytes + PAGE_SIZE - 1n) / PAGE_SIZE);
}

function empty(): MappingCoverage {
  return { present: 0, inParent: 0, lazy: 0, zero: 0, fromFile: 0, missing: 0 };
}

/** Pages of a file-backed span [fileStart, fileStart+length) that the file holds; the rest fault. */
function fileBacked(coverage: MappingCoverage, size: number | undefined, fileStart: bigint, length: bigint): void {
  if (size === undefined) {
    coverage.missing += pagesOf(length);
    return;
  }
  const fileEnd = ((BigInt(size) + PAGE_SIZE - 1n) / PAGE_SIZE) * PAGE_SIZE;
  const inside = fileEnd - fileStart < 0n ? 0n : fileEnd - fileStart > length ? length : fileEnd - fileStart;
  coverage.fromFile += pagesOf(inside);
  coverage.missing += pagesOf(length - inside);
}

function countRuns(coverage: MappingCoverage, index: PagemapIndex, from: bigint, to: bigint, holes: HoleContent, holeFileStart: bigint): void {
  let cursor = from;
  const hole = (start: bigint, end: bigint): void => {
    if (end <= start) return;
    if (holes.type === 'zero') coverage.zero += pagesOf(end - start);
    else if (holes.type === 'unavailable') coverage.missing += pagesOf(end - start);
    else fileBacked(coverage, holes.source.size(), holeFileStart + (start - from), end - start);
  };
  for (const run of index.runsIn(from, to)) {
    const start = run.start > from ? run.start : from;
    const end = run.end < to ? run.end : to;
    hole(cursor, start);
    const pages = pagesOf(end - start);
    if (run.flags & PE_PRESENT) coverage.present += pages;
    else if (run.flags & PE_PARENT) coverage.inParent += pages;
    else if (run.flags & PE_LAZY) coverage.lazy += pages;
    else coverage.missing += pages;
    cursor = end;
  }
  hole(cursor, to);
}

/** Counts, page by page, where the content of `mapping` comes from. Reads only pagemaps, never page data. */
export function coverageOf(memory: MemoryReader, region: MemoryRegion | undefined, mapping: Mapping): MappingCoverage {
  const coverage = empty();
  const length = mapping.end - mapping.start;
  if (!region) {
    coverage.missing = pagesOf(length);
    return coverage;
  }
  const { content } = region;
  switch (content.type) {
    case 'unavailable':
      coverage.missing = pagesOf(length);
      break;
    case 'file':
      fileBacked(coverage, content.source.size(), content.offset, length);
      break;
    case 'shmem': {
      const index = memory.pagemap(memory.directory, content.image);
      if (!index) coverage.missing = pagesOf(length);
      else countRuns(coverage, index, content.offset, content.offset + length, { type: 'zero' }, 0n);
      break;
    }
    case 'private': {
      const index = memory.ownPagemap();
      const fileStart = content.holes.type === 'file' ? content.holes.offset : 0n;
      if (!index) coverage.missing = pagesOf(length);
      else countRuns(coverage, index, region.start, region.end, content.holes, fileStart);
      break;
    }
  }
  return coverage;
}
