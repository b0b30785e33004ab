/**
 * What changed between two checkpoints (usually of the same program, taken at two times): processes and
 * threads, open files and sockets, and memory down to the page. Pages are compared by content, but only
 * where they may differ: pages both sides read from the very same bytes (a pages file shared through a
 * parent checkpoint, or the same checkpoint twice) and pages never touched on both sides are equal without
 * reading anything.
 */
import { CriuGdbError } from '../errors.js';
import type { ContainerMount } from '../source/metadata.js';
import type { Checkpoint } from './checkpoint.js';
import type { MemorySpan, SpanSource } from './memory.js';
import type { ProcessModel } from './process.js';
import type { FdModel, Mapping } from './types.js';
import { checkpointMounts } from './mounts.js';

/** A process as the diff names it. */
export interface ProcessBrief {
  pid: number;
  comm: string;
  cmdline: string[] | null;
  threads: number;
}

/** One property that differs, with its value in A and in B. */
export interface ValueChange {
  field: 'comm' | 'cmdline' | 'state' | 'ppid' | 'exe';
  a: string;
  b: string;
}

/** Threads that appeared, disappeared or were renamed. */
export interface ThreadChanges {
  added: Array<{ tid: number; name: string }>;
  removed: Array<{ tid: number; name: string }>;
  renamed: Array<{ tid: number; a: string; b: string }>;
}

/** Descriptors (files or sockets) that appeared, disappeared or changed. */
export interface FdChanges {
  added: FdModel[];
  removed: FdModel[];
  changed: Array<{ fd: number; a: FdModel; b: FdModel }>;
}

/** A range of pages, by address. */
export interface PageRange {
  start: bigint;
  end: bigint;
}

/** How one mapping differs. */
export interface MappingChange {
  start: bigint;
  /** End in A (undefined when the mapping is only in B). */
  endA: bigint | undefined;
  /** End in B (undefined when the mapping is only in A). */
  endB: bigint | undefined;
  /** `added`, `removed`, `resized` (same start, other end), or `changed` (same range, other content or attributes). */
  status: 'added' | 'removed' | 'resized' | 'changed';
  name: string;
  permsA: string | undefined;
  permsB: string | undefined;
  /** Pages of the common range whose content differs. */
  changedPages: number;
  /** Pages of the common range that one side does not hold (lazy, missing, unreadable): they may differ. */
  unavailablePages: number;
  /** Where the changed pages are, consecutive pages merged. */
  changed: PageRange[];
  /** Where those unavailable pages are. */
  unavailable: PageRange[];
}

/** Memory totals of one process or of the whole diff, in pages. */
export interface MemoryTotals {
  /** Pages of the ranges both sides map, compared. */
  comparedPages: number;
  changedPages: number;
  /** Pages that one side or both do not hold (the mappings list only those one side holds). */
  unavailablePages: number;
  /** Pages mapped only in B (new mappings and grown tails). */
  addedPages: number;
  /** Pages mapped only in A. */
  removedPages: number;
  /** Pages whose content was read to compare them (the rest were known equal without reading). */
  readPages: number;
}

/** How one process present in both checkpoints differs. */
export interface ProcessChange {
  pid: number;
  comm: string;
  values: ValueChange[];
  threads: ThreadChanges;
  fds: FdChanges;
  sockets: FdChanges;
  mappings: MappingChange[];
  memory: MemoryTotals;
}

/** The container's mounts (spec.dump) that appeared, disappeared or changed, by destination. */
export interface MountChanges {
  added: ContainerMount[];
  removed: ContainerMount[];
  changed: Array<{ destination: string; a: ContainerMount; b: ContainerMount }>;
}

/** Everything that differs between checkpoint A and checkpoint B. */
export interface CheckpointDiff {
  a: string;
  b: string;
  /** Mount changes, when both record their mounts (a container's spec.dump, else CRIU's mount images). */
  mounts: MountChanges | null;
  /** The page size of both checkpoints, in bytes: the unit of every page count. */
  pageBytes: number;
  processes: { added: ProcessBrief[]; removed: ProcessBrief[]; changed: ProcessChange[] };
  memory: MemoryTotals;
}

/** Bytes compared per read (a multiple of the page size). */
const CHUNK_BYTES = 1024 * 1024;

function emptyTotals(): MemoryTotals {
  return { comparedPages: 0, changedPages: 0, unavailablePages: 0, addedPages: 0, removedPages: 0, readPages: 0 };
}

function addTotals(into: MemoryTotals, from: MemoryTotals): void {
  for (const key of Object.keys(into) as Array<keyof MemoryTotals>) into[key] += from[key];
}

function pages(bytes: bigint, pageBytes: number): number {
  const size = BigInt(pageBytes);
  return Number((bytes + size - 1n) / size);
}

