/**
 * Exports checkpointed processes as ELF core files (`core.PID`) that gdb, lldb, readelf and other core
 * readers open like a core the kernel wrote.
 *
 * Memory: every mapping becomes PT_LOAD segments holding exactly the bytes criu-gdb's MemoryReader
 * returns (private pages, the parent chain of incremental dumps, shared memory, backing files). Bytes the
 * checkpoint does not hold (VVAR, lazy pages, a missing backing file...) are not in any segment: a mapping
 * with such a range is split around it. A core reader therefore sees a hole exactly as it sees unmapped
 * memory ("Cannot access memory at address ..." in gdb), never as invented zeros; the CRIUGDB note lists
 * each hole with its reason. Zero pages are left sparse in the file.
 *
 * Notes: see notes.ts. Layout and streaming: see core-writer.ts.
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CriuGdbError } from '../errors.js';
import type { Checkpoint } from '../model/checkpoint.js';
import type { ProcessModel } from '../model/process.js';
import { architectureFor, findArchitecture } from '../arch/architectures.js';
import { segmentFlags } from './elf.js';
import { DEFAULT_CHUNK_BYTES, runSteps, runStepsAsync, writeCoreSteps, type CoreContents, type CoreProgress, type CoreSegment } from './core-writer.js';
import type { CriuGdbUnavailableRange } from './criugdb-note.js';
import { processNotes } from './notes.js';
import { planProcessMemory } from './plan.js';

/** A range left out of the core, with the mapping it belongs to. */
export interface UnavailableInCore {
  start: bigint;
  end: bigint;
  reason: string;
  /** Name of the mapping (path, [vvar]...), empty for anonymous memory. */
  mapping: string;
}

/** What the exporter plans to write for one process. */
export interface CorePlan {
  contents: CoreContents;
  unavailable: UnavailableInCore[];
  /** Bytes of memory in the segments. */
  memoryBytes: bigint;
  /** Of those, bytes known to be zero without reading them. */
  zeroBytes: bigint;
}

/** What was written for one process. */
export interface CoreFileReport {
  pid: number;
  comm: string;
  path: string;
  threads: number;
  segments: number;
  notes: number;
  /** Memory in the core (sum of the PT_LOAD sizes). */
  memoryBytes: bigint;
  /** Memory bytes the checkpoint does not hold, left out of the core. */
  unavailableBytes: bigint;
  unavailable: UnavailableInCore[];
  /** File size. */
  apparentBytes: bigint;
  /** Disk space the file takes (st_blocks * 512). */
  allocatedBytes: bigint;
}

/** Options of an export. */
export interface CoredumpOptions {
  /** Directory for the `core.PID` files (created when missing). */
  outDir: string;
  /** Only these processes (default: every process that can be exported). */
  pids?: readonly number[] | undefined;
  /** Memory read per step, a multiple of the checkpoint's page size (default 8 MiB). */
  chunkBytes?: number | undefined;
  /** Write on a second thread while reading (default: for cores with 64 MiB of data or more). */
  threadedWrites?: boolean | undefined;
}

/** Progress of a whole export. */
export interface CoredumpProgress {
  pid: number;
  /** 1-based index of the process and how many are exported. */
  index: number;
  count: number;
  done: bigint;
  total: bigint;
}

/** Plans the segments and notes of `process`'s core. */
export function planCore(process: ProcessModel): CorePlan {
  const segments: CoreSegment[] = [];
  const unavailable: UnavailableInCore[] = [];
  let memoryBytes = 0n;
  let zeroBytes = 0n;
  for (const { mapping, spans } of planProcessMemory(process)) {
    const flags = segmentFlags(mapping.perms);
    let current: CoreSegment | undefined;
    for (const span of spans) {
      if (span.kind === 'unavailable') {
        current = undefined;
        const last = unavailable[unavailable.length - 1];
        const reason = span.reason ?? 'unavailable';
        if (last && last.end === span.start && last.reason === reason && last.mapping === mapping.name) last.end = span.end;
        else unavailable.push({ start: span.start, end: span.end, reason, mapping: mapping.name });
        continue;
      }
      if (!current) {
        current = { start: span.start, end: span.start, flags, parts: [] };
        segments.push(current);
      }
      const lastPart = current.parts[current.parts.length - 1];
      if (lastPart && lastPart.kind === span.kind && lastPart.end === span.start) lastPart.end = span.end;
      else current.parts.push({ start: span.start, end: span.end, kind: span.kind });
      current.end = span.end;
      memoryBytes += span.end - span.start;
      if (span.kind === 'zero') zeroBytes += span.end - span.start;
    }
  }
  const noteRanges: CriuGdbUnavailableRange[] = unavailable.map((u) => ({ start: `0x${u.start.toString(16)}`, end: `0x${u.end.toString(16)}`, reason: u.reason }));
  const notes = processNotes(process, noteRanges);
  const machine = architectureFor(process.arch, `pid ${process.pid}`).elfMachine;
  return { contents: { machine, pageSize: process.checkpoint.pageSize, notes, segments }, unavailable, memoryBytes, zeroBytes };
}

/** Why a process cannot be exported, or undefined when it can. */
export function notExportable(process: ProcessModel): string | undefined {
  if (process.state === 'dead' || process.state === 'zombie') return `pid ${process.pid} is a zombie: it has no memory or registers to export`;
  if (process.arch === 'unknown') return `pid ${process.pid} has no core image of its leader thread, so no registers to export`;
  if (!findArchitecture(process.arch)) return `pid ${process.pid} is an ${process.arch} process; only x86_64 and aarch64 processes can be exported`;
  return undefined;
}

