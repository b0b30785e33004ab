/**
 * x86-64 floating-point and extended register state in the layouts Linux cores use:
 * - NT_FPREGSET: the 512-byte FXSAVE area (struct user_i387_struct);
 * - NT_X86_XSTATE: the XSAVE area in the standard (non-compacted) format, whose bytes 464..471 (in the
 *   software-available part of the legacy area) carry XCR0, the mask of state components the area
 *   describes. gdb reads XCR0 there to choose the register set, and expects the note to be exactly the
 *   size of the standard area up to the highest component XCR0 enables.
 *
 * Standard component offsets (CPUID leaf 0xD, as on Intel processors and as gdb 13 assumes):
 * legacy area 0 (512 bytes), XSAVE header 512 (XSTATE_BV at 512, XCOMP_BV at 520), AVX (upper halves of
 * ymm0..15) 576, MPX bound registers 960, MPX BNDCSR 1024, AVX-512 opmask 1088, ZMM_Hi256 1152, Hi16_ZMM
 * 1664, PKRU 2688.
 */
import { XFEATURE } from '../arch/x86_64/xsave.js';
import type { X86FpRegisters, X86Registers } from '../images/registers.js';

export const FXSAVE_SIZE = 512;
/** Offset of XCR0 in the software-available bytes of the legacy area. */
export const XSAVE_XCR0_OFFSET = 464;
export const XSAVE_HEADER_OFFSET = 512;

/** Standard offsets of the XSAVE components criu-gdb writes. */
export const XSAVE_OFFSET = {
  ymmh: 576,
  bndregs: 960,
  bndcsr: 1024,
  opmask: 1088,
  zmmHi256: 1152,
  hi16Zmm: 1664,
  pkru: 2688,
} as const;

const bit = (feature: number): bigint => 1n << BigInt(feature);

/** XCR0 bits of the state components (numbered in XFEATURE). */
export const XCR0 = {
  x87: bit(XFEATURE.fp),
  sse: bit(XFEATURE.sse),
  avx: bit(XFEATURE.ymm),
  bndregs: bit(XFEATURE.bndregs),
  bndcsr: bit(XFEATURE.bndcsr),
  opmask: bit(XFEATURE.opmask),
  zmmHi256: bit(XFEATURE.zmmHi256),
  hi16Zmm: bit(XFEATURE.hi16Zmm),
  pkru: bit(XFEATURE.pkru),
} as const;

const AVX512 = XCR0.opmask | XCR0.zmmHi256 | XCR0.hi16Zmm;
const MPX = XCR0.bndregs | XCR0.bndcsr;

/** Size of the standard XSAVE area for `xcr0`, as Linux writes it and gdb requires it. */
export function xsaveSize(xcr0: bigint): number {
  if (xcr0 & XCR0.pkru) return 2696;
  if (xcr0 & AVX512) return 2688;
  if (xcr0 & MPX) return 1088;
  if (xcr0 & XCR0.avx) return 832;
  return 576;
}

/** The FXSAVE image of the x87/SSE registers (software-available bytes zero). */
export function encodeFxsave(fp: X86FpRegisters): Buffer {
  const out = Buffer.alloc(FXSAVE_SIZE);
  out.writeUInt16LE(fp.cwd & 0xffff, 0);
  out.writeUInt16LE(fp.swd & 0xffff, 2);
  out.writeUInt16LE(fp.twd & 0xffff, 4);
  out.writeUInt16LE(fp.fop & 0xffff, 6);
  out.writeBigUInt64LE(BigInt.asUintN(64, fp.rip), 8);
  out.writeBigUInt64LE(BigInt.asUintN(64, fp.rdp), 16);
  out.writeUInt32LE(fp.mxcsr >>> 0, 24);
  out.writeUInt32LE(fp.mxcsrMask >>> 0, 28);
  fp.st.forEach((value, i) => value.copy(out, 32 + i * 16, 0, Math.min(value.length, 16)));
  fp.xmm.forEach((value, i) => value.copy(out, 160 + i * 16, 0, Math.min(value.length, 16)));
  return out;
}

/** The state components a thread's images hold, as an XCR0 mask (x87 and SSE always, with FP state). */
export function xcr0Of(regs: X86Registers): bigint {
  const x = regs.xsave;
  let mask = XCR0.x87 | XCR0.sse;
  if (!x) return mask;
  if (x.ymmh) mask |= XCR0.avx;
  if (x.bndregs) mask |= XCR0.bndregs;
  if (x.bndcsr) mask |= XCR0.bndcsr;
  if (x.opmask) mask |= XCR0.opmask;
  if (x.zmmUpper) mask |= XCR0.zmmHi256;
  if (x.hi16Zmm) mask |= XCR0.hi16Zmm;
  if (x.pkru !== undefined) mask |= XCR0.pkru;
  return mask;
}