function brief(process: ProcessModel, checkpoint: Checkpoint): ProcessBrief {
  return { pid: process.pid, comm: process.comm, cmdline: checkpoint.tolerate(() => process.cmdline()) ?? null, threads: process.tids.length };
}

function isSocket(fd: FdModel): boolean {
  return 'family' in fd.details;
}

function sameFd(a: FdModel, b: FdModel): boolean {
  return a.kind === b.kind && a.name === b.name && a.flags === b.flags && JSON.stringify(a.details) === JSON.stringify(b.details);
}

function compareFds(a: readonly FdModel[], b: readonly FdModel[]): FdChanges {
  const inB = new Map(b.map((fd) => [fd.fd, fd]));
  const inA = new Map(a.map((fd) => [fd.fd, fd]));
  const changes: FdChanges = { added: [], removed: [], changed: [] };
  for (const fd of a) {
    const other = inB.get(fd.fd);
    if (!other) changes.removed.push(fd);
    else if (!sameFd(fd, other)) changes.changed.push({ fd: fd.fd, a: fd, b: other });
  }
  for (const fd of b) if (!inA.has(fd.fd)) changes.added.push(fd);
  return changes;
}

function compareThreads(a: ProcessModel, b: ProcessModel): ThreadChanges {
  const threadsA = a.threads();
  const threadsB = b.threads();
  const namesB = new Map(threadsB.map((t) => [t.tid, t.name]));
  const tidsA = new Set(threadsA.map((t) => t.tid));
  const changes: ThreadChanges = { added: [], removed: [], renamed: [] };
  for (const thread of threadsA) {
    const name = namesB.get(thread.tid);
    if (name === undefined) changes.removed.push({ tid: thread.tid, name: thread.name });
    else if (name !== thread.name) changes.renamed.push({ tid: thread.tid, a: thread.name, b: name });
  }
  for (const thread of threadsB) if (!tidsA.has(thread.tid)) changes.added.push({ tid: thread.tid, name: thread.name });
  return changes;
}

/** Where the bytes of `source` are `offset` bytes into its span, or undefined when it holds none. */
function dataAt(source: SpanSource, offset: bigint): { identity: string; position: bigint } | 'zero' | undefined {
  switch (source.type) {
    case 'zero':
      return 'zero';
    case 'pages':
    case 'shmem':
    case 'parent':
      return { identity: source.pages.identity(), position: BigInt(source.position) + offset };
    default:
      return undefined;
  }
}

/** Reads `length` bytes of `source`, `offset` bytes into its span, into `target`; false when they cannot all be read. */
function readSource(source: SpanSource, offset: bigint, target: Buffer, length: number): boolean {
  switch (source.type) {
    case 'zero':
      target.fill(0, 0, length);
      return true;
    case 'pages':
    case 'shmem':
    case 'parent':
      return source.pages.readInto(target, 0, length, source.position + Number(offset)) === length;
    case 'file': {
      // Past the end of the file, up to the end of its last page, the kernel maps zeros.
      const position = source.position + offset;
      const size = BigInt(source.content.size() ?? 0);
      const readable = position >= size ? 0 : Number(size - position < BigInt(length) ? size - position : BigInt(length));
      const got = readable > 0 ? source.content.readInto(target, 0, readable, Number(position)) : 0;
      target.fill(0, got, length);
      return got === readable;
    }
    case 'unavailable':
      return false;
  }
}

/** Appends [start, end) to `ranges`, merging it into the last range when they touch. */
function addRange(ranges: PageRange[], start: bigint, end: bigint): void {
  const last = ranges[ranges.length - 1];
  if (last && last.end === start) last.end = end;
  else ranges.push({ start, end });
}

/** Compares two span lists that cover the same range, page by page. */
class PageComparer {
  constructor(readonly pageBytes: number) {}

  private readonly bufferA = Buffer.allocUnsafe(CHUNK_BYTES);
  private readonly bufferB = Buffer.allocUnsafe(CHUNK_BYTES);

  compare(spansA: readonly MemorySpan[], spansB: readonly MemorySpan[], change: MappingChange, totals: MemoryTotals): void {
    let i = 0;
    let j = 0;
    while (i < spansA.length && j < spansB.length) {
      const a = spansA[i]!;
      const b = spansB[j]!;
      const start = a.start > b.start ? a.start : b.start;
      const end = a.end < b.end ? a.end : b.end;
      if (start < end) this.piece(a, b, start, end, change, totals);
      if (a.end <= end) i++;
      if (b.end <= end) j++;
    }
  }

