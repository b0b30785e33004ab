/**
 * The x86-64 register state components of an XSAVE area as a dump holds them, and the values a component
 * has when the dump recorded it in its initial state (XSTATE_BV bit clear).
 */
import type { X86FpRegisters, X86Registers } from '../../images/registers.js';

/** XSTATE_BV bit of each x86 state component criu-gdb reports. */
export const XFEATURE = {
  fp: 0,
  sse: 1,
  ymm: 2,
  bndregs: 3,
  bndcsr: 4,
  opmask: 5,
  zmmHi256: 6,
  hi16Zmm: 7,
  pkru: 9,
} as const;

/**
 * State of one register component in a dump: `saved` (values recorded), `init` (recorded while the
 * component was in its initial state: the recorded values are the architectural initial ones, zero for
 * every vector and mask register) or `absent` (not recorded: report the registers as unavailable).
 */
export type X86ComponentState = 'saved' | 'init' | 'absent';

/** Which x86 register components a thread's dump holds. */
export interface X86Components {
  /** x87 registers (st0..st7, control/status words). */
  fp: X86ComponentState;
  /** xmm0..xmm15. */
  sse: X86ComponentState;
  /** Upper halves of ymm0..ymm15. */
  ymm: X86ComponentState;
  bndregs: X86ComponentState;
  bndcsr: X86ComponentState;
  /** k0..k7. */
  opmask: X86ComponentState;
  /** Upper halves of zmm0..zmm15. */
  zmmHi256: X86ComponentState;
  /** zmm16..zmm31 (and so xmm16..31, ymm16..31). */
  hi16Zmm: X86ComponentState;
  pkru: X86ComponentState;
}

/** Says, for each register component, whether the dump saved it and whether it was in use. */
export function x86Components(regs: X86Registers): X86Components {
  const bv = regs.xsave?.xstateBv;
  const state = (present: boolean, bit: number): X86ComponentState => {
    if (!present) return 'absent';
    if (bv === undefined) return 'saved';
    return (bv >> BigInt(bit)) & 1n ? 'saved' : 'init';
  };
  const x = regs.xsave;
  const fp = regs.fpregs !== undefined;
  return {
    fp: state(fp, XFEATURE.fp),
    sse: state(fp, XFEATURE.sse),
    ymm: state(fp && x?.ymmh !== undefined, XFEATURE.ymm),
    bndregs: state(x?.bndregs !== undefined, XFEATURE.bndregs),
    bndcsr: state(x?.bndcsr !== undefined, XFEATURE.bndcsr),
    opmask: state(x?.opmask !== undefined, XFEATURE.opmask),
    zmmHi256: state(x?.zmmUpper !== undefined, XFEATURE.zmmHi256),
    hi16Zmm: state(x?.hi16Zmm !== undefined, XFEATURE.hi16Zmm),
    pkru: state(x?.pkru !== undefined, XFEATURE.pkru),
  };
}

/** Classifies one 80-bit x87 value for the full tag word: 0 valid, 1 zero, 2 special. */
function x87Tag(value: Buffer): number {
  const exponent = value.readUInt16LE(8) & 0x7fff;
  const mantissa = value.readBigUInt64LE(0);
  const integerBit = (mantissa >> 63n) & 1n;
  if (exponent === 0x7fff) return 2;
  if (exponent === 0) return mantissa === 0n ? 1 : 2;
  return integerBit ? 0 : 2;
}

/**
 * Expands FXSAVE's abridged tag word into the full 16-bit x87 tag word that gdb's `ftag` expects
 * (two bits per physical register: 0 valid, 1 zero, 2 special, 3 empty).
 */
export function x87FullTagWord(fp: X86FpRegisters): number {
  const top = (fp.swd >> 11) & 7;
  let tags = 0;
  for (let physical = 0; physical < 8; physical++) {
    let tag = 3;
    if (fp.twd & (1 << physical)) {
      const value = fp.st[(physical - top + 8) % 8];
      tag = value ? x87Tag(value) : 3;
    }
    tags |= tag << (2 * physical);
  }
  return tags;
}

/** x87 state after FNINIT (and what XRSTOR loads for a component whose XSTATE_BV bit is clear). */
export const X87_INIT = { cwd: 0x37f, swd: 0, twd: 0, fop: 0, rip: 0n, rdp: 0n } as const;

/** The x87 part of the FXSAVE area as restore would load it, or undefined when the dump has none. */
export function x87State(regs: X86Registers): Pick<X86FpRegisters, 'cwd' | 'swd' | 'twd' | 'fop' | 'rip' | 'rdp' | 'st'> | undefined {
  const state = x86Components(regs).fp;
  if (state === 'absent' || !regs.fpregs) return undefined;
  if (state === 'init') return { ...X87_INIT, st: Array.from({ length: 8 }, () => Buffer.alloc(10)) };
  return regs.fpregs;
}
