/**
 * Register sets saved in core-TID.img, for x86-64 and AArch64.
 *
 * CRIU copies the FXSAVE area and each XSAVE component byte for byte into repeated 32- or 64-bit protobuf
 * fields; this module turns them back into per-register little-endian buffers (the byte order gdb uses)
 * and checks every block has exactly the size the hardware layout gives it.
 */
import { ImageError } from '../errors.js';
import { type Decoded, bool, has, num, nums, optU64, sub, subs, u64, u64s } from './fields.js';

/**
 * x86 general registers. In compat (32-bit) mode only the low 32 bits are meaningful.
 *
 * These are the values CRIU will restore, not quite what a debugger attached at dump time saw: for a
 * thread interrupted inside a restartable system call (-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND),
 * CRIU rewinds `rip` by 2 onto the `syscall` instruction and puts the call number (`origRax`) back in
 * `rax`; for -ERESTART_RESTARTBLOCK it leaves `rip` and sets `rax` to -EINTR.
 */
export interface X86GpRegisters {
  r15: bigint;
  r14: bigint;
  r13: bigint;
  r12: bigint;
  rbp: bigint;
  rbx: bigint;
  r11: bigint;
  r10: bigint;
  r9: bigint;
  r8: bigint;
  rax: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  /** System call number the thread was in (or -1 as unsigned). */
  origRax: bigint;
  rip: bigint;
  cs: bigint;
  eflags: bigint;
  rsp: bigint;
  ss: bigint;
  fsBase: bigint;
  gsBase: bigint;
  ds: bigint;
  es: bigint;
  fs: bigint;
  gs: bigint;
  /** 64-bit task or 32-bit (ia32) task. */
  mode: 'native' | 'compat';
}

/** The FXSAVE area: x87 and SSE state. */
export interface X86FpRegisters {
  cwd: number;
  swd: number;
  /** Abridged tag word (one bit per register, 1 = not empty), as FXSAVE stores it; see {@link x87FullTagWord}. */
  twd: number;
  fop: number;
  rip: bigint;
  rdp: bigint;
  mxcsr: number;
  mxcsrMask: number;
  /** st0..st7 (stack order): 10-byte extended-precision values. */
  st: Buffer[];
  /** xmm0..xmm15: 16 bytes each. */
  xmm: Buffer[];
  /** Unused words kept by old images. */
  padding: number[];
}

/** An MPX bound register. */
export interface X86BoundRegister {
  lower: bigint;
  upper: bigint;
}

/**
 * XSAVE extended state. A field is absent when the dump did not save that component (the CPU lacked the
 * feature, or CRIU predates it); {@link xstateBv} says which saved components were in use.
 */
export interface X86XsaveState {
  /** XSTATE_BV: bit n set means component n was in use; a clear bit means its registers were all zero. */
  xstateBv: bigint;
  /** Upper 128 bits of ymm0..ymm15 (16 bytes each). */
  ymmh?: Buffer[];
  /** MPX bnd0..bnd3. */
  bndregs?: X86BoundRegister[];
  bndcsr?: { bndcfgu: bigint; bndstatus: bigint };
  /** AVX-512 opmask registers k0..k7. */
  opmask?: bigint[];
  /** Upper 256 bits of zmm0..zmm15 (32 bytes each). */
  zmmUpper?: Buffer[];
  /** zmm16..zmm31 in full (64 bytes each). */
  hi16Zmm?: Buffer[];
  /** Protection-key rights register. */
  pkru?: number;
  /** Shadow-stack state (CET). */
  cet?: { cet: bigint; ssp: bigint };
}

/** A TLS descriptor installed with set_thread_area (struct user_desc). */
export interface X86TlsDescriptor {
  entryNumber: number;
  baseAddr: number;
  limit: number;
  seg32bit: boolean;
  contentsHigh: boolean;
  contentsLow: boolean;
  readExecOnly: boolean;
  limitInPages: boolean;
  segNotPresent: boolean;
  usable: boolean;
}

/** Registers of an x86-64 thread. */
export interface X86Registers {
  arch: 'x86_64';
  /** set_tid_address() pointer. */
  clearTidAddr: bigint;
  gp: X86GpRegisters;
  /** Absent when the dump saved no FPU state. */
  fpregs?: X86FpRegisters;
  /** Absent when the dump saved no XSAVE state (no OSXSAVE, or an old CRIU). */
  xsave?: X86XsaveState;
  tls: X86TlsDescriptor[];
}

/** AArch64 pointer-authentication keys (128-bit values). */
export interface Aarch64PacKeys {
  apia?: bigint;
  apib?: bigint;
  apda?: bigint;
  apdb?: bigint;
  enabledKeys?: bigint;
  apga?: bigint;
}