/**
 * Writes `core.PID` of `process` into `outDir`, yielding progress. The core is written to a temporary file
 * next to it and renamed when complete, so a failed export leaves no partial core.
 */
export function* exportProcessSteps(
  process: ProcessModel,
  outDir: string,
  chunkBytes = DEFAULT_CHUNK_BYTES,
  threadedWrites?: boolean,
): Generator<CoreProgress, CoreFileReport> {
  const plan = planCore(process);
  const memory = process.memory();
  const read = (address: bigint, length: number): Buffer => {
    const result = memory.read(address, length);
    const first = result.unavailable[0];
    if (first) {
      throw new CriuGdbError(`pid ${process.pid}: memory at 0x${first.start.toString(16)} became unavailable while exporting (${first.reason})`);
    }
    return result.data;
  };
  const path = join(outDir, `core.${process.pid}`);
  const temporary = join(outDir, `.core.${process.pid}.${globalThis.process.pid}.tmp`);
  let fd: number | undefined = openSync(temporary, 'wx', 0o600);
  try {
    const result = yield* writeCoreSteps(fd, plan.contents, read, chunkBytes, threadedWrites === undefined ? {} : { threaded: threadedWrites });
    const stat = fstatSync(fd, { bigint: true });
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
    return {
      pid: process.pid,
      comm: process.comm,
      path,
      threads: process.tids.length,
      segments: plan.contents.segments.length,
      notes: plan.contents.notes.length,
      memoryBytes: plan.memoryBytes,
      unavailableBytes: plan.unavailable.reduce((sum, u) => sum + (u.end - u.start), 0n),
      unavailable: plan.unavailable,
      apparentBytes: result.layout.fileSize,
      allocatedBytes: stat.blocks * 512n,
    };
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // already gone
    }
    throw error;
  }
}

function selectProcesses(checkpoint: Checkpoint, pids: readonly number[] | undefined): ProcessModel[] {
  if (pids && pids.length > 0) {
    return pids.map((pid) => {
      const process = checkpoint.process(pid);
      const why = notExportable(process);
      if (why) throw new CriuGdbError(why);
      return process;
    });
  }
  const selected = checkpoint.processes.filter((p) => {
    const why = notExportable(p);
    if (why) checkpoint.warn(`${why}; no core written`);
    return why === undefined;
  });
  if (selected.length === 0) throw new CriuGdbError('no process of this checkpoint can be exported');
  return selected;
}

function* exportAllSteps(checkpoint: Checkpoint, options: CoredumpOptions): Generator<CoredumpProgress, CoreFileReport[]> {
  const processes = selectProcesses(checkpoint, options.pids);
  try {
    mkdirSync(options.outDir, { recursive: true });
  } catch (error) {
    throw new CriuGdbError(`cannot create ${options.outDir}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const reports: CoreFileReport[] = [];
  for (const [index, process] of processes.entries()) {
    const steps = exportProcessSteps(process, options.outDir, options.chunkBytes, options.threadedWrites);
    for (;;) {
      const next = steps.next();
      if (next.done) {
        reports.push(next.value);
        break;
      }
      try {
        yield { pid: process.pid, index: index + 1, count: processes.length, ...next.value };
      } catch (error) {
        // Stopped here (a cancelled request): the core being written removes its temporary file.
        try {
          steps.throw(error);
        } catch {
          // its own cleanup ran
        }
        throw error;
      }
    }
  }
  return reports;
}

/** Turns file-system failures into one-line CriuGdbErrors. */
function explained<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof CriuGdbError) throw error;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && error instanceof Error) throw new CriuGdbError(`cannot write the core: ${error.message}`);
    throw error;
  }
}

/** Exports the cores synchronously (the CLI). */
export function exportCoresSync(checkpoint: Checkpoint, options: CoredumpOptions, onProgress?: (progress: CoredumpProgress) => void): CoreFileReport[] {
  return explained(() => runSteps(exportAllSteps(checkpoint, options), onProgress));
}

/**
 * Exports the cores, letting the event loop run between chunks (the gdb helper, which also serves gdb);
 * `signal` stops the export, removing the core being written.
 */
export async function exportCores(
  checkpoint: Checkpoint,
  options: CoredumpOptions,
  onProgress?: (progress: CoredumpProgress) => Promise<void> | void,
  signal?: AbortSignal,
): Promise<CoreFileReport[]> {
  const steps = exportAllSteps(checkpoint, options);
  try {
    return await runStepsAsync(steps, onProgress, 20, signal);
  } catch (error) {
    return explained(() => {
      throw error;
    });
  }
}

function size(bytes: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The reports as text: one line per core, then its holes. */
export function formatReports(reports: readonly CoreFileReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(
      `${r.path}: pid ${r.pid} (${r.comm}), ${r.threads} thread${r.threads === 1 ? '' : 's'}, ${r.segments} segments, ` +
        `${size(r.memoryBytes)} of memory; file ${size(r.apparentBytes)}, ${size(r.allocatedBytes)} on disk`,
    );
    for (const u of r.unavailable) {
      lines.push(`  not in the core: 0x${u.start.toString(16)}-0x${u.end.toString(16)}${u.mapping ? ` ${u.mapping}` : ''}: ${u.reason}`);
    }
  }
  return lines.join('\n');
}
