/**
 * Syscall restart on AArch64: nothing for criu-gdb to undo.
 *
 * On arm64 the kernel rewinds an interrupted system call before the thread can stop for a debugger: its
 * signal path (do_signal) first turns a -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND or
 * -ERESTART_RESTARTBLOCK result back into the original first argument (x0 = orig_x0) with pc moved back
 * onto the `svc`, and only then enters get_signal(), where the ptrace stop happens. A debugger attached at
 * dump time (live gdb, or CRIU's PTRACE_GETREGSET) therefore already sees x0 = the first argument and pc on
 * the `svc #0`; CRIU's compel saves those registers unchanged (it has no restart adjustment for aarch64, unlike
 * x86-64). The saved registers are the live ones. The -ERESTART* code itself, and orig_x0, are not in the
 * images, and gdb's aarch64 description has no register for them, so nothing is shown as unavailable.
 */
import type { Aarch64Registers } from '../../images/registers.js';
import type { ProcessFacts, ThreadRegisterState } from '../architecture.js';

const NOTHING_UNAVAILABLE: ReadonlySet<string> = new Set();

/** AArch64 registers with the pointer-authentication mask gdb strips return addresses with. */
export interface Aarch64LiveRegisters extends Aarch64Registers {
  /** pauth_dmask = pauth_cmask, when the kernel enabled pointer authentication; see {@link pauthMask}. */
  pauthMask?: bigint;
}

const AT_HWCAP = 16n;
/** HWCAP_PACA and HWCAP_PACG: the kernel enabled address and generic pointer authentication for user space. */
const HWCAP_PAC = (1n << 30n) | (1n << 31n);
/** The lowest virtual-address size of arm64 Linux user space, in bits. */
const MIN_VA_BITS = 48n;

/**
 * The PAC mask of a process whose kernel enabled pointer authentication (AT_HWCAP has PACA or PACG), or
 * undefined. Linux's mask is bits VA_BITS..54 (bit 55 selects the address half); VA_BITS (48 or 52) is not
 * in the images, so this is bits 48..54, or from the width the highest mapping needs: every bit no user
 * address can have. gdb strips exactly the PAC of every return address with it, as with the kernel's, but
 * on a 52-bit kernel the value shown covers four more bits than live gdb's (0x7f000000000000 where the
 * kernel says 0x70000000000000).
 */
export function pauthMask(process: ProcessFacts): bigint | undefined {
  const hwcap = process.auxv.find((e) => e.type === AT_HWCAP)?.value ?? 0n;
  if ((hwcap & HWCAP_PAC) === 0n) return undefined;
  let vaBits = MIN_VA_BITS;
  while (vaBits < 55n && process.highestAddress > 1n << vaBits) vaBits++;
  return vaBits >= 55n ? undefined : ((1n << 55n) - 1n) & ~((1n << vaBits) - 1n);
}

/** The registers a debugger attached at dump time saw: the saved ones (see the module comment). */
export function aarch64LiveRegisters(registers: Aarch64Registers, process: ProcessFacts): ThreadRegisterState<Aarch64LiveRegisters> {
  const mask = pauthMask(process);
  return { registers: mask === undefined ? registers : { ...registers, pauthMask: mask }, unavailable: NOTHING_UNAVAILABLE };
}
