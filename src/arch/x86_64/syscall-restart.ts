/**
 * CRIU's syscall-restart adjustment on x86-64, and its undoing: a thread stopped inside an interrupted
 * system call is recorded as if about to restart it. {@link liveRegisters} gives back the registers a
 * debugger attached at dump time saw, where the images prove the adjustment happened.
 */
import type { X86Registers } from '../../images/registers.js';
import type { SyscallRestart, ThreadRegisterState } from '../architecture.js';

const NO_UNAVAILABLE: ReadonlySet<string> = new Set();

/** Kernel-internal restart codes (include/linux/errno.h). */
export const ERESTARTSYS = 512;
export const ERESTARTNOINTR = 513;
export const ERESTARTNOHAND = 514;
export const ERESTART_RESTARTBLOCK = 516;
const EINTR = 4;

/** How the kernel ends a blocking syscall that a signal (here SIGSTOP or CRIU's seize) interrupts. */
export type InterruptedReturn = typeof ERESTARTSYS | typeof ERESTARTNOINTR | typeof ERESTARTNOHAND | typeof ERESTART_RESTARTBLOCK | 'EINTR';

/** Syscall arguments in the x86-64 ABI registers (preserved by the kernel across the call). */
export interface SyscallArgs {
  a0: bigint;
  a1: bigint;
  a2: bigint;
  a3: bigint;
  a4: bigint;
  a5: bigint;
}

/** One row of {@link SYSCALL_RESTART_TABLE}. */
export interface RestartRule {
  nr: number;
  name: string;
  /** What the kernel returns when a signal interrupts the call; undefined when the arguments do not say. */
  code: (args: SyscallArgs) => InterruptedReturn | undefined;
  /** Where the rule comes from. */
  why: string;
}

const always =
  (code: InterruptedReturn) =>
  (): InterruptedReturn =>
    code;

const FUTEX_CMD_MASK = 0x7f; // without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME (256)

function futexReturn(args: SyscallArgs): InterruptedReturn | undefined {
  switch (Number(args.a1 & BigInt(FUTEX_CMD_MASK))) {
    case 0: // FUTEX_WAIT
    case 9: // FUTEX_WAIT_BITSET
      return args.a3 === 0n ? ERESTARTSYS : ERESTART_RESTARTBLOCK;
    case 6: // FUTEX_LOCK_PI
    case 13: // FUTEX_LOCK_PI2
    case 11: // FUTEX_WAIT_REQUEUE_PI
      return ERESTARTNOINTR;
    default:
      return undefined;
  }
}

function fcntlReturn(args: SyscallArgs): InterruptedReturn | undefined {
  const cmd = Number(BigInt.asUintN(32, args.a1));
  return cmd === 7 /* F_SETLKW */ || cmd === 38 /* F_OFD_SETLKW */ ? ERESTARTSYS : undefined;
}

const TIMER_ABSTIME = 1n;

const SYS = always(ERESTARTSYS);
const NOHAND = always(ERESTARTNOHAND);
const BLOCK = always(ERESTART_RESTARTBLOCK);
const NEVER = always('EINTR');

const WAIT_EVENT = 'waits with wait_event_interruptible and friends, which give -ERESTARTSYS';
const SOCKET = 'sock_intr_errno(): -ERESTARTSYS without SO_RCVTIMEO/SO_SNDTIMEO, -EINTR with one';

/**
 * The x86-64 syscalls whose interrupted return value criu-gdb knows, from the kernel's code: what a
 * thread stopped inside them has in rax before CRIU rewrites it. Syscalls not listed get an unavailable
 * rax rather than a guess.
 */
