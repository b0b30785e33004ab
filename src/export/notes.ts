/**
 * The notes of an x86-64 or AArch64 Linux core for one checkpointed process, in the order Linux writes them:
 *
 *   first thread (the leader): NT_PRSTATUS, NT_PRPSINFO, [NT_SIGINFO], NT_AUXV, NT_FILE, then its registers
 *   every other thread:        NT_PRSTATUS, [NT_SIGINFO], then its registers
 *   then:                      CRIUGDB (criu-gdb's own note, see criugdb-note.ts)
 *
 * where the registers are, on x86-64: NT_FPREGSET, NT_X86_XSTATE, NT_X86_XSAVE_LAYOUT (leader only),
 * [NT_X86_SHSTK]; on AArch64: NT_FPREGSET (struct user_fpsimd_state: v0-v31, fpsr, fpcr, 8 reserved bytes,
 * 528 bytes), NT_ARM_TLS (tpidr), [NT_ARM_PAC_MASK], [NT_ARM_PACA_KEYS, NT_ARM_PACG_KEYS when CRIU saved
 * the keys].
 *
 * Readers attach NT_SIGINFO and the register notes to the thread of the NT_PRSTATUS before them; the first
 * NT_PRSTATUS is the thread gdb selects, so the leader comes first.
 *
 * Layouts (x86-64): struct elf_prstatus is 336 bytes (siginfo 0, cursig 12, sigpend 16, sighold 24, pid 32,
 * ppid 36, pgrp 40, sid 44, four timevals 48..111, 27 general registers 112..327 in user_regs_struct order,
 * fpvalid 328); struct elf_prpsinfo is 136 bytes (state 0, sname 1, zomb 2, nice 3, flag 8, uid 16, gid 20,
 * pid 24, ppid 28, pgrp 32, sid 36, fname 40 (16), psargs 56 (80)); NT_FILE is count, page size, then
 * (start, end, offset in pages) per file mapping, then the NUL-terminated names.
 * AArch64: struct elf_prstatus is 392 bytes, the same up to 111, then 34 registers (x0-x30, sp, pc,
 * pstate) at 112..383 and fpvalid at 384; struct elf_prpsinfo is the same 136 bytes as on x86-64.
 */
import { CriuGdbError } from '../errors.js';
import { packageVersion } from '../package.js';
import type { ThreadRegisterState } from '../arch/architecture.js';
import type { Aarch64LiveRegisters } from '../arch/aarch64/syscall-restart.js';
import type { Aarch64Registers, Registers, X86GpRegisters, X86Registers } from '../images/registers.js';
import type { SigInfo } from '../images/signals.js';
import type { ProcessModel } from '../model/process.js';
import type { Mapping } from '../model/types.js';
import { CRIUGDB_INFO_FORMAT, encodeCriuGdbNote, type CriuGdbThreadInfo, type CriuGdbUnavailableRange } from './criugdb-note.js';
import { NT, type Note } from './elf.js';
import { encodeFxsave, encodeXsave, encodeXsaveLayout } from './xstate.js';

export const PRSTATUS_SIZE = 336;
/** struct elf_prstatus on AArch64. */
export const AARCH64_PRSTATUS_SIZE = 392;
/** struct user_fpsimd_state (NT_FPREGSET on AArch64). */
export const AARCH64_FPSIMD_SIZE = 528;
export const PRPSINFO_SIZE = 136;
export const SIGINFO_SIZE = 128;
/** Bytes of the command line kept in pr_psargs (ELF_PRARGSZ - 1 and a NUL). */
const PSARGS_SIZE = 80;

/** x86-64 general registers in struct user_regs_struct order. */
const GP_ORDER: ReadonlyArray<keyof Omit<X86GpRegisters, 'mode'>> = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
  'origRax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fsBase', 'gsBase', 'ds', 'es', 'fs', 'gs',
];

/** What NT_PRSTATUS says about one thread. */
export interface PrstatusFields {
  /** Current signal (pr_cursig and pr_info.si_signo); 0 for none. */
  cursig: number;
  /** Pending signals of the thread, bit n-1 for signal n. */
  sigpend: bigint;
  /** Blocked signals, bit n-1 for signal n. */
  sighold: bigint;
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  gp: X86GpRegisters;
  fpvalid: boolean;
}

