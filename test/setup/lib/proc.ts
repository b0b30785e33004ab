/**
 * Reading live processes through /proc, and small ELF facts, for the ground truth of test checkpoints.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  statSync,
  writeSync,
} from 'node:fs';
import type {
  AddressRange,
  AuxvEntry,
  FdTruth,
  MappedFileTruth,
  MappingTruth,
  MemoryTruth,
} from '../../helpers/truth.js';
import { formatAddress } from '../../helpers/truth.js';

export const PAGE_SIZE = 4096;

export interface StatFields {
  comm: string;
  state: string;
  ppid: number;
  pgid: number;
  sid: number;
}

/** Parses /proc/PID/stat or /proc/PID/task/TID/stat; null when the task is gone. */
export function readStat(path: string): StatFields | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  const field = (i: number): string => {
    const v = rest[i];
    if (v === undefined) throw new Error(`${path}: short stat line`);
    return v;
  };
  return {
    comm: text.slice(open + 1, close),
    state: field(0),
    ppid: Number(field(1)),
    pgid: Number(field(2)),
    sid: Number(field(3)),
  };
}

export function processState(pid: number): string | null {
  return readStat(`/proc/${pid}/stat`)?.state ?? null;
}

export function listTids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** State letters of every thread of the process (missing threads are skipped). */
export function threadStates(pid: number): string[] {
  const states: string[] = [];
  for (const tid of listTids(pid)) {
    const st = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (st) states.push(st.state);
  }
  return states;
}

/** Direct children of a process, from every thread's `children` file. */
export function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  for (const tid of listTids(pid)) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const word of text.split(/\s+/)) if (word !== '') out.add(Number(word));
  }
  return [...out].sort((a, b) => a - b);
}

/** The process tree under `root`, breadth-first, children by pid. */
export function processTree(root: number): number[] {
  const order: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    if (pid === undefined) break;
    order.push(pid);
    queue.push(...childrenOf(pid));
  }
  return order;
}

export function isAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== null && state !== 'Z' && state !== 'X';
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

export function readNulList(path: string): string[] {
  const text = readFileSync(path).toString('utf8');
  const parts = text.split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export function statusField(status: string, name: string): string {
  const match = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status);
  if (!match || match[1] === undefined) throw new Error(`no ${name} in /proc status`);
  return match[1].trim();
}

export interface MapsLine {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  dev: string;
  inode: number;
  name: string;
}

export function parseMaps(text: string): MapsLine[] {
  const out: MapsLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`unexpected maps line: ${line}`);
    const [, start, end, perms, offset, dev, inode, name] = m;
    if (start === undefined || end === undefined || perms === undefined || offset === undefined) continue;
    out.push({
      start: BigInt(`0x${start}`),
      end: BigInt(`0x${end}`),
      perms,
      offset: BigInt(`0x${offset}`),
      dev: dev ?? '',
      inode: Number(inode),
      name: name ?? '',
    });
  }
  return out;
}

const SKIPPED_MAPPINGS = new Set(['[vvar]', '[vvar_vclock]', '[vsyscall]']);

export interface MemoryReadOptions {
  /** Directory where `file` paths are relative to (the truth.json directory). */
  baseDir: string;
  /** Directory for the mapping files, relative to baseDir (e.g. `truth-mem`). */
  memDir: string;
  /** Whether to keep a mapping's bytes in memDir; if not, only its sha256 is kept. */
  keepBytes: (line: MapsLine) => boolean;
}

function isZero(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Reads every mapping of a stopped process from /proc/PID/mem and describes it as MemoryTruth.
 * Memory files are written sparse (all-zero pages are holes).
 */
export function readMappings(pid: number, lines: MapsLine[], opts: MemoryReadOptions): MappingTruth[] {
  const memFd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    return lines.map((line) => ({
      start: formatAddress(line.start),
      end: formatAddress(line.end),
      perms: line.perms,
      offset: formatAddress(line.offset),
      dev: line.dev,
      inode: line.inode,
      name: line.name,
      memory: readOneMapping(pid, memFd, line, opts),
    }));
  } finally {
    closeSync(memFd);
  }
}

