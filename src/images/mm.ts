/**
 * mm-PID.img: the address space of a process. Lists the mappings (VMAs) with CRIU's classification of
 * each, the saved auxiliary vector and the code/data/brk/stack/argument/environment bounds. The oldest
 * dumps keep the mappings in a separate vmas-PID.img instead.
 */
import { checkBudget } from '../budget.js';
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { type Decoded, i64, num, optBool, optNum, optU64, subs, u64, u64s } from './fields.js';
import { EntryReader, readSingleEntry, type Entry } from './framing.js';
import { Magic } from './magic.js';
import { WireReader } from './wire.js';

/** Field numbers of MmEntry that repeat (proto/mm.proto). */
const MM_SAVED_AUXV = 13;
const MM_VMAS = 14;

/**
 * Bits of VmaEntry.status (CRIU's VMA_AREA_*, VMA_FILE_*, VMA_ANON_* and internal flags).
 * Bit 4 is unused (it once was a dump-time flag and never reaches images).
 */
export const VMA_STATUS = {
  /** Ordinary mapping whose content is dumped and restored. */
  REGULAR: 1 << 0,
  STACK: 1 << 1,
  VSYSCALL: 1 << 2,
  VDSO: 1 << 3,
  HEAP: 1 << 5,
  FILE_PRIVATE: 1 << 6,
  FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8,
  ANON_PRIVATE: 1 << 9,
  SYSVIPC: 1 << 10,
  SOCKET: 1 << 11,
  VVAR: 1 << 12,
  AIORING: 1 << 13,
  MEMFD: 1 << 14,
  /** Shadow stack (CET). */
  SHSTK: 1 << 15,
  /** Not a real VMA: a range covered by MADV_GUARD_INSTALL guards, listed after the real ones. */
  GUARD: 1 << 16,
  UPROBES: 1 << 17,
  EXT_PLUGIN: 1 << 27,
  CLOSE: 1 << 28,
  NO_PROT_WRITE: 1 << 29,
  PREMMAPED: 1 << 30,
  UNSUPPORTED: 0x8000_0000,
} as const;

/** MAP_GROWSDOWN in VmaEntry.flags (same value on x86-64 and AArch64). */
export const MAP_GROWSDOWN = 0x0100;
/** MAP_SHARED in VmaEntry.flags. */
export const MAP_SHARED = 0x01;
/** MAP_PRIVATE in VmaEntry.flags. */
export const MAP_PRIVATE = 0x02;
/** MAP_ANONYMOUS in VmaEntry.flags. */
export const MAP_ANONYMOUS = 0x20;
/** PROT_READ in VmaEntry.prot. */
export const PROT_READ = 0x1;
/** PROT_WRITE in VmaEntry.prot. */
export const PROT_WRITE = 0x2;
/** PROT_EXEC in VmaEntry.prot. */
export const PROT_EXEC = 0x4;

/** What a mapping is, from most to least specific. */
export type VmaKind =
  | 'vsyscall'
  | 'vdso'
  | 'vvar'
  | 'uprobes'
  | 'guard'
  | 'sysvipc'
  | 'socket'
  | 'aio'
  | 'memfd'
  | 'shadow-stack'
  | 'heap'
  | 'stack'
  | 'file-private'
  | 'file-shared'
  | 'anon-shared'
  | 'anon-private'
  | 'unsupported'
  | 'unknown';

const KIND_ORDER: Array<[number, VmaKind]> = [
  [VMA_STATUS.VSYSCALL, 'vsyscall'],
  [VMA_STATUS.VDSO, 'vdso'],
  [VMA_STATUS.VVAR, 'vvar'],
  [VMA_STATUS.UPROBES, 'uprobes'],
  [VMA_STATUS.GUARD, 'guard'],
  [VMA_STATUS.SYSVIPC, 'sysvipc'],
  [VMA_STATUS.SOCKET, 'socket'],
  [VMA_STATUS.AIORING, 'aio'],
  [VMA_STATUS.MEMFD, 'memfd'],
  [VMA_STATUS.SHSTK, 'shadow-stack'],
  [VMA_STATUS.HEAP, 'heap'],
  [VMA_STATUS.STACK, 'stack'],
  [VMA_STATUS.FILE_PRIVATE, 'file-private'],
  [VMA_STATUS.FILE_SHARED, 'file-shared'],
  [VMA_STATUS.ANON_SHARED, 'anon-shared'],
  [VMA_STATUS.ANON_PRIVATE, 'anon-private'],
  [VMA_STATUS.UNSUPPORTED, 'unsupported'],
];