/** The architecture-independent start of struct elf_prstatus (bytes 0..111). */
function prstatusHead(size: number, f: Omit<PrstatusFields, 'gp' | 'fpvalid'>): Buffer {
  const out = Buffer.alloc(size);
  out.writeInt32LE(f.cursig, 0); // pr_info.si_signo
  out.writeInt16LE(f.cursig, 12);
  out.writeBigUInt64LE(BigInt.asUintN(64, f.sigpend), 16);
  out.writeBigUInt64LE(BigInt.asUintN(64, f.sighold), 24);
  out.writeInt32LE(f.pid, 32);
  out.writeInt32LE(f.ppid, 36);
  out.writeInt32LE(f.pgrp, 40);
  out.writeInt32LE(f.sid, 44);
  return out;
}

/** struct elf_prstatus (x86-64). CPU times are not in the images: they stay 0. */
export function encodePrstatus(f: PrstatusFields): Buffer {
  const out = prstatusHead(PRSTATUS_SIZE, f);
  GP_ORDER.forEach((name, i) => out.writeBigUInt64LE(BigInt.asUintN(64, f.gp[name]), 112 + i * 8));
  out.writeInt32LE(f.fpvalid ? 1 : 0, 328);
  return out;
}

/** What NT_PRSTATUS says about one AArch64 thread. */
export interface Aarch64PrstatusFields extends Omit<PrstatusFields, 'gp' | 'fpvalid'> {
  regs: Aarch64Registers;
}

/** struct elf_prstatus (AArch64): pr_reg is x0-x30, sp, pc, pstate; the FP/SIMD set is always saved. */
export function encodeAarch64Prstatus(f: Aarch64PrstatusFields): Buffer {
  const out = prstatusHead(AARCH64_PRSTATUS_SIZE, f);
  const words = [...f.regs.x, f.regs.sp, f.regs.pc, f.regs.pstate];
  words.forEach((value, i) => out.writeBigUInt64LE(BigInt.asUintN(64, value), 112 + i * 8));
  out.writeInt32LE(1, 384);
  return out;
}

/** NT_FPREGSET on AArch64: struct user_fpsimd_state. */
export function encodeAarch64Fpsimd(regs: Aarch64Registers): Buffer {
  const out = Buffer.alloc(AARCH64_FPSIMD_SIZE);
  regs.v.forEach((v, i) => v.copy(out, i * 16, 0, 16));
  out.writeUInt32LE(regs.fpsr >>> 0, 512);
  out.writeUInt32LE(regs.fpcr >>> 0, 516);
  return out;
}

function u128(values: readonly bigint[]): Buffer {
  const out = Buffer.alloc(values.length * 16);
  values.forEach((value, i) => {
    out.writeBigUInt64LE(BigInt.asUintN(64, value), i * 16);
    out.writeBigUInt64LE(BigInt.asUintN(64, value >> 64n), i * 16 + 8);
  });
  return out;
}

/** What NT_PRPSINFO says about the process. */
export interface PrpsinfoFields {
  /** pr_state: 0 R, 1 S, 2 D, 3 T, 4 Z (Linux's numbering). */
  state: number;
  sname: string;
  zombie: boolean;
  nice: number;
  flags: bigint;
  uid: number;
  gid: number;
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
  /** comm, at most 15 bytes kept. */
  fname: string;
  /** Start of the argument area, NULs already turned into spaces; at most 79 bytes kept. */
  psargs: Buffer;
}

/** struct elf_prpsinfo (x86-64). */
export function encodePrpsinfo(f: PrpsinfoFields): Buffer {
  const out = Buffer.alloc(PRPSINFO_SIZE);
  out.writeInt8(f.state, 0);
  out.write(f.sname.slice(0, 1), 1, 'latin1');
  out.writeInt8(f.zombie ? 1 : 0, 2);
  out.writeInt8(Math.max(-128, Math.min(127, f.nice)), 3);
  out.writeBigUInt64LE(BigInt.asUintN(64, f.flags), 8);
  out.writeUInt32LE(f.uid >>> 0, 16);
  out.writeUInt32LE(f.gid >>> 0, 20);
  out.writeInt32LE(f.pid, 24);
  out.writeInt32LE(f.ppid, 28);
  out.writeInt32LE(f.pgrp, 32);
  out.writeInt32LE(f.sid, 36);
  Buffer.from(f.fname, 'utf8').copy(out, 40, 0, 15);
  f.psargs.copy(out, 56, 0, PSARGS_SIZE - 1);
  return out;
}

