/**
 * How much memory a process has and where the checkpoint keeps it, in bytes, with the names users know from
 * /proc/PID/smaps_rollup and checkpointctl memparse. Made from the same spans as the reader, so it reads
 * pagemaps only, never page data.
 */
import type { MemorySpan } from './memory.js';
import type { ProcessModel } from './process.js';

/** The memory of one process, in bytes. */
export interface MemoryOverview {
  pid: number;
  comm: string;
  /** Every mapping's size added up (VmSize; smaps `Size`). */
  size: number;
  /** Private memory the images hold: what the process wrote (anonymous, heap, stack, changed file pages; smaps `Anonymous` plus `Swap`). */
  private: number;
  /** Shared anonymous, memfd and System V memory the images hold (checkpointctl memparse's shared memory). */
  shared: number;
  /** Held in this checkpoint's pages files (private and shared). */
  inImages: number;
  /** Held in a parent checkpoint's pages files (incremental dumps). */
  inParent: number;
  /** Served from the mapped files (never written by the process). */
  fromFiles: number;
  /** Never touched: zero. */
  zero: number;
  /** Held by nothing here (lazy pages on a page server, missing images or files, [vvar]). */
  unavailable: number;
  /** Of `unavailable`, the lazy pages. */
  lazy: number;
}

/** Adds the spans of one mapping; `sharedObject` when its content is a shared memory object's. */
function addSpans(overview: MemoryOverview, spans: readonly MemorySpan[], sharedObject: boolean): void {
  for (const { start, end, source } of spans) {
    const bytes = Number(end - start);
    switch (source.type) {
      case 'pages':
      case 'shmem':
      case 'parent':
        if (source.type === 'parent') overview.inParent += bytes;
        else overview.inImages += bytes;
        if (sharedObject) overview.shared += bytes;
        else overview.private += bytes;
        break;
      case 'file':
        overview.fromFiles += bytes;
        break;
      case 'zero':
        overview.zero += bytes;
        break;
      case 'unavailable':
        overview.unavailable += bytes;
        if (source.lazy) overview.lazy += bytes;
    }
  }
}

/** The memory overview of `process`. */
export function memoryOverview(process: ProcessModel): MemoryOverview {
  const overview: MemoryOverview = { pid: process.pid, comm: process.comm, size: 0, private: 0, shared: 0, inImages: 0, inParent: 0, fromFiles: 0, zero: 0, unavailable: 0, lazy: 0 };
  const memory = process.memory();
  // Guard entries lie inside a real mapping, whose size and spans already count their pages.
  for (const mapping of process.procMappings()) {
    overview.size += Number(mapping.end - mapping.start);
    const region = memory.regionAt(mapping.start);
    const spans = region ? memory.regionSpans(region, mapping.start, mapping.end) : memory.spans(mapping.start, mapping.end);
    addSpans(overview, spans, region?.content.type === 'shmem');
  }
  return overview;
}
