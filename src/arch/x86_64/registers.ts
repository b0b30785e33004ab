/**
 * Register values of a checkpointed x86-64 thread as gdb's remote protocol carries them: little-endian
 * bytes per register of a {@link TargetDescription}, `x` for bytes the images do not hold.
 *
 * Availability follows the dump: a component recorded in its init state (its XSTATE_BV bit clear) has the
 * architectural initial values (zero vectors and masks; x87 control word 0x37f, all tags empty), which
 * are known values; a component the dump did not record at all is unavailable.
 *
 * The registers given are the live ones (see ProcessModel.liveRegisters); this module only lays them out.
 */
import type { X86Registers } from '../../images/registers.js';
import { u32, u64 } from '../register-bytes.js';
import type { RegisterSpec } from '../target-xml.js';
import { x86Components, x87FullTagWord, x87State } from './xsave.js';

const NO_UNAVAILABLE: ReadonlySet<string> = new Set();

/** A slice of a saved component, zeros for an init component, undefined for an absent one. */
function piece(state: 'saved' | 'init' | 'absent', source: Buffer | undefined, start: number, length: number): Buffer | undefined {
  if (state === 'absent') return undefined;
  if (state === 'init') return Buffer.alloc(length);
  if (!source || source.length < start + length) return undefined;
  return Buffer.from(source.subarray(start, start + length));
}

const GP64: Record<string, (gp: X86Registers['gp']) => bigint> = {
  rax: (g) => g.rax,
  rbx: (g) => g.rbx,
  rcx: (g) => g.rcx,
  rdx: (g) => g.rdx,
  rsi: (g) => g.rsi,
  rdi: (g) => g.rdi,
  rbp: (g) => g.rbp,
  rsp: (g) => g.rsp,
  r8: (g) => g.r8,
  r9: (g) => g.r9,
  r10: (g) => g.r10,
  r11: (g) => g.r11,
  r12: (g) => g.r12,
  r13: (g) => g.r13,
  r14: (g) => g.r14,
  r15: (g) => g.r15,
  rip: (g) => g.rip,
  orig_rax: (g) => g.origRax,
  fs_base: (g) => g.fsBase,
  gs_base: (g) => g.gsBase,
};

const GP32: Record<string, (gp: X86Registers['gp']) => bigint> = {
  eflags: (g) => g.eflags,
  cs: (g) => g.cs,
  ss: (g) => g.ss,
  ds: (g) => g.ds,
  es: (g) => g.es,
  fs: (g) => g.fs,
  gs: (g) => g.gs,
};

/** Value of one x87 control register as gdb's amd64 layout has it (64-bit FXSAVE format). */
function x87Control(name: string, x: NonNullable<ReturnType<typeof x87State>>): number | undefined {
  switch (name) {
    case 'fctrl':
      return x.cwd & 0xffff;
    case 'fstat':
      return x.swd & 0xffff;
    case 'ftag':
      return x87FullTagWord({ ...x, mxcsr: 0, mxcsrMask: 0, xmm: [], padding: [] });
    case 'fioff':
      return Number(BigInt.asUintN(32, x.rip));
    case 'fiseg':
      return Number(BigInt.asUintN(32, x.rip >> 32n));
    case 'fooff':
      return Number(BigInt.asUintN(32, x.rdp));
    case 'foseg':
      return Number(BigInt.asUintN(32, x.rdp >> 32n));
    case 'fop':
      return x.fop & 0x7ff;
    default:
      return undefined;
  }
}

function vectorValue(name: string, regs: X86Registers): Buffer | undefined {
  const c = x86Components(regs);
  const x = regs.xsave;
  let m = /^xmm(\d+)$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    return n < 16 ? piece(c.sse, regs.fpregs?.xmm[n], 0, 16) : piece(c.hi16Zmm, x?.hi16Zmm?.[n - 16], 0, 16);
  }
  m = /^ymm(\d+)h$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    return n < 16 ? piece(c.ymm, x?.ymmh?.[n], 0, 16) : piece(c.hi16Zmm, x?.hi16Zmm?.[n - 16], 16, 16);
  }
  m = /^zmm(\d+)h$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    return n < 16 ? piece(c.zmmHi256, x?.zmmUpper?.[n], 0, 32) : piece(c.hi16Zmm, x?.hi16Zmm?.[n - 16], 32, 32);
  }
  m = /^k([0-7])$/.exec(name);
  if (m) {
    if (c.opmask === 'absent') return undefined;
    if (c.opmask === 'init') return Buffer.alloc(8);
    const k = x?.opmask?.[Number(m[1])];
    return k === undefined ? undefined : u64(k);
  }
  m = /^bnd([0-3])raw$/.exec(name);
  if (m) {
    if (c.bndregs === 'absent') return undefined;
    if (c.bndregs === 'init') return Buffer.alloc(16);
    const b = x?.bndregs?.[Number(m[1])];
    return b ? Buffer.concat([u64(b.lower), u64(b.upper)]) : undefined;
  }
  if (name === 'bndcfgu' || name === 'bndstatus') {
    if (c.bndcsr === 'absent') return undefined;
    if (c.bndcsr === 'init') return Buffer.alloc(8);
    const csr = x?.bndcsr;
    return csr ? u64(name === 'bndcfgu' ? csr.bndcfgu : csr.bndstatus) : undefined;
  }
  if (name === 'pkru') {
    if (c.pkru === 'absent') return undefined;
    if (c.pkru === 'init') return Buffer.alloc(4);
    return x?.pkru === undefined ? undefined : u32(x.pkru);
  }
  return undefined;
}

/**
 * The little-endian value of register `spec` of a thread, or undefined when the images did not save it
 * (or it is listed in `unavailable`, see {@link liveRegisters}): gdb then shows it as `<unavailable>`.
 */
export function registerValue(spec: RegisterSpec, regs: X86Registers, unavailable: ReadonlySet<string> = NO_UNAVAILABLE): Buffer | undefined {
  const value = rawValue(spec.name, regs);
  if (unavailable.has(spec.name) || value === undefined) return undefined;
  if (value.length !== spec.bitsize / 8) return undefined;
  return value;
}

function rawValue(name: string, regs: X86Registers): Buffer | undefined {
  const gp64 = GP64[name];
  if (gp64) return u64(gp64(regs.gp));
  const gp32 = GP32[name];
  if (gp32) return u32(gp32(regs.gp));
  const st = /^st([0-7])$/.exec(name);
  if (st) {
    const value = x87State(regs)?.st[Number(st[1])];
    return value && value.length >= 10 ? Buffer.from(value.subarray(0, 10)) : undefined;
  }
  if (name === 'mxcsr') {
    // XRSTOR loads MXCSR whenever SSE or AVX is requested, whatever XSTATE_BV says: the recorded value holds.
    return regs.fpregs && x86Components(regs).sse !== 'absent' ? u32(regs.fpregs.mxcsr) : undefined;
  }
  const x87 = x87State(regs);
  const control = x87 ? x87Control(name, x87) : undefined;
  if (control !== undefined) return u32(control);
  return vectorValue(name, regs);
}
