/**
 * Where the bytes of each mapping come from, decided before any page data is read: the program headers of
 * a core sit at its start, so the exporter must know every segment before it writes the first page.
 *
 * The plan follows exactly the sources {@link MemoryReader.read} uses (pagemaps and their parent chain,
 * shared-memory pagemaps, backing files with their zero tail, unavailable regions), reading only pagemaps
 * and file sizes. It splits every mapping into spans:
 * - `data`: bytes the images or a backing file supply (read with MemoryReader.read at write time);
 * - `zero`: pages never touched, known to be zero without reading (left sparse in the core);
 * - `unavailable`: bytes the checkpoint does not hold, with the reason MemoryReader would give.
 */
import type { ImageDirectory } from '../images/directory.js';
import type { ContentSource } from '../model/backing-file.js';
import { regionFor } from '../model/mappings.js';
import type { HoleContent, MemoryReader, MemoryRegion } from '../model/memory.js';
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT } from '../images/pagemap.js';
import type { ProcessModel } from '../model/process.js';
import type { Mapping } from '../model/types.js';

export type SpanKind = 'data' | 'zero' | 'unavailable';

/** A byte range of one mapping and where its content comes from. */
export interface Span {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  kind: SpanKind;
  /** Why the bytes are unavailable (only for `unavailable`). */
  reason?: string;
}

/** A mapping with its spans, in address order, covering it exactly. */
export interface PlannedMapping {
  mapping: Mapping;
  spans: Span[];
}

/** Collects spans, merging a span into the previous one when they touch and agree. */
class SpanList {
  readonly spans: Span[] = [];

  add(start: bigint, end: bigint, kind: SpanKind, reason?: string): void {
    if (end <= start) return;
    const last = this.spans[this.spans.length - 1];
    if (last && last.end === start && last.kind === kind && last.reason === reason) {
      last.end = end;
      return;
    }
    this.spans.push(kind === 'unavailable' ? { start, end, kind, reason: reason ?? 'unavailable' } : { start, end, kind });
  }
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value;
}

/** [from, to) read from `source` at `position`: the file's bytes, zero to its last page's end, then nothing. */
function planFile(out: SpanList, source: ContentSource, position: bigint, from: bigint, to: bigint): void {
  const size = source.size();
  if (size === undefined) {
    out.add(from, to, 'unavailable', source.problem() ?? `${source.label} is unavailable`);
    return;
  }
  const fileEnd = BigInt(size);
  const pageEnd = ((fileEnd + PAGE_SIZE - 1n) / PAGE_SIZE) * PAGE_SIZE;
  const length = to - from;
  // The zero tail of the last page is supplied by the read, so it is data too.
  const readable = clamp(pageEnd - position, 0n, length);
  out.add(from, from + readable, 'data');
  out.add(from + readable, to, 'unavailable', `${source.label}: beyond the end of the mapped file`);
}

function planHole(out: SpanList, holes: HoleContent, from: bigint, to: bigint): void {
  if (holes.type === 'zero') out.add(from, to, 'zero');
  else if (holes.type === 'unavailable') out.add(from, to, 'unavailable', holes.reason);
  else planFile(out, holes.source, from + holes.offset, from, to);
}

/**
 * [from, to) from pagemap `image` in `dir`, whose keys are `address + delta`; pages in no run take
 * `holes` (a `file` hole's offset is relative to the address). Mirrors MemoryReader's pagemap walk.
 */
