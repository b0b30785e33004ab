/**
 * Register values of a checkpointed AArch64 thread, little-endian, by gdb register name. Every register of
 * the description is in every AArch64 core image CRIU writes (general, FP/SIMD and TLS sets are required
 * there), so nothing is unavailable unless the syscall-restart module says so.
 */
import { u32, u64 } from '../register-bytes.js';
import type { Aarch64LiveRegisters } from './syscall-restart.js';

/** The bytes of register `name` (x0..x30, sp, pc, cpsr, v0..v31, fpsr, fpcr, tpidr), or undefined. */
export function aarch64RegisterValue(name: string, regs: Aarch64LiveRegisters): Buffer | undefined {
  const x = /^x(\d+)$/.exec(name);
  if (x) {
    const value = regs.x[Number(x[1])];
    return value === undefined ? undefined : u64(value);
  }
  const v = /^v(\d+)$/.exec(name);
  if (v) {
    const value = regs.v[Number(v[1])];
    return value && value.length === 16 ? Buffer.from(value) : undefined;
  }
  switch (name) {
    case 'sp':
      return u64(regs.sp);
    case 'pc':
      return u64(regs.pc);
    case 'cpsr':
      // PSTATE is 64 bits in user_pt_regs; every bit user space can see is in the low 32.
      return u32(regs.pstate);
    case 'fpsr':
      return u32(regs.fpsr);
    case 'fpcr':
      return u32(regs.fpcr);
    case 'tpidr':
      return u64(regs.tls);
    case 'pauth_dmask':
    case 'pauth_cmask':
      return regs.pauthMask === undefined ? undefined : u64(regs.pauthMask);
    default:
      return undefined;
  }
}
