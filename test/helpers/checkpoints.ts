/**
 * Helpers for tests that use real CRIU checkpoints and their ground truth.
 *
 * Two kinds of checkpoint exist:
 * - made on this machine by test/setup/make-checkpoints.ts (what `npm test` runs first) into
 *   test/.work/checkpoints/<name>/: `checkpointDir`, `imagesDir`, `loadTruth`, `truthMemory`;
 * - committed fixtures in test/fixtures/<name>/: `fixtureDir`, `fixtureImagesDir`, `fixtureRootfs`,
 *   `loadFixtureTruth`, `fixtureMemory`.
 * A missing checkpoint is an error (the test fails) whose message says how to make it.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MappingTruth, ProcessTruth, SymbolTruth, Truth } from './truth.js';
import { TRUTH_FORMAT, parseAddress } from './truth.js';

export * from './truth.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WORK_DIR = join(REPO_ROOT, 'test', '.work');
export const CHECKPOINTS_DIR = join(WORK_DIR, 'checkpoints');
export const FIXTURES_DIR = join(REPO_ROOT, 'test', 'fixtures');

/** Checkpoints made by test/setup/make-checkpoints.ts (one per program in test/programs). */
export const CHECKPOINT_NAMES = [
  'pie_callchain',
  'static_prog',
  'named_threads',
  'fork_tree',
  'avx_regs',
  'resources',
  'incremental',
  'cxx_values',
] as const;
/**
 * Checkpoints of programs that an interpreter runs (Debian's python3.11): their executable has no symbols of
 * the program's own, so they are tested on their own rather than by the loops over CHECKPOINT_NAMES.
 */
export const INTERPRETER_CHECKPOINT_NAMES = ['py_stack'] as const;
export type CheckpointName = (typeof CHECKPOINT_NAMES)[number] | (typeof INTERPRETER_CHECKPOINT_NAMES)[number];

/** Committed fixtures (test/fixtures/<name>), made by test/setup/make-fixtures.ts. */
export const FIXTURE_NAMES = ['demo', 'pie-threads', 'avx512-zen4'] as const;
/**
 * aarch64 fixtures made in an emulated arm64 Debian (test/setup/make-arm64-fixtures.sh); `16k`: 16 KiB pages;
 * `pac`: a CPU with pointer authentication (signed return addresses on the stack).
 */
export const ARM64_FIXTURE_NAMES = [
  'arm64-threads',
  'arm64-libchain',
  'arm64-neon',
  'arm64-forktree',
  'arm64-16k-libchain',
  'arm64-16k-neon',
  'arm64-pac-libchain',
] as const;
export type Arm64FixtureName = (typeof ARM64_FIXTURE_NAMES)[number];
export type FixtureName = (typeof FIXTURE_NAMES)[number] | Arm64FixtureName;

/** Written instead of truth.json when this machine cannot make a checkpoint (e.g. no soft-dirty tracking). */
export const UNAVAILABLE_FILE = 'unavailable.json';

const HOW_TO_MAKE = 'run `npm test` (or `bash test/setup/prepare-tests.sh`) to install CRIU and gdb and make the checkpoints';

export class CheckpointUnavailableError extends Error {
  override readonly name = 'CheckpointUnavailableError';
}

export type Availability = { available: true } | { available: false; reason: string };

/** Path of the private CRIU 4.2 wrapper installed by test/setup/install-criu.sh (or $CRIU_GDB_CRIU). */
export function criuPath(): string {
  const override = process.env['CRIU_GDB_CRIU'];
  const cache = process.env['CRIU_GDB_CACHE'] ?? '/var/cache/criu-gdb';
  const path = override !== undefined && override !== '' ? override : join(cache, 'bin', 'criu');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new CheckpointUnavailableError(`CRIU is not installed at ${path}: ${HOW_TO_MAKE}`);
  }
  return path;
}

function unavailableReason(dir: string): string | null {
  const file = join(dir, UNAVAILABLE_FILE);
  if (!existsSync(file)) return null;
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof parsed === 'object' && parsed !== null && 'reason' in parsed && typeof parsed.reason === 'string') {
    return parsed.reason;
  }
  return 'unknown reason';
}

/** Whether a checkpoint exists; `available: false` gives the reason (missing, or impossible on this machine). */
export function checkpointAvailability(name: CheckpointName): Availability {
  const dir = join(CHECKPOINTS_DIR, name);
  const reason = unavailableReason(dir);
  if (reason !== null) return { available: false, reason: `checkpoint ${name} cannot be made on this machine: ${reason}` };
  if (!existsSync(join(dir, 'truth.json')) || !existsSync(join(dir, 'images', 'inventory.img'))) {
    return { available: false, reason: `checkpoint ${name} is missing in ${dir}: ${HOW_TO_MAKE}` };
  }
  return { available: true };
}

/** test/.work/checkpoints/<name>; throws (so the test fails) if the checkpoint has not been made. */
export function checkpointDir(name: CheckpointName): string {
  const availability = checkpointAvailability(name);
  if (!availability.available) throw new CheckpointUnavailableError(availability.reason);
  return join(CHECKPOINTS_DIR, name);
}

/** The CRIU images directory of a checkpoint (test/.work/checkpoints/<name>/images). */
export function imagesDir(name: CheckpointName): string {
  return join(checkpointDir(name), loadTruth(name).criu.imagesDir);
}

function isTruth(value: unknown): value is Truth {
  return (
    typeof value === 'object' &&
    value !== null &&
    'format' in value &&
    value.format === TRUTH_FORMAT &&
    'processes' in value &&
    Array.isArray(value.processes) &&
    'criu' in value &&
    typeof value.criu === 'object'
  );
}

const truthCache = new Map<string, Truth>();