function planPagemap(
  out: SpanList,
  memory: MemoryReader,
  dir: ImageDirectory,
  image: string,
  delta: bigint,
  from: bigint,
  to: bigint,
  holes: HoleContent,
): void {
  const index = memory.pagemap(dir, image);
  if (!index) {
    out.add(from, to, 'unavailable', `${dir.labelPrefix}${image} is missing`);
    return;
  }
  let cursor = from;
  for (const run of index.runsIn(from + delta, to + delta)) {
    const runStart = run.start - delta < cursor ? cursor : run.start - delta;
    const runEnd = run.end - delta < to ? run.end - delta : to;
    if (runStart > cursor) planHole(out, holes, cursor, runStart);
    if (run.flags & PE_PRESENT) {
      const position = run.dataOffset + Number(runStart + delta - run.start);
      const length = Number(runEnd - runStart);
      const readable = index.pages ? clamp(BigInt(index.pages.size - position), 0n, BigInt(length)) : 0n;
      // MemoryReader refuses a read that runs past the pages file; page-sized reads never straddle it.
      const whole = (readable / PAGE_SIZE) * PAGE_SIZE;
      out.add(runStart, runStart + whole, 'data');
      out.add(runStart + whole, runEnd, 'unavailable', index.pagesProblem ?? `${index.image}: page data is missing`);
    } else if (run.flags & PE_PARENT) {
      const parent = dir.parent();
      if (!parent) out.add(runStart, runEnd, 'unavailable', `${index.image} says the pages are in the parent images, but there is no parent`);
      else planPagemap(out, memory, parent, image, delta, runStart, runEnd, { type: 'unavailable', reason: `missing from ${parent.labelPrefix}${image}` });
    } else if (run.flags & PE_LAZY) {
      out.add(runStart, runEnd, 'unavailable', 'lazy pages are not in the images');
    } else {
      out.add(runStart, runEnd, 'unavailable', `${index.image}: run has no data (flags ${run.flags})`);
    }
    cursor = runEnd;
  }
  if (cursor < to) planHole(out, holes, cursor, to);
}

/** The spans of one region of `memory`; `ownPagemap` is the process's pagemap image name. */
export function planRegion(memory: MemoryReader, ownPagemap: string, region: MemoryRegion | undefined, start: bigint, end: bigint): Span[] {
  const out = new SpanList();
  if (!region) {
    out.add(start, end, 'unavailable', 'not mapped');
    return out.spans;
  }
  const { content } = region;
  switch (content.type) {
    case 'unavailable':
      out.add(start, end, 'unavailable', content.reason);
      break;
    case 'file':
      planFile(out, content.source, content.offset + (start - region.start), start, end);
      break;
    case 'shmem':
      planPagemap(out, memory, memory.directory, content.image, content.offset - region.start, start, end, { type: 'zero' });
      break;
    case 'private': {
      const holes: HoleContent = content.holes.type === 'file' ? { ...content.holes, offset: content.holes.offset - region.start } : content.holes;
      planPagemap(out, memory, memory.directory, ownPagemap, 0n, start, end, holes);
      break;
    }
  }
  return out.spans;
}

/** Why guard pages are holes. */
export const GUARD_REASON = 'guard pages (MADV_GUARD_INSTALL): reading them faults';

/** `spans` with the parts inside any of `guards` turned unavailable. */
export function withGuards(spans: readonly Span[], guards: ReadonlyArray<{ start: bigint; end: bigint }>): Span[] {
  if (guards.length === 0) return [...spans];
  const out = new SpanList();
  for (const span of spans) {
    let cursor = span.start;
    for (const guard of guards) {
      if (guard.end <= cursor || guard.start >= span.end) continue;
      const from = guard.start > cursor ? guard.start : cursor;
      const to = guard.end < span.end ? guard.end : span.end;
      out.add(cursor, from, span.kind, span.reason);
      out.add(from, to, 'unavailable', GUARD_REASON);
      cursor = to;
    }
    out.add(cursor, span.end, span.kind, span.reason);
  }
  return out.spans;
}

/**
 * Every mapping of `process` with its spans, in address order. Guard ranges (MADV_GUARD_INSTALL, which CRIU
 * lists as extra entries over real mappings) are not mappings of their own: they make holes in the mapping
 * they cover.
 */
export function planProcessMemory(process: ProcessModel): PlannedMapping[] {
  const memory = process.memory();
  const own = `pagemap-${process.pid}.img`;
  const vmas = process.mm().vmas;
  const planned = process.mappings().map((mapping, i) => ({ mapping, vma: vmas[i] }));
  const guards = planned.filter((p) => p.mapping.kind === 'guard').map((p) => p.mapping);
  guards.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return planned
    .filter((p) => p.mapping.kind !== 'guard')
    .sort((a, b) => (a.mapping.start < b.mapping.start ? -1 : a.mapping.start > b.mapping.start ? 1 : 0))
    .map(({ mapping, vma }) => {
      // The region of this very VMA (a guard entry may start at the same address).
      const region = vma && vma.start === mapping.start ? regionFor(process.checkpoint, vma) : memory.regionAt(mapping.start);
      return { mapping, spans: withGuards(planRegion(memory, own, region, mapping.start, mapping.end), guards) };
    });
}