/** One file mapping of NT_FILE. */
export interface FileMappingEntry {
  start: bigint;
  end: bigint;
  /** Offset in the file, in bytes (page-aligned). */
  offset: bigint;
  name: string;
}

/** NT_FILE: the file mappings, offsets in units of the checkpoint's page size as Linux writes them. */
export function encodeFileNote(entries: readonly FileMappingEntry[], pageSize: bigint): Buffer {
  const names = Buffer.concat(entries.map((e) => Buffer.from(`${e.name}\0`, 'utf8')));
  const out = Buffer.alloc(16 + entries.length * 24 + names.length);
  out.writeBigUInt64LE(BigInt(entries.length), 0);
  out.writeBigUInt64LE(pageSize, 8);
  entries.forEach((e, i) => {
    out.writeBigUInt64LE(e.start, 16 + i * 24);
    out.writeBigUInt64LE(e.end, 24 + i * 24);
    out.writeBigUInt64LE(e.offset / pageSize, 32 + i * 24);
  });
  names.copy(out, 16 + entries.length * 24);
  return out;
}

/** Decodes NT_FILE (for tests and tools). */
export function decodeFileNote(desc: Buffer): FileMappingEntry[] {
  const count = Number(desc.readBigUInt64LE(0));
  const pageSize = desc.readBigUInt64LE(8);
  const names = desc.subarray(16 + count * 24).toString('utf8').split('\0');
  return Array.from({ length: count }, (_, i) => ({
    start: desc.readBigUInt64LE(16 + i * 24),
    end: desc.readBigUInt64LE(24 + i * 24),
    offset: desc.readBigUInt64LE(32 + i * 24) * pageSize,
    name: names[i] ?? '',
  }));
}

/** NT_AUXV: the saved vector up to and including its AT_NULL entry. */
export function encodeAuxv(words: readonly bigint[]): Buffer {
  let length = words.length - (words.length % 2);
  for (let i = 0; i + 1 < words.length; i += 2) {
    if (words[i] === 0n) {
      length = i + 2;
      break;
    }
  }
  const out = Buffer.alloc(length * 8);
  for (let i = 0; i < length; i++) out.writeBigUInt64LE(BigInt.asUintN(64, words[i] ?? 0n), i * 8);
  return out;
}

/** Signals the kernel delivers before any other (synchronous faults), in its order. */
const SYNCHRONOUS = [11, 7, 4, 5, 8, 31]; // SIGSEGV SIGBUS SIGILL SIGTRAP SIGFPE SIGSYS

/**
 * The queued signal a thread would take next: a synchronous one first, then the lowest-numbered, first
 * queued among equals (the kernel's dequeue order).
 */
export function nextSignal(queue: readonly SigInfo[]): SigInfo | undefined {
  let best: SigInfo | undefined;
  const rank = (s: SigInfo): number => {
    const sync = SYNCHRONOUS.indexOf(s.signo);
    return sync >= 0 ? sync - 100 : s.signo;
  };
  for (const signal of queue) if (!best || rank(signal) < rank(best)) best = signal;
  return best;
}

function signalMask(queue: readonly SigInfo[]): bigint {
  return queue.reduce((mask, s) => mask | (1n << BigInt(s.signo - 1)), 0n);
}

/** pr_state and pr_sname for a criu-gdb process state. */
function stateCode(state: string): { state: number; sname: string; zombie: boolean } {
  switch (state) {
    case 'stopped':
      return { state: 3, sname: 'T', zombie: false };
    case 'dead':
    case 'zombie':
      return { state: 4, sname: 'Z', zombie: true };
    default:
      return { state: 1, sname: 'S', zombie: false };
  }
}

/** Mapping kinds that have a backing file the kernel would list in NT_FILE and gdb could open. */
const FILE_KINDS = new Set(['file-private', 'file-shared', 'memfd']);

/** The NT_FILE entries of `mappings`. */
export function fileMappings(mappings: readonly Mapping[]): FileMappingEntry[] {
  return mappings
    .filter((m) => FILE_KINDS.has(m.kind) && m.name.startsWith('/'))
    .map((m) => ({ start: m.start, end: m.end, offset: m.offset, name: m.name }));
}