function readTruthFile(dir: string): Truth {
  const file = join(dir, 'truth.json');
  const cached = truthCache.get(file);
  if (cached) return cached;
  if (!existsSync(file)) throw new CheckpointUnavailableError(`${file} is missing: ${HOW_TO_MAKE}`);
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isTruth(parsed)) {
    throw new CheckpointUnavailableError(`${file} is not truth format ${TRUTH_FORMAT}: ${HOW_TO_MAKE}`);
  }
  truthCache.set(file, parsed);
  return parsed;
}

/** The ground truth of a checkpoint made by make-checkpoints.ts. */
export function loadTruth(name: CheckpointName): Truth {
  return readTruthFile(checkpointDir(name));
}

function findMapping(proc: ProcessTruth, address: bigint): MappingTruth | undefined {
  return proc.maps.find((m) => parseAddress(m.start) <= address && address < parseAddress(m.end));
}

function mappingBytes(dir: string, truth: Truth, pid: number, start: bigint | number | string): Buffer {
  const proc = findProcess(truth, pid);
  const address = typeof start === 'string' ? parseAddress(start) : BigInt(start);
  const mapping = proc.maps.find((m) => parseAddress(m.start) === address);
  if (!mapping) throw new Error(`${truth.name}: process ${pid} has no mapping starting at 0x${address.toString(16)}`);
  const memory = mapping.memory;
  if (memory.kind !== 'bytes') {
    const why = memory.kind === 'sha256' ? 'only its sha256 was kept' : memory.reason;
    throw new Error(`${truth.name}: no bytes recorded for ${pid} mapping ${mapping.start} ${mapping.name}: ${why}`);
  }
  const buf = readFileSync(join(dir, memory.file));
  if (buf.length !== memory.size) throw new Error(`${memory.file}: ${buf.length} bytes, expected ${memory.size}`);
  return buf;
}

function rangeBytes(dir: string, truth: Truth, pid: number, address: bigint | number | string, length: number): Buffer {
  const proc = findProcess(truth, pid);
  const at = typeof address === 'string' ? parseAddress(address) : BigInt(address);
  const mapping = findMapping(proc, at);
  if (!mapping) throw new Error(`${truth.name}: address 0x${at.toString(16)} is not mapped in ${pid}`);
  const start = parseAddress(mapping.start);
  if (at + BigInt(length) > parseAddress(mapping.end)) {
    throw new Error(`${truth.name}: range at 0x${at.toString(16)} (+${length}) runs past mapping ${mapping.start}-${mapping.end}`);
  }
  const offset = Number(at - start);
  return mappingBytes(dir, truth, pid, start).subarray(offset, offset + length);
}

/** The recorded contents of the mapping of process `pid` that starts at `start`. */
export function truthMemory(name: CheckpointName, pid: number, start: bigint | number | string): Buffer {
  return mappingBytes(checkpointDir(name), loadTruth(name), pid, start);
}

/** `length` recorded bytes at any `address` inside one mapping of process `pid`. */
export function truthBytes(name: CheckpointName, pid: number, address: bigint | number | string, length: number): Buffer {
  return rangeBytes(checkpointDir(name), loadTruth(name), pid, address, length);
}

/** test/fixtures/<name>; throws if it is not there. */
export function fixtureDir(name: FixtureName): string {
  const dir = join(FIXTURES_DIR, name);
  if (!existsSync(join(dir, 'truth.json'))) {
    throw new CheckpointUnavailableError(`fixture ${name} is missing (${dir}); it is committed: restore it from git or run test/setup/make-fixtures.ts`);
  }
  return dir;
}

export function loadFixtureTruth(name: FixtureName): Truth {
  return readTruthFile(fixtureDir(name));
}

/** The fixture's CRIU images directory (test/fixtures/<name>/checkpoint). */
export function fixtureImagesDir(name: FixtureName): string {
  return join(fixtureDir(name), loadFixtureTruth(name).criu.imagesDir);
}

/** A root directory in which the fixture's recorded executable path resolves (for `--root`). */
export function fixtureRootfs(name: FixtureName): string {
  return join(fixtureDir(name), 'rootfs');
}

/** Recorded bytes of a fixture mapping (fixtures keep bytes only for small mappings, else a sha256). */
export function fixtureMemory(name: FixtureName, pid: number, start: bigint | number | string): Buffer {
  return mappingBytes(fixtureDir(name), loadFixtureTruth(name), pid, start);
}

/** `length` recorded bytes at `address` in a fixture process. */
export function fixtureBytes(name: FixtureName, pid: number, address: bigint | number | string, length: number): Buffer {
  return rangeBytes(fixtureDir(name), loadFixtureTruth(name), pid, address, length);
}

/** The process with this pid, or (given a string) with this comm. */
export function findProcess(truth: Truth, pidOrComm: number | string): ProcessTruth {
  const proc = truth.processes.find((p) => (typeof pidOrComm === 'number' ? p.pid === pidOrComm : p.comm === pidOrComm));
  if (!proc) throw new Error(`${truth.name}: no process ${pidOrComm}`);
  return proc;
}

/** The root process of the dumped tree. */
export function rootProcess(truth: Truth): ProcessTruth {
  return findProcess(truth, truth.rootPid);
}

/** A symbol of the main executable recorded for this process. */
export function findSymbol(proc: ProcessTruth, name: string): SymbolTruth {
  const sym = proc.symbols.find((s) => s.name === name);
  if (!sym) throw new Error(`process ${proc.pid}: no symbol ${name}`);
  return sym;
}

/** A fact the program reported (`fact PID key value`). */
export function fact(proc: ProcessTruth, key: string): string {
  const value = proc.facts[key];
  if (value === undefined) throw new Error(`process ${proc.pid} (${proc.comm}): no fact ${key}`);
  return value;
}