function readOneMapping(pid: number, memFd: number, line: MapsLine, opts: MemoryReadOptions): MemoryTruth {
  if (SKIPPED_MAPPINGS.has(line.name)) return { kind: 'skipped', reason: `${line.name} is not process memory` };
  if (!line.perms.startsWith('r')) return { kind: 'skipped', reason: 'mapping is not readable' };
  const size = Number(line.end - line.start);
  const keepBytes = opts.keepBytes(line);
  const relFile = `${opts.memDir}/${pid}-${line.start.toString(16)}.bin`;
  const outFd = keepBytes ? openSync(`${opts.baseDir}/${relFile}`, 'w') : -1;
  const hash = createHash('sha256');
  const unreadable: AddressRange[] = [];
  const chunkSize = 1 << 20;
  const chunk = Buffer.alloc(chunkSize);
  let readAny = false;
  let firstError = '';
  try {
    for (let off = 0; off < size; off += chunkSize) {
      const len = Math.min(chunkSize, size - off);
      chunk.fill(0, 0, len);
      const addr = Number(line.start) + off;
      let whole = false;
      try {
        whole = readSync(memFd, chunk, 0, len, addr) === len;
      } catch {
        whole = false;
      }
      if (whole) {
        readAny = true;
      } else {
        // Page by page, to find which pages cannot be read (e.g. a file mapping past EOF).
        chunk.fill(0, 0, len);
        for (let p = 0; p < len; p += PAGE_SIZE) {
          let ok = false;
          try {
            ok = readSync(memFd, chunk, p, PAGE_SIZE, addr + p) === PAGE_SIZE;
          } catch (err) {
            if (firstError === '') firstError = err instanceof Error ? err.message : String(err);
          }
          if (ok) {
            readAny = true;
          } else {
            chunk.fill(0, p, p + PAGE_SIZE);
            const pageStart = formatAddress(BigInt(addr + p));
            const pageEnd = formatAddress(BigInt(addr + p + PAGE_SIZE));
            const last = unreadable[unreadable.length - 1];
            if (last && last.end === pageStart) last.end = pageEnd;
            else unreadable.push({ start: pageStart, end: pageEnd });
          }
        }
      }
      hash.update(chunk.subarray(0, len));
      if (outFd >= 0) {
        for (let p = 0; p < len; p += PAGE_SIZE) {
          if (!isZero(chunk, p, p + PAGE_SIZE)) writeSync(outFd, chunk, p, PAGE_SIZE, off + p);
        }
      }
    }
    if (outFd >= 0) ftruncateSync(outFd, size);
  } finally {
    if (outFd >= 0) closeSync(outFd);
  }
  if (!readAny) return { kind: 'unreadable', reason: firstError || 'no page could be read' };
  const sha256 = hash.digest('hex');
  if (keepBytes) return { kind: 'bytes', file: relFile, size, sha256, unreadable };
  return { kind: 'sha256', size, sha256, unreadable };
}

