/** The x86-64 syscall-restart undo (src/arch/x86_64/syscall-restart.ts) on register sets built here. */
import { describe, expect, it } from 'vitest';
import { ERESTARTNOHAND, ERESTARTSYS, ERESTART_RESTARTBLOCK, SYSCALL_RESTART_TABLE, interruptedReturn, liveRegisters } from '../../src/arch/x86_64/syscall-restart.js';
import type { X86Registers } from '../../src/images/registers.js';
import { encodeRegister } from '../../src/rsp/registers.js';
import { describeX86Target } from '../../src/rsp/target-description.js';
import { fxsaveOnly } from '../helpers/x86-registers.js';

describe('syscall restart', () => {
  /** Memory with `code` at `address`. */
  const memory =
    (address: bigint, code: string) =>
    (at: bigint, length: number): Buffer | undefined => {
      const data = Buffer.from(code, 'hex');
      const offset = Number(at - address);
      return offset >= 0 && offset + length <= data.length ? data.subarray(offset, offset + length) : undefined;
    };

  /** A thread as CRIU records it: rewound onto a `syscall` at 0x1002 with rax = orig_rax = nr. */
  function rewound(nr: bigint, args: Partial<X86Registers['gp']> = {}): X86Registers {
    const regs = fxsaveOnly();
    regs.gp = { ...regs.gp, ...args, rax: nr, origRax: nr, rip: 0x1002n };
    return regs;
  }
  const code = memory(0x1000n, 'b8220f05eb'); // mov..., syscall, jmp

  it('undoes the rewind for pause: rip after the syscall, rax = -ERESTARTNOHAND', () => {
    const live = liveRegisters(rewound(34n), code);
    expect(live.registers.gp.rip).toBe(0x1004n);
    expect(live.registers.gp.rax).toBe(BigInt.asUintN(64, -514n));
    expect(live.registers.gp.origRax).toBe(34n);
    expect(live.unavailable.size).toBe(0);
    expect(live.restart).toEqual({ nr: 34, name: 'pause', adjustment: 'rewound', code: ERESTARTNOHAND });
  });

  it('picks the futex code from the operation and timeout', () => {
    expect(liveRegisters(rewound(202n, { rsi: 0x80n, r10: 0n }), code).registers.gp.rax).toBe(BigInt.asUintN(64, -512n));
    expect(liveRegisters(rewound(202n, { rsi: 0x189n, r10: 0n }), code).registers.gp.rax).toBe(BigInt.asUintN(64, -512n));
    expect(liveRegisters(rewound(202n, { rsi: 0x86n }), code).registers.gp.rax).toBe(BigInt.asUintN(64, -513n));
    // A timed wait ends in a restart block, which CRIU never rewinds: the rewind is a contradiction.
    const timed = liveRegisters(rewound(202n, { rsi: 0x80n, r10: 0x7ffe0000n }), code);
    expect(timed.registers.gp.rip).toBe(0x1004n);
    expect([...timed.unavailable]).toEqual(['rax']);
    expect(interruptedReturn(202, { a0: 0n, a1: 0x80n, a2: 0n, a3: 1n, a4: 0n, a5: 0n })).toBe(ERESTART_RESTARTBLOCK);
  });

  it('makes rax unavailable for a syscall it does not know, but still moves rip', () => {
    const live = liveRegisters(rewound(16n), code); // ioctl
    expect(live.registers.gp.rip).toBe(0x1004n);
    expect([...live.unavailable]).toEqual(['rax']);
    const desc = describeX86Target(live.registers);
    expect(encodeRegister(desc.registers.find((r) => r.name === 'rax')!, live.registers, live.unavailable)).toBe('xx'.repeat(8)); // gdb's <unavailable>
    expect(live.restart).toEqual({ nr: 16, adjustment: 'rewound' });
  });

  it('changes nothing without proof', () => {
    const regs = rewound(34n);
    // Not a syscall instruction at rip.
    expect(liveRegisters(regs, memory(0x1000n, 'b8229090eb')).registers).toBe(regs);
    // Code unreadable.
    expect(liveRegisters(regs, () => undefined).registers).toBe(regs);
    // Two syscalls back to back: rip could be after the first one.
    expect(liveRegisters(regs, memory(0x1000n, '0f050f05')).registers).toBe(regs);
    // Not in a syscall.
    const interrupted = { ...regs, gp: { ...regs.gp, origRax: 0xffffffffffffffffn, rax: 0xffffffffffffffffn } };
    expect(liveRegisters(interrupted, code).registers).toBe(interrupted);
    // A syscall that completed (rax is its result, not orig_rax).
    const done = { ...regs, gp: { ...regs.gp, rax: 5n, rip: 0x1004n } };
    expect(liveRegisters(done, code).registers).toBe(done);
  });

  it('restores -ERESTART_RESTARTBLOCK where CRIU wrote -EINTR, only for calls that cannot return -EINTR', () => {
    const after = (nr: bigint, args: Partial<X86Registers['gp']> = {}): X86Registers => {
      const regs = fxsaveOnly();
      regs.gp = { ...regs.gp, ...args, rax: BigInt.asUintN(64, -4n), origRax: nr, rip: 0x1004n };
      return regs;
    };
    const sleep = liveRegisters(after(230n, { rsi: 0n }), code); // clock_nanosleep, relative
    expect(sleep.registers.gp.rax).toBe(BigInt.asUintN(64, -516n));
    expect(sleep.registers.gp.rip).toBe(0x1004n);
    expect(sleep.restart).toEqual({ nr: 230, name: 'clock_nanosleep', adjustment: 'eintr', code: ERESTART_RESTARTBLOCK });
    expect(liveRegisters(after(35n), code).registers.gp.rax).toBe(BigInt.asUintN(64, -516n));
    expect(liveRegisters(after(7n), code).registers.gp.rax).toBe(BigInt.asUintN(64, -516n));
    // Genuine -EINTR: epoll_wait and absolute sleeps are not restart blocks.
    const epoll = after(232n);
    expect(liveRegisters(epoll, code).registers).toBe(epoll);
    const absolute = after(230n, { rsi: 1n });
    expect(liveRegisters(absolute, code).registers).toBe(absolute);
    // No syscall instruction before rip.
    const elsewhere = after(35n);
    expect(liveRegisters(elsewhere, memory(0x1000n, '9090909090')).registers).toBe(elsewhere);
  });

  it('leaves int 0x80 calls with rip moved and rax unavailable', () => {
    const live = liveRegisters(rewound(29n), memory(0x1000n, 'b81dcd80eb'));
    expect(live.registers.gp.rip).toBe(0x1004n);
    expect([...live.unavailable]).toEqual(['rax']);
  });

  it('has a table of known syscalls with codes the kernel uses', () => {
    const args = { a0: 0n, a1: 0n, a2: 0n, a3: 0n, a4: 0n, a5: 0n };
    expect(new Set(SYSCALL_RESTART_TABLE.map((r) => r.nr)).size).toBe(SYSCALL_RESTART_TABLE.length);
    expect(interruptedReturn(0, args)).toBe(ERESTARTSYS);
    expect(interruptedReturn(34, args)).toBe(ERESTARTNOHAND);
    expect(interruptedReturn(130, args)).toBe(ERESTARTNOHAND);
    expect(interruptedReturn(35, args)).toBe(ERESTART_RESTARTBLOCK);
    expect(interruptedReturn(61, args)).toBe(ERESTARTSYS);
    expect(interruptedReturn(232, args)).toBe('EINTR');
    expect(interruptedReturn(16, args)).toBeUndefined();
  });
});