/** Component number, size and standard offset of each XSAVE component above SSE. */
const COMPONENTS: ReadonlyArray<{ feature: number; size: number; offset: number }> = [
  { feature: XFEATURE.ymm, size: 256, offset: XSAVE_OFFSET.ymmh },
  { feature: XFEATURE.bndregs, size: 64, offset: XSAVE_OFFSET.bndregs },
  { feature: XFEATURE.bndcsr, size: 64, offset: XSAVE_OFFSET.bndcsr },
  { feature: XFEATURE.opmask, size: 64, offset: XSAVE_OFFSET.opmask },
  { feature: XFEATURE.zmmHi256, size: 512, offset: XSAVE_OFFSET.zmmHi256 },
  { feature: XFEATURE.hi16Zmm, size: 1024, offset: XSAVE_OFFSET.hi16Zmm },
  { feature: XFEATURE.pkru, size: 8, offset: XSAVE_OFFSET.pkru },
];

/**
 * NT_X86_XSAVE_LAYOUT: for every component above SSE that `xcr0` enables, {feature, size, offset, flags}
 * as four 32-bit words, the way Linux describes its NT_X86_XSTATE layout. Undefined when there is none.
 */
export function encodeXsaveLayout(xcr0: bigint): Buffer | undefined {
  const present = COMPONENTS.filter((c) => (xcr0 >> BigInt(c.feature)) & 1n);
  if (present.length === 0) return undefined;
  const out = Buffer.alloc(present.length * 16);
  present.forEach((c, i) => {
    out.writeUInt32LE(c.feature, i * 16);
    out.writeUInt32LE(c.size, i * 16 + 4);
    out.writeUInt32LE(c.offset, i * 16 + 8);
  });
  return out;
}

/** The XSAVE area and its XCR0, or undefined when the images hold no XSAVE state for the thread. */
export interface XsaveArea {
  xcr0: bigint;
  /** XSTATE_BV written in the header: the recorded in-use bits, limited to XCR0. */
  xstateBv: bigint;
  data: Buffer;
}

/**
 * Lays out a thread's FP and XSAVE state in the standard XSAVE format. Components are copied as the images
 * hold them; XSTATE_BV says which were in use (a reader gives a component whose bit is clear its initial
 * values, as XRSTOR does).
 */
export function encodeXsave(regs: X86Registers): XsaveArea | undefined {
  const fp = regs.fpregs;
  const x = regs.xsave;
  if (!fp || !x) return undefined;
  const xcr0 = xcr0Of(regs);
  const data = Buffer.alloc(xsaveSize(xcr0));
  encodeFxsave(fp).copy(data, 0);
  data.writeBigUInt64LE(xcr0, XSAVE_XCR0_OFFSET);
  const xstateBv = x.xstateBv & xcr0;
  data.writeBigUInt64LE(xstateBv, XSAVE_HEADER_OFFSET);
  data.writeBigUInt64LE(0n, XSAVE_HEADER_OFFSET + 8); // XCOMP_BV: standard format
  x.ymmh?.forEach((v, i) => v.copy(data, XSAVE_OFFSET.ymmh + i * 16, 0, 16));
  x.bndregs?.forEach((b, i) => {
    data.writeBigUInt64LE(BigInt.asUintN(64, b.lower), XSAVE_OFFSET.bndregs + i * 16);
    data.writeBigUInt64LE(BigInt.asUintN(64, b.upper), XSAVE_OFFSET.bndregs + i * 16 + 8);
  });
  if (x.bndcsr) {
    data.writeBigUInt64LE(BigInt.asUintN(64, x.bndcsr.bndcfgu), XSAVE_OFFSET.bndcsr);
    data.writeBigUInt64LE(BigInt.asUintN(64, x.bndcsr.bndstatus), XSAVE_OFFSET.bndcsr + 8);
  }
  x.opmask?.forEach((k, i) => data.writeBigUInt64LE(BigInt.asUintN(64, k), XSAVE_OFFSET.opmask + i * 8));
  x.zmmUpper?.forEach((v, i) => v.copy(data, XSAVE_OFFSET.zmmHi256 + i * 32, 0, 32));
  x.hi16Zmm?.forEach((v, i) => v.copy(data, XSAVE_OFFSET.hi16Zmm + i * 64, 0, 64));
  if (x.pkru !== undefined) data.writeUInt32LE(x.pkru >>> 0, XSAVE_OFFSET.pkru);
  return { xcr0, xstateBv, data };
}