export const SYSCALL_RESTART_TABLE: readonly RestartRule[] = [
  { nr: 0, name: 'read', code: SYS, why: WAIT_EVENT },
  { nr: 1, name: 'write', code: SYS, why: WAIT_EVENT },
  { nr: 2, name: 'open', code: SYS, why: 'FIFO open waits for a partner: -ERESTARTSYS' },
  { nr: 7, name: 'poll', code: BLOCK, why: 'sys_poll turns -ERESTARTNOHAND into a restart block (do_restart_poll)' },
  { nr: 17, name: 'pread64', code: SYS, why: WAIT_EVENT },
  { nr: 18, name: 'pwrite64', code: SYS, why: WAIT_EVENT },
  { nr: 19, name: 'readv', code: SYS, why: WAIT_EVENT },
  { nr: 20, name: 'writev', code: SYS, why: WAIT_EVENT },
  { nr: 23, name: 'select', code: NOHAND, why: 'do_select: -ERESTARTNOHAND (kept by poll_select_finish unless the timeout cannot be written back)' },
  { nr: 34, name: 'pause', code: NOHAND, why: 'sys_pause: -ERESTARTNOHAND' },
  { nr: 35, name: 'nanosleep', code: BLOCK, why: 'hrtimer_nanosleep, relative: restart block' },
  { nr: 42, name: 'connect', code: SYS, why: SOCKET },
  { nr: 43, name: 'accept', code: SYS, why: SOCKET },
  { nr: 44, name: 'sendto', code: SYS, why: SOCKET },
  { nr: 45, name: 'recvfrom', code: SYS, why: SOCKET },
  { nr: 46, name: 'sendmsg', code: SYS, why: SOCKET },
  { nr: 47, name: 'recvmsg', code: SYS, why: SOCKET },
  { nr: 61, name: 'wait4', code: SYS, why: 'do_wait: -ERESTARTSYS' },
  { nr: 69, name: 'msgsnd', code: NOHAND, why: 'do_msgsnd: -ERESTARTNOHAND' },
  { nr: 70, name: 'msgrcv', code: NOHAND, why: 'do_msgrcv: -ERESTARTNOHAND' },
  { nr: 72, name: 'fcntl', code: fcntlReturn, why: 'F_SETLKW/F_OFD_SETLKW wait interruptibly: -ERESTARTSYS; other commands do not block' },
  { nr: 73, name: 'flock', code: SYS, why: 'locks_lock_inode_wait: -ERESTARTSYS' },
  { nr: 128, name: 'rt_sigtimedwait', code: NEVER, why: 'do_sigtimedwait returns -EINTR (never restarted)' },
  { nr: 130, name: 'rt_sigsuspend', code: NOHAND, why: 'sigsuspend: -ERESTARTNOHAND' },
  {
    nr: 202,
    name: 'futex',
    code: futexReturn,
    why: 'FUTEX_WAIT/WAIT_BITSET: -ERESTARTSYS without a timeout, a restart block with one; LOCK_PI, LOCK_PI2, WAIT_REQUEUE_PI: -ERESTARTNOINTR',
  },
  { nr: 219, name: 'restart_syscall', code: BLOCK, why: 'every restart function (nanosleep, poll, futex, cpu/alarm timers) sets a new restart block' },
  {
    nr: 230,
    name: 'clock_nanosleep',
    code: (a) => ((a.a1 & TIMER_ABSTIME) !== 0n ? ERESTARTNOHAND : ERESTART_RESTARTBLOCK),
    why: 'relative: restart block; TIMER_ABSTIME: -ERESTARTNOHAND (hrtimer, cpu and alarm clocks alike)',
  },
  { nr: 232, name: 'epoll_wait', code: NEVER, why: 'ep_poll returns -EINTR (never restarted)' },
  { nr: 247, name: 'waitid', code: SYS, why: 'do_wait: -ERESTARTSYS' },
  { nr: 257, name: 'openat', code: SYS, why: 'FIFO open waits for a partner: -ERESTARTSYS' },
  { nr: 270, name: 'pselect6', code: NOHAND, why: 'do_select: -ERESTARTNOHAND' },
  { nr: 271, name: 'ppoll', code: NOHAND, why: 'do_sys_poll: -ERESTARTNOHAND, no restart block' },
  { nr: 281, name: 'epoll_pwait', code: NEVER, why: 'ep_poll returns -EINTR (never restarted)' },
  { nr: 288, name: 'accept4', code: SYS, why: SOCKET },
  { nr: 295, name: 'preadv', code: SYS, why: WAIT_EVENT },
  { nr: 296, name: 'pwritev', code: SYS, why: WAIT_EVENT },
  { nr: 299, name: 'recvmmsg', code: SYS, why: SOCKET },
  { nr: 307, name: 'sendmmsg', code: SYS, why: SOCKET },
  { nr: 327, name: 'preadv2', code: SYS, why: WAIT_EVENT },
  { nr: 328, name: 'pwritev2', code: SYS, why: WAIT_EVENT },
  { nr: 437, name: 'openat2', code: SYS, why: 'FIFO open waits for a partner: -ERESTARTSYS' },
  { nr: 441, name: 'epoll_pwait2', code: NEVER, why: 'ep_poll returns -EINTR (never restarted)' },
  { nr: 449, name: 'futex_waitv', code: SYS, why: 'futex_wait_multiple: -ERESTARTSYS' },
];

const RULES = new Map(SYSCALL_RESTART_TABLE.map((r) => [r.nr, r]));

/** What the kernel returns for syscall `nr` with these arguments when a signal interrupts it, if known. */
export function interruptedReturn(nr: number, args: SyscallArgs): InterruptedReturn | undefined {
  return RULES.get(nr)?.code(args);
}

/** What {@link liveRegisters} undid (nr is orig_rax; the result register is rax). */
export type { SyscallRestart };

/** Registers as a debugger attached at dump time would have seen them. */
export type LiveRegisters = ThreadRegisterState<X86Registers>;