/**
 * Classifies a mapping from its status bits. CRIU no longer sets the STACK bit, so pass the mapping's
 * MAP_* `flags` too to recognise stacks by MAP_GROWSDOWN.
 */
export function vmaKind(status: number, flags = 0): VmaKind {
  for (const [bit, kind] of KIND_ORDER) {
    if ((status & bit) === 0) continue;
    if ((kind === 'anon-private' || kind === 'anon-shared') && (flags & MAP_GROWSDOWN) !== 0) return 'stack';
    return kind;
  }
  return 'unknown';
}

/** One mapping. */
export interface Vma {
  start: bigint;
  /** Exclusive end. */
  end: bigint;
  /** Offset in the mapped file, in bytes. */
  pgoff: bigint;
  /** Backing object: regular-files id for file mappings, shmem id for shared anonymous memory, SysV id... */
  shmid: bigint;
  /** PROT_* bits. */
  prot: number;
  /** MAP_* bits. */
  flags: number;
  /** Raw status bits ({@link VMA_STATUS}). */
  status: number;
  kind: VmaKind;
  /** `rwxp`-style permissions as /proc/PID/maps prints them. */
  perms: string;
  /** Private (copy-on-write) content, dumped into the pages images. */
  isPrivate: boolean;
  /** Backed by a file (regular, memfd, SysV segment or socket). */
  isFileBacked: boolean;
  /** Historical field, normally -1. */
  fd: bigint;
  /** madvise advice in effect, bit n for advice n. */
  madv?: bigint;
  /** open(2) flags of the mapped file. */
  fdflags?: number;
}

/** An AIO ring of the process. */
export interface AioRing {
  id: bigint;
  nrReq: number;
  ringLen: number;
}

/** One auxiliary-vector entry. */
export interface AuxvEntry {
  type: bigint;
  value: bigint;
}

/** Decoded mm-PID.img. */
export interface MmImage {
  vmas: Vma[];
  /** The saved auxiliary vector as stored: type, value, type, value... */
  auxv: bigint[];
  /** The auxiliary vector as pairs, up to (not including) AT_NULL. */
  auxvEntries: AuxvEntry[];
  startCode: bigint;
  endCode: bigint;
  startData: bigint;
  endData: bigint;
  startStack: bigint;
  startBrk: bigint;
  brk: bigint;
  argStart: bigint;
  argEnd: bigint;
  envStart: bigint;
  envEnd: bigint;
  /** Regular-files id of the executable. */
  exeFileId: number;
  /** prctl PR_GET_DUMPABLE value. */
  dumpable?: number;
  thpDisabled?: boolean;
  aios: AioRing[];
}

const PAGE_MASK = 0xfffn;

/** Converts one `VmaEntry`, checking that it is a page-aligned, non-empty range. */
export function decodeVma(message: Decoded, image: string, offset: number): Vma {
  const start = u64(message, 'start');
  const end = u64(message, 'end');
  if ((start & PAGE_MASK) !== 0n || (end & PAGE_MASK) !== 0n) {
    throw new ImageError('bad-value', image, offset, `mapping 0x${start.toString(16)}-0x${end.toString(16)} is not page-aligned`);
  }
  if (end <= start) throw new ImageError('bad-value', image, offset, `mapping 0x${start.toString(16)}-0x${end.toString(16)} ends before it starts`);
  const prot = num(message, 'prot');
  const flags = num(message, 'flags');
  const status = num(message, 'status') >>> 0;
  const s = (bit: number): boolean => (status & bit) !== 0;
  const vma: Vma = {
    start,
    end,
    pgoff: u64(message, 'pgoff'),
    shmid: u64(message, 'shmid'),
    prot,
    flags,
    status,
    kind: vmaKind(status, flags),
    perms:
      (prot & PROT_READ ? 'r' : '-') +
      (prot & PROT_WRITE ? 'w' : '-') +
      (prot & PROT_EXEC ? 'x' : '-') +
      (flags & MAP_SHARED ? 's' : 'p'),
    isPrivate: s(VMA_STATUS.ANON_PRIVATE) || s(VMA_STATUS.FILE_PRIVATE),
    isFileBacked: s(VMA_STATUS.FILE_PRIVATE) || s(VMA_STATUS.FILE_SHARED) || s(VMA_STATUS.SYSVIPC) || s(VMA_STATUS.SOCKET) || s(VMA_STATUS.MEMFD),
    fd: i64(message, 'fd'),
  };
  const madv = optU64(message, 'madv');
  if (madv !== undefined) vma.madv = madv;
  const fdflags = optNum(message, 'fdflags');
  if (fdflags !== undefined) vma.fdflags = fdflags;
  return vma;
}

