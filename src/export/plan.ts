/**
 * Where the bytes of each mapping come from, decided before any page data is read: the program headers of
 * a core sit at its start, so the exporter must know every segment before it writes the first page.
 *
 * The plan is the memory walker's spans ({@link MemoryReader.spans}, the ones MemoryReader.read fills
 * from), reading only pagemaps and file sizes. It splits every mapping into spans:
 * - `data`: bytes the images or a backing file supply (read with MemoryReader.read at write time);
 * - `zero`: pages never touched, known to be zero without reading (left sparse in the core);
 * - `unavailable`: bytes the checkpoint does not hold, with the reason MemoryReader would give.
 */
import { regionFor } from '../model/mappings.js';
import { GUARD_PAGES_REASON, type MemoryReader, type MemoryRegion, type SpanSource } from '../model/memory.js';
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

/** The plan's kind of a walker span: data to read, zero to skip, or a hole. */
function kindOf(source: SpanSource): SpanKind {
  return source.type === 'zero' ? 'zero' : source.type === 'unavailable' ? 'unavailable' : 'data';
}

/** The spans of [start, end) of `region` (or `not mapped` without one), from the memory walker. */
export function planRegion(memory: MemoryReader, region: MemoryRegion | undefined, start: bigint, end: bigint): Span[] {
  const out = new SpanList();
  const walked = region ? memory.regionSpans(region, start, end) : memory.spans(start, end);
  for (const span of walked) out.add(span.start, span.end, kindOf(span.source), span.source.type === 'unavailable' ? span.source.reason : undefined);
  return out.spans;
}

/** Why guard pages are holes. */
export const GUARD_REASON = GUARD_PAGES_REASON;

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
      return { mapping, spans: withGuards(planRegion(memory, region, mapping.start, mapping.end), guards) };
    });
}