/** Reads `length` bytes at `address` from a stopped process; null if not readable. */
export function readProcessMemory(pid: number, address: bigint, length: number): Buffer | null {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const buf = Buffer.alloc(length);
    return readSync(fd, buf, 0, length, Number(address)) === length ? buf : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

export function readFds(pid: number): FdTruth[] {
  const fds = readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
  const out: FdTruth[] = [];
  for (const fd of fds) {
    let target: string;
    let fdinfo: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      fdinfo = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const pos = /^pos:\s*(\d+)/m.exec(fdinfo)?.[1];
    const flags = /^flags:\s*([0-7]+)/m.exec(fdinfo)?.[1];
    out.push({ fd, target, pos: Number(pos ?? 0), flags: flags ?? '', fdinfo });
  }
  return out;
}

const AUXV_NAMES: Record<number, string> = {
  0: 'AT_NULL',
  2: 'AT_EXECFD',
  3: 'AT_PHDR',
  4: 'AT_PHENT',
  5: 'AT_PHNUM',
  6: 'AT_PAGESZ',
  7: 'AT_BASE',
  8: 'AT_FLAGS',
  9: 'AT_ENTRY',
  11: 'AT_UID',
  12: 'AT_EUID',
  13: 'AT_GID',
  14: 'AT_EGID',
  15: 'AT_PLATFORM',
  16: 'AT_HWCAP',
  17: 'AT_CLKTCK',
  23: 'AT_SECURE',
  24: 'AT_BASE_PLATFORM',
  25: 'AT_RANDOM',
  26: 'AT_HWCAP2',
  27: 'AT_RSEQ_FEATURE_SIZE',
  28: 'AT_RSEQ_ALIGN',
  29: 'AT_HWCAP3',
  30: 'AT_HWCAP4',
  31: 'AT_EXECFN',
  32: 'AT_SYSINFO',
  33: 'AT_SYSINFO_EHDR',
  47: 'AT_L1D_CACHESIZE',
  51: 'AT_MINSIGSTKSZ',
};

export function readAuxv(pid: number): AuxvEntry[] {
  const buf = readFileSync(`/proc/${pid}/auxv`);
  const out: AuxvEntry[] = [];
  for (let off = 0; off + 16 <= buf.length; off += 16) {
    const type = Number(buf.readBigUInt64LE(off));
    const value = buf.readBigUInt64LE(off + 8);
    out.push({ type, name: AUXV_NAMES[type] ?? `AT_${type}`, value: formatAddress(value) });
    if (type === 0) break;
  }
  return out;
}

export interface ElfInfo {
  type: 'exec' | 'dyn' | 'other';
  hasInterp: boolean;
  buildId: string | null;
  /** p_vaddr of the PT_LOAD segment with p_offset 0 (page-aligned), if any. */
  firstLoadVaddr: bigint | null;
}

/** Reads an ELF64 little-endian file's type, PT_INTERP presence, build id and first PT_LOAD. */
export function readElfInfo(path: string): ElfInfo | null {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return null;
  }
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) return null;
  const eType = buf.readUInt16LE(16);
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  let hasInterp = false;
  let buildId: string | null = null;
  let firstLoadVaddr: bigint | null = null;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > buf.length) break;
    const pType = buf.readUInt32LE(ph);
    const pOffset = buf.readBigUInt64LE(ph + 8);
    const pVaddr = buf.readBigUInt64LE(ph + 16);
    const pFilesz = Number(buf.readBigUInt64LE(ph + 32));
    if (pType === 3) hasInterp = true;
    if (pType === 1 && pOffset === 0n && firstLoadVaddr === null) firstLoadVaddr = pVaddr & ~BigInt(PAGE_SIZE - 1);
    if (pType === 4 && buildId === null) {
      let off = Number(pOffset);
      const end = off + pFilesz;
      while (off + 12 <= end && off + 12 <= buf.length) {
        const namesz = buf.readUInt32LE(off);
        const descsz = buf.readUInt32LE(off + 4);
        const ntype = buf.readUInt32LE(off + 8);
        const nameStart = off + 12;
        const descStart = nameStart + ((namesz + 3) & ~3);
        const name = buf.subarray(nameStart, nameStart + Math.max(0, namesz - 1)).toString('latin1');
        if (ntype === 3 && name === 'GNU') {
          buildId = buf.subarray(descStart, descStart + descsz).toString('hex');
          break;
        }
        off = descStart + ((descsz + 3) & ~3);
      }
    }
  }
  return { type: eType === 2 ? 'exec' : eType === 3 ? 'dyn' : 'other', hasInterp, buildId, firstLoadVaddr };
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Unique regular files mapped by the process, hashed (paths that no longer exist are left out). */
export function mappedFiles(lines: MapsLine[]): MappedFileTruth[] {
  const paths = new Set<string>();
  for (const line of lines) if (line.name.startsWith('/') && line.inode !== 0) paths.add(line.name);
  const out: MappedFileTruth[] = [];
  for (const path of [...paths].sort()) {
    if (!existsSync(path)) continue;
    const st = statSync(path);
    if (!st.isFile()) continue;
    out.push({ path, size: st.size, sha256: sha256File(path), buildId: readElfInfo(path)?.buildId ?? null });
  }
  return out;
}