/** Checks that real mappings are sorted and do not overlap (guard ranges are exempt). */
function checkOrder(vmas: Array<{ vma: Vma; offset: number }>, image: string): void {
  let previous: Vma | undefined;
  for (const { vma, offset } of vmas) {
    if (vma.kind === 'guard') continue;
    if (previous && vma.start < previous.end) {
      throw new ImageError(
        'bad-value',
        image,
        offset,
        `mapping 0x${vma.start.toString(16)}-0x${vma.end.toString(16)} overlaps or precedes 0x${previous.start.toString(16)}-0x${previous.end.toString(16)}`,
      );
    }
    previous = vma;
  }
}

/**
 * Reads mm-PID.img of process `pid` (which must exist). When it lists no mapping, as in the oldest
 * dumps, the mappings are read from vmas-PID.img if that exists.
 */
export function readMm(dir: ImageDirectory, pid: number): MmImage {
  const name = `mm-${pid}.img`;
  const label = dir.labelPrefix + name;
  // The counts are checked on the wire, before the decoder allocates an object per element.
  const { message, offset } = readSingleEntry(dir, name, Magic.mm, 'MmEntry', (payload, at) => {
    checkBudget('AUXV_WORDS', new WireReader(payload, label, at + 4).countRepeated(MM_SAVED_AUXV, true), `${label}: saved auxiliary vector words`);
    checkBudget('MAPPINGS', new WireReader(payload, label, at + 4).countRepeated(MM_VMAS, false), `${label}: mappings`);
  });
  let placed = subs(message, 'vmas').map((m) => ({ vma: decodeVma(m, label, offset), offset }));
  let vmaLabel = label;
  const vmasName = `vmas-${pid}.img`;
  const vmasFile = placed.length === 0 ? dir.tryOpen(vmasName) : undefined;
  if (vmasFile) {
    vmaLabel = vmasFile.label;
    const reader = new EntryReader(vmasFile, Magic.vmas);
    for (let entry: Entry | undefined = reader.next('VmaEntry'); entry; entry = reader.next('VmaEntry')) {
      checkBudget('MAPPINGS', placed.length + 1, `${vmaLabel}: mappings`);
      placed.push({ vma: decodeVma(entry.message, vmaLabel, entry.offset), offset: entry.offset });
    }
  }
  checkOrder(placed, vmaLabel);
  const auxv = u64s(message, 'mm_saved_auxv');
  if (auxv.length % 2 !== 0) throw new ImageError('bad-value', label, offset, `saved auxiliary vector has an odd number of words (${auxv.length})`);
  const auxvEntries: AuxvEntry[] = [];
  for (let i = 0; i + 1 < auxv.length; i += 2) {
    const type = auxv[i] ?? 0n;
    if (type === 0n) break;
    auxvEntries.push({ type, value: auxv[i + 1] ?? 0n });
  }
  const mm: MmImage = {
    vmas: placed.map((p) => p.vma),
    auxv,
    auxvEntries,
    startCode: u64(message, 'mm_start_code'),
    endCode: u64(message, 'mm_end_code'),
    startData: u64(message, 'mm_start_data'),
    endData: u64(message, 'mm_end_data'),
    startStack: u64(message, 'mm_start_stack'),
    startBrk: u64(message, 'mm_start_brk'),
    brk: u64(message, 'mm_brk'),
    argStart: u64(message, 'mm_arg_start'),
    argEnd: u64(message, 'mm_arg_end'),
    envStart: u64(message, 'mm_env_start'),
    envEnd: u64(message, 'mm_env_end'),
    exeFileId: num(message, 'exe_file_id'),
    aios: subs(message, 'aios').map((a) => ({ id: u64(a, 'id'), nrReq: num(a, 'nr_req'), ringLen: num(a, 'ring_len') })),
  };
  const dumpable = optNum(message, 'dumpable');
  if (dumpable !== undefined) mm.dumpable = dumpable;
  const thp = optBool(message, 'thp_disabled');
  if (thp !== undefined) mm.thpDisabled = thp;
  return mm;
}
