/**
 * AArch64 register layouts against the documented ones: gdbserver's aarch64-linux register numbering
 * (x0-x30 0-30, sp 31, pc 32, cpsr 33, v0-v31 34-65, fpsr 66, fpcr 67, then tpidr), the kernel's
 * struct elf_prstatus for arm64 (pr_reg = x0-x30, sp, pc, pstate at 112, pr_fpvalid at 384, 392 bytes)
 * and struct user_fpsimd_state (v0-v31, fpsr at 512, fpcr at 516, 528 bytes). gdb-multiarch and lldb
 * reading them are in test/integration/arch-aarch64.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AARCH64 } from '../../src/arch/aarch64/index.js';
import { pauthMask } from '../../src/arch/aarch64/syscall-restart.js';
import { AARCH64_FEATURE, describeAarch64Target } from '../../src/arch/aarch64/target-description.js';
import { architectureFor } from '../../src/arch/architectures.js';
import { NT } from '../../src/export/elf.js';
import { AARCH64_FPSIMD_SIZE, AARCH64_PRSTATUS_SIZE, aarch64RegisterNotes, encodeAarch64Fpsimd, encodeAarch64Prstatus } from '../../src/export/notes.js';
import type { Aarch64Registers } from '../../src/images/registers.js';
import { encodeExpedited, encodeGPacket } from '../../src/rsp/registers.js';

function registers(): Aarch64Registers {
  return {
    arch: 'aarch64',
    clearTidAddr: 0n,
    x: Array.from({ length: 31 }, (_, n) => 0x1111_0000_0000_0000n + BigInt(n)),
    sp: 0xffff_ffff_f000n,
    pc: 0xaaaa_bbbb_ccccn,
    pstate: 0x8000_1000n,
    v: Array.from({ length: 32 }, (_, n) => Buffer.alloc(16, n + 1)),
    fpsr: 0x0800_0010,
    fpcr: 0x0300_0000,
    tls: 0xffff_a000_0700n,
  };
}

describe('AArch64 target description', () => {
  it('numbers the registers as gdbserver does for aarch64-linux', () => {
    const desc = describeAarch64Target([registers()]);
    const number = (name: string): number | undefined => desc.registers.find((r) => r.name === name)?.regnum;
    expect(desc.features).toEqual([AARCH64_FEATURE.core, AARCH64_FEATURE.fpu, AARCH64_FEATURE.tls]);
    expect([number('x0'), number('x30'), number('sp'), number('pc'), number('cpsr')]).toEqual([0, 30, 31, 32, 33]);
    expect([number('v0'), number('v31'), number('fpsr'), number('fpcr'), number('tpidr')]).toEqual([34, 65, 66, 67, 68]);
    expect(desc.registers.map((r) => r.bitsize / 8).filter((b, i) => desc.registers[i]!.name.startsWith('v'))).toEqual(Array(32).fill(16));
    expect(desc.gPacketBytes).toBe(31 * 8 + 8 + 8 + 4 + 32 * 16 + 4 + 4 + 8);
    expect(desc.xml).toContain('<architecture>aarch64</architecture>');
    expect(desc.xml).toContain('<osabi>GNU/Linux</osabi>');
  });

  it('lays out the g packet little-endian in register order', () => {
    const regs = registers();
    const bytes = Buffer.from(encodeGPacket(describeAarch64Target([regs]), regs), 'hex');
    expect(bytes.length).toBe(796);
    expect(bytes.readBigUInt64LE(5 * 8)).toBe(regs.x[5]);
    expect(bytes.readBigUInt64LE(31 * 8)).toBe(regs.sp);
    expect(bytes.readBigUInt64LE(32 * 8)).toBe(regs.pc);
    expect(bytes.readUInt32LE(33 * 8)).toBe(0x8000_1000);
    expect(bytes.subarray(268 + 16 * 3, 268 + 16 * 4)).toEqual(Buffer.alloc(16, 4));
    expect(bytes.readUInt32LE(780)).toBe(regs.fpsr);
    expect(bytes.readUInt32LE(784)).toBe(regs.fpcr);
    expect(bytes.readBigUInt64LE(788)).toBe(regs.tls);
  });

  it('expedites x29, sp and pc in stop replies', () => {
    const regs = registers();
    const expedited = encodeExpedited(describeAarch64Target([regs]), regs);
    expect(expedited.split(';').filter(Boolean).map((pair) => pair.split(':')[0])).toEqual(['1d', '1f', '20']);
  });

  it('is chosen by the core image machine, and keeps the saved registers as the live ones', () => {
    expect(architectureFor('aarch64')).toBe(AARCH64);
    expect(AARCH64.elfMachine).toBe(183);
    const regs = registers();
    const live = AARCH64.liveRegisters(regs, () => undefined, { auxv: [], highestAddress: 0xffff_ffff_f000n });
    expect(live.registers).toBe(regs);
    expect(live.unavailable.size).toBe(0);
    expect(live.restart).toBeUndefined();
  });
});

describe('pointer-authentication masks', () => {
  const hwcap = (value: bigint) => [{ type: 16n, value }];
  it('are bits 48..54 when the kernel enabled PAC (HWCAP_PACA, HWCAP_PACG), wider only for higher mappings', () => {
    expect(pauthMask({ auxv: hwcap(1n << 30n), highestAddress: 0xffff_ffff_f000n })).toBe(0x007f_0000_0000_0000n);
    expect(pauthMask({ auxv: hwcap(1n << 31n), highestAddress: 1n << 48n })).toBe(0x007f_0000_0000_0000n);
    expect(pauthMask({ auxv: hwcap(1n << 30n), highestAddress: (1n << 50n) + 0x1000n })).toBe(0x0078_0000_0000_0000n);
    expect(pauthMask({ auxv: hwcap(0x3fff_ffffn), highestAddress: 0xffff_ffff_f000n })).toBeUndefined();
    expect(pauthMask({ auxv: [], highestAddress: 0n })).toBeUndefined();
  });

  it('add the pauth feature after tpidr, with both masks', () => {
    const live = AARCH64.liveRegisters(registers(), () => undefined, { auxv: hwcap(1n << 30n), highestAddress: 0x1000n }).registers;
    const desc = describeAarch64Target([live]);
    expect(desc.features).toEqual([AARCH64_FEATURE.core, AARCH64_FEATURE.fpu, AARCH64_FEATURE.tls, AARCH64_FEATURE.pauth]);
    expect(desc.registers.slice(69).map((r) => [r.name, r.regnum])).toEqual([['pauth_dmask', 69], ['pauth_cmask', 70]]);
    const bytes = Buffer.from(encodeGPacket(desc, live), 'hex');
    expect([bytes.readBigUInt64LE(796), bytes.readBigUInt64LE(804)]).toEqual([0x007f_0000_0000_0000n, 0x007f_0000_0000_0000n]);
  });
});

describe('AArch64 core notes', () => {
  it('writes struct elf_prstatus with pr_reg = x0-x30, sp, pc, pstate', () => {
    const regs = registers();
    const out = encodeAarch64Prstatus({ cursig: 19, sigpend: 2n, sighold: 4n, pid: 77, ppid: 1, pgrp: 70, sid: 60, regs });
    expect(out.length).toBe(AARCH64_PRSTATUS_SIZE);
    expect(out.readInt16LE(12)).toBe(19);
    expect(out.readInt32LE(32)).toBe(77);
    expect(out.readInt32LE(40)).toBe(70);
    expect(out.readBigUInt64LE(112)).toBe(regs.x[0]);
    expect(out.readBigUInt64LE(112 + 30 * 8)).toBe(regs.x[30]);
    expect(out.readBigUInt64LE(360)).toBe(regs.sp);
    expect(out.readBigUInt64LE(368)).toBe(regs.pc);
    expect(out.readBigUInt64LE(376)).toBe(regs.pstate);
    expect(out.readInt32LE(384)).toBe(1);
  });

  it('writes struct user_fpsimd_state, NT_ARM_TLS and the saved pointer-authentication keys', () => {
    const regs: Aarch64Registers = { ...registers(), pac: { apia: 1n, apib: 2n, apda: 3n << 64n, apdb: 4n, apga: (5n << 64n) | 6n } };
    const fpsimd = encodeAarch64Fpsimd(regs);
    expect(fpsimd.length).toBe(AARCH64_FPSIMD_SIZE);
    expect(fpsimd.subarray(16 * 31, 16 * 32)).toEqual(Buffer.alloc(16, 32));
    expect(fpsimd.readUInt32LE(512)).toBe(regs.fpsr);
    expect(fpsimd.readUInt32LE(516)).toBe(regs.fpcr);
    const notes = aarch64RegisterNotes(regs);
    expect(notes.map((n) => [n.name, n.type, n.desc.length])).toEqual([
      ['CORE', NT.FPREGSET, 528],
      ['LINUX', NT.ARM_TLS, 8],
      ['LINUX', NT.ARM_PACA_KEYS, 64],
      ['LINUX', NT.ARM_PACG_KEYS, 16],
    ]);
    expect(notes[1]!.desc.readBigUInt64LE(0)).toBe(regs.tls);
    const keys = notes[2]!.desc;
    expect([keys.readBigUInt64LE(0), keys.readBigUInt64LE(16), keys.readBigUInt64LE(32), keys.readBigUInt64LE(40), keys.readBigUInt64LE(48)]).toEqual([1n, 2n, 0n, 3n, 4n]);
    expect([notes[3]!.desc.readBigUInt64LE(0), notes[3]!.desc.readBigUInt64LE(8)]).toEqual([6n, 5n]);
    expect(aarch64RegisterNotes(registers()).map((n) => n.type)).toEqual([NT.FPREGSET, NT.ARM_TLS]);
    const masked = aarch64RegisterNotes({ ...registers(), pauthMask: 0x007f_0000_0000_0000n });
    expect(masked.map((n) => n.type)).toEqual([NT.FPREGSET, NT.ARM_TLS, NT.ARM_PAC_MASK]);
    expect([masked[2]!.desc.readBigUInt64LE(0), masked[2]!.desc.readBigUInt64LE(8)]).toEqual([0x007f_0000_0000_0000n, 0x007f_0000_0000_0000n]);
  });
});