/** Registers of an AArch64 thread. */
export interface Aarch64Registers {
  arch: 'aarch64';
  clearTidAddr: bigint;
  /** x0..x30. */
  x: bigint[];
  sp: bigint;
  pc: bigint;
  pstate: bigint;
  /** v0..v31: 16 bytes each, little-endian. */
  v: Buffer[];
  fpsr: number;
  fpcr: number;
  /** TPIDR_EL0. */
  tls: bigint;
  pac?: Aarch64PacKeys;
}

/** Registers of a thread of either supported architecture. */
export type Registers = X86Registers | Aarch64Registers;

/** Where a register block is, for error messages. */
interface Place {
  image: string;
  offset: number;
}

function wrongSize(place: Place, what: string, got: number, want: number, unit: string): ImageError {
  return new ImageError('bad-value', place.image, place.offset, `${what} has ${got} ${unit}, expected ${want}`);
}

/** Lays out 32-bit words little-endian. */
function words32(values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => out.writeUInt32LE(v >>> 0, i * 4));
  return out;
}

/** Lays out 64-bit words little-endian. */
function words64(values: bigint[]): Buffer {
  const out = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => out.writeBigUInt64LE(BigInt.asUintN(64, v), i * 8));
  return out;
}

/** Cuts `count` slices of `take` bytes, each at the start of a `stride`-byte slot. */
function slices(data: Buffer, count: number, stride: number, take = stride): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(data.subarray(i * stride, i * stride + take)));
}

function exact32(message: Decoded, field: string, count: number, place: Place, what: string): Buffer {
  const values = nums(message, field);
  if (values.length !== count) throw wrongSize(place, what, values.length, count, '32-bit words');
  return words32(values);
}

function exact64(message: Decoded, field: string, count: number, place: Place, what: string): bigint[] {
  const values = u64s(message, field);
  if (values.length !== count) throw wrongSize(place, what, values.length, count, '64-bit words');
  return values;
}

function decodeX86Gp(message: Decoded, place: Place): X86GpRegisters {
  const mode = has(message, 'mode') ? num(message, 'mode') : 1;
  if (mode !== 1 && mode !== 2) throw new ImageError('bad-value', place.image, place.offset, `x86 register mode ${mode} is unknown`);
  const r = (field: string): bigint => u64(message, field);
  return {
    r15: r('r15'),
    r14: r('r14'),
    r13: r('r13'),
    r12: r('r12'),
    rbp: r('bp'),
    rbx: r('bx'),
    r11: r('r11'),
    r10: r('r10'),
    r9: r('r9'),
    r8: r('r8'),
    rax: r('ax'),
    rcx: r('cx'),
    rdx: r('dx'),
    rsi: r('si'),
    rdi: r('di'),
    origRax: r('orig_ax'),
    rip: r('ip'),
    cs: r('cs'),
    eflags: r('flags'),
    rsp: r('sp'),
    ss: r('ss'),
    fsBase: r('fs_base'),
    gsBase: r('gs_base'),
    ds: r('ds'),
    es: r('es'),
    fs: r('fs'),
    gs: r('gs'),
    mode: mode === 2 ? 'compat' : 'native',
  };
}

function decodeX86Fp(message: Decoded, place: Place): X86FpRegisters {
  return {
    cwd: num(message, 'cwd'),
    swd: num(message, 'swd'),
    twd: num(message, 'twd'),
    fop: num(message, 'fop'),
    rip: u64(message, 'rip'),
    rdp: u64(message, 'rdp'),
    mxcsr: num(message, 'mxcsr'),
    mxcsrMask: num(message, 'mxcsr_mask'),
    st: slices(exact32(message, 'st_space', 32, place, 'x87 register area'), 8, 16, 10),
    xmm: slices(exact32(message, 'xmm_space', 64, place, 'xmm register area'), 16, 16),
    padding: nums(message, 'padding'),
  };
}