  /** [start, end), inside span `a` of A and span `b` of B. */
  private piece(a: MemorySpan, b: MemorySpan, start: bigint, end: bigint, change: MappingChange, totals: MemoryTotals): void {
    totals.comparedPages += pages(end - start, this.pageBytes);
    if (a.source.type === 'unavailable' && b.source.type === 'unavailable') {
      // Held by neither (the kernel's vvar page, lazy pages on both sides): nothing to compare, nothing changed.
      totals.unavailablePages += pages(end - start, this.pageBytes);
      return;
    }
    if (a.source.type === 'unavailable' || b.source.type === 'unavailable') {
      this.unavailable(start, end, change, totals);
      return;
    }
    const dataA = dataAt(a.source, start - a.start);
    const dataB = dataAt(b.source, start - b.start);
    if (dataA === 'zero' && dataB === 'zero') return;
    if (typeof dataA === 'object' && typeof dataB === 'object' && dataA.identity === dataB.identity && dataA.position === dataB.position) return;
    for (let at = start; at < end; ) {
      const length = end - at < BigInt(CHUNK_BYTES) ? Number(end - at) : CHUNK_BYTES;
      const chunkEnd = at + BigInt(length);
      totals.readPages += pages(BigInt(length), this.pageBytes);
      const okA = readSource(a.source, at - a.start, this.bufferA, length);
      const okB = readSource(b.source, at - b.start, this.bufferB, length);
      if (!okA || !okB) this.unavailable(at, chunkEnd, change, totals);
      else if (!this.bufferA.subarray(0, length).equals(this.bufferB.subarray(0, length))) {
        for (let offset = 0; offset < length; offset += this.pageBytes) {
          const size = Math.min(this.pageBytes, length - offset);
          if (this.bufferA.compare(this.bufferB, offset, offset + size, offset, offset + size) !== 0) {
            const page = at + BigInt(offset);
            addRange(change.changed, page, page + BigInt(size));
            change.changedPages++;
            totals.changedPages++;
          }
        }
      }
      at = chunkEnd;
    }
  }

  private unavailable(start: bigint, end: bigint, change: MappingChange, totals: MemoryTotals): void {
    addRange(change.unavailable, start, end);
    change.unavailablePages += pages(end - start, this.pageBytes);
    totals.unavailablePages += pages(end - start, this.pageBytes);
  }
}

/** The spans of `mapping`'s range [mapping.start, end) in `process`. */
function mappingSpans(process: ProcessModel, mapping: Mapping, end: bigint): MemorySpan[] {
  const memory = process.memory();
  const region = memory.regionAt(mapping.start);
  return region ? memory.regionSpans(region, mapping.start, end) : memory.spans(mapping.start, end);
}

