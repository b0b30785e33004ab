import type { MemorySpan } from './memory.js';
import type { MappingCoverage } from './types.js';

function pagesOf(bytes: bigint, page: bigint): number {
  return Number((bytes + page - 1n) / page);
}

/** Counts, page by page, where the bytes of `spans` come from (the spans of one mapping, see MemoryReader.spans). */
export function coverageOf(spans: readonly MemorySpan[], pageBytes: number): MappingCoverage {
  const page = BigInt(pageBytes);
  const coverage: MappingCoverage = { present: 0, inParent: 0, lazy: 0, zero: 0, fromFile: 0, missing: 0 };
  for (const { start, end, source } of spans) {
    const pages = pagesOf(end - start, page);
    switch (source.type) {
      case 'pages':
      case 'shmem':
        coverage.present += pages;
        break;
      case 'parent':
        coverage.inParent += pages;
        break;
      case 'zero':
        coverage.zero += pages;
        break;
      case 'file':
        coverage.fromFile += pages;
        break;
      case 'unavailable':
        if (source.lazy) coverage.lazy += pages;
        else coverage.missing += pages;
    }
  }
  return coverage;
}