function decodeX86Xsave(message: Decoded, place: Place): X86XsaveState {
  const state: X86XsaveState = { xstateBv: u64(message, 'xstate_bv') };
  if (has(message, 'ymmh_space')) state.ymmh = slices(exact32(message, 'ymmh_space', 64, place, 'AVX (ymm upper halves) area'), 16, 16);
  if (has(message, 'bndreg_state')) {
    const w = exact64(message, 'bndreg_state', 8, place, 'MPX bound registers');
    state.bndregs = [0, 1, 2, 3].map((i) => ({ lower: w[2 * i] ?? 0n, upper: w[2 * i + 1] ?? 0n }));
  }
  if (has(message, 'bndcsr_state')) {
    const w = exact64(message, 'bndcsr_state', 8, place, 'MPX BNDCSR area');
    state.bndcsr = { bndcfgu: w[0] ?? 0n, bndstatus: w[1] ?? 0n };
  }
  if (has(message, 'opmask_reg')) state.opmask = exact64(message, 'opmask_reg', 8, place, 'AVX-512 opmask area');
  if (has(message, 'zmm_upper')) state.zmmUpper = slices(words64(exact64(message, 'zmm_upper', 64, place, 'AVX-512 ZMM_Hi256 area')), 16, 32);
  if (has(message, 'hi16_zmm')) state.hi16Zmm = slices(words64(exact64(message, 'hi16_zmm', 128, place, 'AVX-512 Hi16_ZMM area')), 16, 64);
  if (has(message, 'pkru')) state.pkru = exact32(message, 'pkru', 2, place, 'PKRU area').readUInt32LE(0);
  const cet = sub(message, 'cet');
  if (cet) state.cet = { cet: u64(cet, 'cet'), ssp: u64(cet, 'ssp') };
  return state;
}

/** Converts an `X86ThreadInfo` message; a register block of the wrong size is a `bad-value` at `image`/`offset`. */
export function decodeX86ThreadInfo(message: Decoded, image: string, offset: number): X86Registers {
  const place = { image, offset };
  const gp = sub(message, 'gpregs');
  if (!gp) throw new ImageError('bad-value', image, offset, 'x86 thread info has no general registers');
  const regs: X86Registers = {
    arch: 'x86_64',
    clearTidAddr: u64(message, 'clear_tid_addr'),
    gp: decodeX86Gp(gp, place),
    tls: subs(message, 'tls').map((d) => ({
      entryNumber: num(d, 'entry_number'),
      baseAddr: num(d, 'base_addr'),
      limit: num(d, 'limit'),
      seg32bit: bool(d, 'seg_32bit'),
      contentsHigh: bool(d, 'contents_h'),
      contentsLow: bool(d, 'contents_l'),
      readExecOnly: bool(d, 'read_exec_only'),
      limitInPages: bool(d, 'limit_in_pages'),
      segNotPresent: bool(d, 'seg_not_present'),
      usable: bool(d, 'usable'),
    })),
  };
  const fp = sub(message, 'fpregs');
  if (fp) {
    regs.fpregs = decodeX86Fp(fp, place);
    const xsave = sub(fp, 'xsave');
    if (xsave) regs.xsave = decodeX86Xsave(xsave, place);
  }
  return regs;
}

function u128(message: Decoded, lo: string, hi: string): bigint {
  return (u64(message, hi) << 64n) | u64(message, lo);
}

/** Converts an `Aarch64ThreadInfo` message; a register block of the wrong size is a `bad-value`. */
export function decodeAarch64ThreadInfo(message: Decoded, image: string, offset: number): Aarch64Registers {
  const place = { image, offset };
  const gp = sub(message, 'gpregs');
  const fp = sub(message, 'fpsimd');
  if (!gp || !fp) throw new ImageError('bad-value', image, offset, 'AArch64 thread info lacks its general or FP/SIMD registers');
  const x = exact64(gp, 'regs', 31, place, 'AArch64 general register set');
  const v = slices(words64(exact64(fp, 'vregs', 64, place, 'AArch64 FP/SIMD register set')), 32, 16);
  const regs: Aarch64Registers = {
    arch: 'aarch64',
    clearTidAddr: u64(message, 'clear_tid_addr'),
    x,
    sp: u64(gp, 'sp'),
    pc: u64(gp, 'pc'),
    pstate: u64(gp, 'pstate'),
    v,
    fpsr: num(fp, 'fpsr'),
    fpcr: num(fp, 'fpcr'),
    tls: u64(message, 'tls'),
  };
  const pac = sub(message, 'pac_keys');
  if (pac) {
    const keys: Aarch64PacKeys = {};
    const address = sub(pac, 'pac_address_keys');
    if (address) {
      keys.apia = u128(address, 'apiakey_lo', 'apiakey_hi');
      keys.apib = u128(address, 'apibkey_lo', 'apibkey_hi');
      keys.apda = u128(address, 'apdakey_lo', 'apdakey_hi');
      keys.apdb = u128(address, 'apdbkey_lo', 'apdbkey_hi');
      const enabled = optU64(address, 'pac_enabled_key');
      if (enabled !== undefined) keys.enabledKeys = enabled;
    }
    const generic = sub(pac, 'pac_generic_keys');
    if (generic) keys.apga = u128(generic, 'apgakey_lo', 'apgakey_hi');
    regs.pac = keys;
  }
  return regs;
}