function compareMappings(a: ProcessModel, b: ProcessModel, checkpointA: Checkpoint, checkpointB: Checkpoint, comparer: PageComparer): { mappings: MappingChange[]; memory: MemoryTotals } {
  const totals = emptyTotals();
  const mapsA = checkpointA.tolerate(() => a.mappings()) ?? [];
  const mapsB = checkpointB.tolerate(() => b.mappings()) ?? [];
  const byStartB = new Map(mapsB.map((m) => [m.start, m]));
  const byStartA = new Map(mapsA.map((m) => [m.start, m]));
  const changes: MappingChange[] = [];
  const starts = [...new Set([...byStartA.keys(), ...byStartB.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  for (const start of starts) {
    const mapA = byStartA.get(start);
    const mapB = byStartB.get(start);
    const change: MappingChange = {
      start,
      endA: mapA?.end,
      endB: mapB?.end,
      status: 'changed',
      name: (mapB ?? mapA)!.name,
      permsA: mapA?.perms,
      permsB: mapB?.perms,
      changedPages: 0,
      unavailablePages: 0,
      changed: [],
      unavailable: [],
    };
    if (!mapA || !mapB) {
      change.status = mapA ? 'removed' : 'added';
      const size = pages((mapA ?? mapB)!.end - start, comparer.pageBytes);
      if (mapA) totals.removedPages += size;
      else totals.addedPages += size;
      changes.push(change);
      continue;
    }
    const common = mapA.end < mapB.end ? mapA.end : mapB.end;
    if (mapA.end !== mapB.end) {
      change.status = 'resized';
      if (mapA.end > common) totals.removedPages += pages(mapA.end - common, comparer.pageBytes);
      else totals.addedPages += pages(mapB.end - common, comparer.pageBytes);
    }
    const spansA = checkpointA.tolerate(() => mappingSpans(a, mapA, common));
    const spansB = checkpointB.tolerate(() => mappingSpans(b, mapB, common));
    if (spansA && spansB) comparer.compare(spansA, spansB, change, totals);
    if (change.status === 'resized' || change.changedPages > 0 || change.unavailablePages > 0 || mapA.perms !== mapB.perms || mapA.name !== mapB.name) changes.push(change);
  }
  return { mappings: changes, memory: totals };
}

function compareValues(a: ProcessModel, b: ProcessModel, checkpointA: Checkpoint, checkpointB: Checkpoint): ValueChange[] {
  const values: ValueChange[] = [];
  const add = (field: ValueChange['field'], valueA: string, valueB: string): void => {
    if (valueA !== valueB) values.push({ field, a: valueA, b: valueB });
  };
  add('comm', a.comm, b.comm);
  add('state', a.state, b.state);
  add('ppid', String(a.ppid), String(b.ppid));
  const args = (checkpoint: Checkpoint, process: ProcessModel): string => checkpoint.tolerate(() => process.cmdline())?.join(' ') ?? '(unavailable)';
  add('cmdline', args(checkpointA, a), args(checkpointB, b));
  add('exe', checkpointA.tolerate(() => a.exe()) ?? '', checkpointB.tolerate(() => b.exe()) ?? '');
  return values;
}

function splitFds(checkpoint: Checkpoint, process: ProcessModel): { fds: FdModel[]; sockets: FdModel[] } {
  const all = checkpoint.tolerate(() => process.fds()) ?? [];
  return { fds: all.filter((fd) => !isSocket(fd)), sockets: all.filter(isSocket) };
}

function fdCount(changes: FdChanges): number {
  return changes.added.length + changes.removed.length + changes.changed.length;
}

/** The container mounts of A and B compared, or null unless both record them. */
/** Mounts keyed by destination and, for mounts stacked on one destination, their place in the stack. */
function byPlace(mounts: readonly ContainerMount[]): Map<string, ContainerMount> {
  const seen = new Map<string, number>();
  const places = new Map<string, ContainerMount>();
  for (const mount of mounts) {
    const below = seen.get(mount.destination) ?? 0;
    seen.set(mount.destination, below + 1);
    places.set(`${mount.destination}\0${below}`, mount);
  }
  return places;
}

function compareMounts(a: Checkpoint, b: Checkpoint): MountChanges | null {
  const mountsA = checkpointMounts(a);
  const mountsB = checkpointMounts(b);
  if (!mountsA || !mountsB) return null;
  const inA = byPlace(mountsA);
  const inB = byPlace(mountsB);
  const changes: MountChanges = { added: [], removed: [], changed: [] };
  for (const [place, mount] of inA) {
    const other = inB.get(place);
    if (!other) changes.removed.push(mount);
    else if (JSON.stringify(mount) !== JSON.stringify(other)) changes.changed.push({ destination: mount.destination, a: mount, b: other });
  }
  for (const [place, mount] of inB) if (!inA.has(place)) changes.added.push(mount);
  return changes;
}

/** Compares checkpoint `a` with checkpoint `b`: processes are matched by pid, mappings by start address, descriptors by number. */
export function diffCheckpoints(a: Checkpoint, b: Checkpoint): CheckpointDiff {
  const byPidB = new Map(b.processes.map((p) => [p.pid, p]));
  const pidsA = new Set(a.processes.map((p) => p.pid));
  if (a.pageSize !== b.pageSize) throw new CriuGdbError(`the checkpoints have different page sizes (${a.pageSize} and ${b.pageSize} bytes), so their memory cannot be compared`);
  const comparer = new PageComparer(a.pageSize);
  const diff: CheckpointDiff = {
    a: a.path,
    b: b.path,
    pageBytes: a.pageSize,
    processes: {
      added: b.processes.filter((p) => !pidsA.has(p.pid)).map((p) => brief(p, b)),
      removed: a.processes.filter((p) => !byPidB.has(p.pid)).map((p) => brief(p, a)),
      changed: [],
    },
    mounts: compareMounts(a, b),
    memory: emptyTotals(),
  };
  for (const processA of a.processes) {
    const processB = byPidB.get(processA.pid);
    if (!processB) continue;
    const filesA = splitFds(a, processA);
    const filesB = splitFds(b, processB);
    const { mappings, memory } = compareMappings(processA, processB, a, b, comparer);
    const change: ProcessChange = {
      pid: processA.pid,
      comm: processB.comm,
      values: compareValues(processA, processB, a, b),
      threads: compareThreads(processA, processB),
      fds: compareFds(filesA.fds, filesB.fds),
      sockets: compareFds(filesA.sockets, filesB.sockets),
      mappings,
      memory,
    };
    addTotals(diff.memory, memory);
    const threadChanges = change.threads.added.length + change.threads.removed.length + change.threads.renamed.length;
    if (change.values.length + threadChanges + fdCount(change.fds) + fdCount(change.sockets) + change.mappings.length > 0) diff.processes.changed.push(change);
  }
  return diff;
}