const SYSCALL_INSN = Buffer.from([0x0f, 0x05]);
const INT80_INSN = Buffer.from([0xcd, 0x80]);

const asSigned = (value: bigint): bigint => BigInt.asIntN(64, value);

function argsOf(regs: X86Registers): SyscallArgs {
  const g = regs.gp;
  return { a0: g.rdi, a1: g.rsi, a2: g.rdx, a3: g.r10, a4: g.r8, a5: g.r9 };
}

function bytesAt(codeAt: (address: bigint, length: number) => Buffer | undefined, address: bigint, length: number): Buffer | undefined {
  if (address < 0n) return undefined;
  try {
    const data = codeAt(address, length);
    return data && data.length >= length ? data.subarray(0, length) : undefined;
  } catch {
    return undefined;
  }
}

function withGp(regs: X86Registers, changes: Partial<X86Registers['gp']>): X86Registers {
  return { ...regs, gp: { ...regs.gp, ...changes } };
}

/**
 * Undoes CRIU's syscall-restart adjustment (compel_get_task_regs) where the images prove it, so rip and
 * rax are what a debugger attached at dump time saw.
 *
 * A thread stopped inside an interrupted syscall has orig_rax = the syscall number, rip just after the
 * `syscall` instruction and rax = the kernel's -ERESTART* code. CRIU records instead:
 * - for -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND: rip - 2 (on the `syscall`) and rax = orig_rax.
 *   Proven when orig_rax >= 0, rax == orig_rax and the two bytes at rip are `0f 05` (and not also the two
 *   before them, which would make rip ambiguous). Then rip += 2 and rax = the code the kernel uses for that
 *   syscall and those arguments ({@link SYSCALL_RESTART_TABLE}); a syscall not in the table, or one whose
 *   code would not have been rewound, leaves rax unavailable. `int 0x80` (`cd 80`) gets rip += 2 and an
 *   unavailable rax (ia32 numbering).
 * - for -ERESTART_RESTARTBLOCK: rax = -EINTR, rip unchanged. Proven when orig_rax >= 0, rax == -EINTR,
 *   the two bytes before rip are `0f 05` and the table says the call can only end in a restart block (such
 *   calls never return -EINTR themselves); then rax = -ERESTART_RESTARTBLOCK. Otherwise -EINTR is genuine
 *   (epoll_wait, rt_sigtimedwait, sockets with timeouts...) and kept.
 *
 * `codeAt` reads the thread's memory (undefined where unavailable). When nothing is proven the registers
 * are returned unchanged.
 */
export function liveRegisters(regs: X86Registers, codeAt: (address: bigint, length: number) => Buffer | undefined): LiveRegisters {
  const g = regs.gp;
  const nr = asSigned(g.origRax);
  if (regs.gp.mode !== 'native' || nr < 0n || nr > 0xffffn) return { registers: regs, unavailable: NO_UNAVAILABLE };
  const number = Number(nr);
  const rule = RULES.get(number);
  const named = rule ? { name: rule.name } : {};

  if (g.rax === g.origRax) {
    const at = bytesAt(codeAt, g.rip, 2);
    if (!at) return { registers: regs, unavailable: NO_UNAVAILABLE };
    const before = bytesAt(codeAt, g.rip - 2n, 2);
    const isSyscall = at.equals(SYSCALL_INSN);
    if ((!isSyscall && !at.equals(INT80_INSN)) || (before && before.equals(at))) return { registers: regs, unavailable: NO_UNAVAILABLE };
    const rip = BigInt.asUintN(64, g.rip + 2n);
    const code = isSyscall ? rule?.code(argsOf(regs)) : undefined;
    if (code === ERESTARTSYS || code === ERESTARTNOINTR || code === ERESTARTNOHAND) {
      return {
        registers: withGp(regs, { rip, rax: BigInt.asUintN(64, BigInt(-code)) }),
        unavailable: NO_UNAVAILABLE,
        restart: { nr: number, ...named, adjustment: 'rewound', code },
      };
    }
    return { registers: withGp(regs, { rip }), unavailable: new Set(['rax']), restart: { nr: number, ...named, adjustment: 'rewound' } };
  }

  if (asSigned(g.rax) === BigInt(-EINTR) && rule?.code(argsOf(regs)) === ERESTART_RESTARTBLOCK) {
    const before = bytesAt(codeAt, g.rip - 2n, 2);
    if (before?.equals(SYSCALL_INSN)) {
      return {
        registers: withGp(regs, { rax: BigInt.asUintN(64, BigInt(-ERESTART_RESTARTBLOCK)) }),
        unavailable: NO_UNAVAILABLE,
        restart: { nr: number, ...named, adjustment: 'eintr', code: ERESTART_RESTARTBLOCK },
      };
    }
  }
  return { registers: regs, unavailable: NO_UNAVAILABLE };
}