/** A thread's registers as the live process had them (undefined when its core image is missing). */
export interface ThreadRegisters {
  tid: number;
  live: ThreadRegisterState | undefined;
}

/**
 * Registers of every thread (x86-64 or AArch64), CRIU's syscall-restart adjustment undone; refuses anything
 * else. A thread whose core image is missing (with a warning) has none; the leader's must be there.
 */
export function threadRegisters(process: ProcessModel): ThreadRegisters[] {
  if (process.arch !== 'x86_64' && process.arch !== 'aarch64') {
    throw new CriuGdbError(`pid ${process.pid} is an ${process.arch} process; only x86_64 and aarch64 processes can be exported as cores`);
  }
  return process.tids.map((tid) => {
    const live = process.liveRegisters(tid);
    if (live?.registers.arch === 'x86_64' && live.registers.gp.mode === 'compat') {
      throw new CriuGdbError(`thread ${tid} of pid ${process.pid} is a 32-bit task; only 64-bit x86 tasks can be exported`);
    }
    return { tid, live };
  });
}

function producer(): string {
  const version = packageVersion();
  return version === 'unknown' ? 'criu-gdb' : `criu-gdb ${version}`;
}

/**
 * AArch64 register notes of one thread: FP/SIMD, TLS, the pointer-authentication masks when the process has
 * them (see pauthMask in src/arch/aarch64) and the pointer-authentication keys CRIU saved.
 */
export function aarch64RegisterNotes(regs: Aarch64LiveRegisters): Note[] {
  const tls = Buffer.alloc(8);
  tls.writeBigUInt64LE(BigInt.asUintN(64, regs.tls));
  const notes: Note[] = [
    { name: 'CORE', type: NT.FPREGSET, desc: encodeAarch64Fpsimd(regs) },
    { name: 'LINUX', type: NT.ARM_TLS, desc: tls },
  ];
  if (regs.pauthMask !== undefined) {
    const masks = Buffer.alloc(16);
    masks.writeBigUInt64LE(regs.pauthMask, 0);
    masks.writeBigUInt64LE(regs.pauthMask, 8);
    notes.push({ name: 'LINUX', type: NT.ARM_PAC_MASK, desc: masks });
  }
  const pac = regs.pac;
  if (pac?.apia !== undefined && pac.apib !== undefined && pac.apda !== undefined && pac.apdb !== undefined) {
    notes.push({ name: 'LINUX', type: NT.ARM_PACA_KEYS, desc: u128([pac.apia, pac.apib, pac.apda, pac.apdb]) });
  }
  if (pac?.apga !== undefined) notes.push({ name: 'LINUX', type: NT.ARM_PACG_KEYS, desc: u128([pac.apga]) });
  return notes;
}

/** Registers of one thread in the order of the thread's register notes; `first` adds the XSAVE layout. */
function registerNotes(regs: Registers, first: boolean): Note[] {
  return regs.arch === 'aarch64' ? aarch64RegisterNotes(regs) : x86RegisterNotes(regs, first);
}

function x86RegisterNotes(regs: X86Registers, first: boolean): Note[] {
  const notes: Note[] = [];
  if (regs.fpregs) notes.push({ name: 'CORE', type: NT.FPREGSET, desc: encodeFxsave(regs.fpregs) });
  const xsave = encodeXsave(regs);
  if (xsave) notes.push({ name: 'LINUX', type: NT.X86_XSTATE, desc: xsave.data });
  const layout = first && xsave ? encodeXsaveLayout(xsave.xcr0) : undefined;
  if (layout) notes.push({ name: 'LINUX', type: NT.X86_XSAVE_LAYOUT, desc: layout });
  const cet = regs.xsave?.cet;
  // Only a thread with its shadow stack enabled (CET_SHSTK_EN, bit 0 of IA32_U_CET) has this note.
  if (cet && (cet.cet & 1n) !== 0n) {
    const ssp = Buffer.alloc(8);
    ssp.writeBigUInt64LE(BigInt.asUintN(64, cet.ssp));
    notes.push({ name: 'LINUX', type: NT.X86_SHSTK, desc: ssp });
  }
  return notes;
}

