/** Register sets for tests of the x86-64 register code: what CRIU records for a thread. */
import type { X86Registers } from '../../src/images/registers.js';

/** `length` bytes counting up from `seed`. */
export const bytes = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (seed + i) & 0xff));

/** A thread whose dump has the FXSAVE area only (no XSAVE): general, x87 and SSE registers. */
export function fxsaveOnly(): X86Registers {
  return {
    arch: 'x86_64',
    clearTidAddr: 0n,
    tls: [],
    gp: {
      r15: 0x15n,
      r14: 0x14n,
      r13: 0x13n,
      r12: 0x12n,
      rbp: 0x7ffe0010n,
      rbx: 0xbbn,
      r11: 0x246n,
      r10: 0x10n,
      r9: 0x9n,
      r8: 0x8n,
      rax: 0xfffffffffffffdfen,
      rcx: 0xccn,
      rdx: 0xddn,
      rsi: 0x51n,
      rdi: 0xd1n,
      origRax: 0xffffffffffffffffn,
      rip: 0x401000n,
      cs: 0x33n,
      eflags: 0x246n,
      rsp: 0x7ffe0000n,
      ss: 0x2bn,
      fsBase: 0x7f0000001000n,
      gsBase: 0n,
      ds: 0n,
      es: 0n,
      fs: 0n,
      gs: 0n,
      mode: 'native',
    },
    fpregs: {
      cwd: 0x37f,
      swd: 0x3800, // TOP = 7
      twd: 0x80, // physical register 7 (= st0) in use
      fop: 0xf9dd, // only the low 11 bits are the opcode
      rip: 0x0000123487654321n,
      rdp: 0x0000abcd11223344n,
      mxcsr: 0x1fa0,
      mxcsrMask: 0xffff,
      // st0 = 1.0: exponent 0x3fff, integer bit set.
      st: [Buffer.from('0000000000000080ff3f', 'hex'), ...Array.from({ length: 7 }, () => Buffer.alloc(10))],
      xmm: Array.from({ length: 16 }, (_, i) => bytes(16, 0x10 * i)),
      padding: [],
    },
  };
}
