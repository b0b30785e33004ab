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
import type { ThreadRegisterState } from '../architecture.js';

const NOTHING_UNAVAILABLE: ReadonlySet<string> = new Set();

/** The registers a debugger attached at dump time saw: the saved ones (see the module comment). */
export function aarch64LiveRegisters(registers: Aarch64Registers): ThreadRegisterState<Aarch64Registers> {
  return { registers, unavailable: NOTHING_UNAVAILABLE };
}