/** The psargs bytes: the start of the argument area with NULs as spaces, as Linux fills pr_psargs. */
function psargs(process: ProcessModel): Buffer {
  const mm = process.checkpoint.tolerate(() => process.mm());
  if (!mm || mm.argEnd <= mm.argStart) return Buffer.alloc(0);
  const length = Number(mm.argEnd - mm.argStart < BigInt(PSARGS_SIZE - 1) ? mm.argEnd - mm.argStart : BigInt(PSARGS_SIZE - 1));
  const bytes = Buffer.from(process.memory().readAvailable(mm.argStart, length));
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0) bytes[i] = 0x20;
  return bytes;
}

/** Every note of the core of `process`; `unavailable` lists the ranges left out of the PT_LOAD segments. */
export function processNotes(process: ProcessModel, unavailable: readonly CriuGdbUnavailableRange[]): Note[] {
  const { checkpoint } = process;
  const leaderCore = process.leaderCore;
  const threads = threadRegisters(process);
  const names = new Map(process.threads().map((t) => [t.tid, t]));
  const stopped = process.state === 'stopped';
  const cursig = stopped ? (leaderCore.task?.stopSigno ?? 0) : 0;
  const shared = checkpoint.tolerate(() => process.sharedSignals()) ?? [];
  const creds = checkpoint.tolerate(() => process.credentials());
  const mm = checkpoint.tolerate(() => process.mm());

  const notes: Note[] = [];
  const threadInfo: CriuGdbThreadInfo[] = [];
  threads.forEach(({ tid, live }, index) => {
    if (!live) {
      // No core image: no registers to put in an NT_PRSTATUS. The thread is only named in the CRIUGDB note.
      threadInfo.push({ tid, name: names.get(tid)?.name ?? '', missingCore: true });
      return;
    }
    const core = process.core(tid);
    const own = checkpoint.tolerate(() => process.threadSignals(tid)) ?? [];
    const thread = names.get(tid);
    const status = {
      cursig,
      sigpend: signalMask(own),
      sighold: thread?.blockedSignals ?? 0n,
      pid: tid,
      ppid: process.ppid,
      pgrp: process.pgid,
      sid: process.sid,
    };
    const registers = live.registers;
    notes.push({
      name: 'CORE',
      type: NT.PRSTATUS,
      desc:
        registers.arch === 'aarch64'
          ? encodeAarch64Prstatus({ ...status, regs: registers })
          : encodePrstatus({ ...status, gp: registers.gp, fpvalid: registers.fpregs !== undefined }),
    });
    if (index === 0) {
      const state = stateCode(process.state);
      notes.push({
        name: 'CORE',
        type: NT.PRPSINFO,
        desc: encodePrpsinfo({
          ...state,
          nice: core.thread?.schedNice ?? 0,
          flags: BigInt(leaderCore.task?.flags ?? 0),
          uid: creds?.uid ?? 0,
          gid: creds?.gid ?? 0,
          pid: process.pid,
          ppid: process.ppid,
          pgrp: process.pgid,
          sid: process.sid,
          fname: process.comm,
          psargs: psargs(process),
        }),
      });
    }
    const signal = nextSignal(own) ?? (index === 0 ? nextSignal(shared) : undefined);
    if (signal) notes.push({ name: 'CORE', type: NT.SIGINFO, desc: Buffer.from(signal.raw) });
    if (index === 0) {
      if (mm) notes.push({ name: 'CORE', type: NT.AUXV, desc: encodeAuxv(mm.auxv) });
      const files = fileMappings(process.mappings());
      if (files.length > 0) notes.push({ name: 'CORE', type: NT.FILE, desc: encodeFileNote(files, BigInt(process.checkpoint.pageSize)) });
    }
    notes.push(...registerNotes(live.registers, index === 0));
    const info: CriuGdbThreadInfo = { tid, name: thread?.name ?? '' };
    if (live.unavailable.size > 0) info.unknownRegisters = [...live.unavailable].sort();
    if (live.restart) info.syscallRestart = { ...live.restart };
    threadInfo.push(info);
  });
  notes.push(
    encodeCriuGdbNote({
      format: CRIUGDB_INFO_FORMAT,
      producer: producer(),
      pid: process.pid,
      ppid: process.ppid,
      pgid: process.pgid,
      sid: process.sid,
      comm: process.comm,
      state: process.state,
      threads: threadInfo,
      unavailable: [...unavailable],
    }),
  );
  return notes;
}
