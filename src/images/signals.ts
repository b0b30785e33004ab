/**
 * Pending (queued) signals. Each is the kernel's raw 64-bit siginfo_t; this module decodes the fields that
 * si_code makes meaningful. Newer dumps keep the queues in the core images (the process-wide queue in the
 * leader's task part, one private queue per thread); older dumps wrote signal-s-PID.img and
 * signal-p-TID.img.
 */
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { type Decoded, bytes, subs } from './fields.js';
import { readOptionalImage } from './framing.js';
import { Magic } from './magic.js';

/** Size of siginfo_t on the 64-bit architectures criu-gdb reads. */
export const SIGINFO_SIZE = 128;

/** Highest signal number (x86-64, AArch64). */
export const SIGNAL_MAX = 64;

/** What si_code says about where a signal came from. */
export type SigInfoOrigin =
  | 'user' // kill(2), SI_USER
  | 'tkill' // tkill/tgkill, SI_TKILL
  | 'queue' // sigqueue(3), SI_QUEUE
  | 'timer' // POSIX timer expiry, SI_TIMER
  | 'mesgq' // message queue notification, SI_MESGQ
  | 'asyncio' // AIO completion, SI_ASYNCIO
  | 'sigio' // queued SIGIO, SI_SIGIO
  | 'kernel' // sent by the kernel, SI_KERNEL
  | 'fault' // hardware fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP with a positive code)
  | 'child' // SIGCHLD with a CLD_* code
  | 'poll' // SIGPOLL/SIGIO with a POLL_* code
  | 'seccomp' // SIGSYS from a seccomp filter
  | 'other';

/** One decoded siginfo_t. Fields that si_code does not define are left out. */
export interface SigInfo {
  signo: number;
  errno: number;
  code: number;
  origin: SigInfoOrigin;
  /** Sender (user, tkill, queue, mesgq) or child (SIGCHLD). */
  pid?: number;
  uid?: number;
  /** sigval passed with sigqueue, a timer or a message queue. */
  value?: bigint;
  /** Kernel id of the POSIX timer. */
  timerId?: number;
  overrun?: number;
  /** SIGCHLD: exit status or signal. */
  status?: number;
  utime?: bigint;
  stime?: bigint;
  /** Faulting address (fault) or address of the system call (seccomp). */
  addr?: bigint;
  band?: bigint;
  fd?: number;
  syscall?: number;
  /** AUDIT_ARCH_* of the system call (seccomp). */
  arch?: number;
  /** The 128 raw bytes. */
  raw: Buffer;
}

const SIGNAL_NAMES = [
  '', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGUSR1',
  'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP',
  'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
];

/** Name of a signal number on Linux x86-64/AArch64, e.g. `SIGSEGV`; real-time signals are `SIG34` etc. */
export function signalName(signo: number): string {
  return SIGNAL_NAMES[signo] || `SIG${signo}`;
}

const SIGILL = 4, SIGTRAP = 5, SIGBUS = 7, SIGFPE = 8, SIGSEGV = 11, SIGCHLD = 17, SIGPOLL = 29, SIGSYS = 31;
const FAULT_SIGNALS = new Set([SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV]);

/**
 * Decodes one raw siginfo_t (64-bit layout: signo, errno, code, 4 bytes of padding, then the union at 16).
 * `image` and `offset` locate it for errors: a blob that is not 128 bytes or a signal number outside
 * 1..64 is a `bad-value`.
 */
export function decodeSiginfo(raw: Buffer, image: string, offset: number): SigInfo {
  if (raw.length !== SIGINFO_SIZE) {
    throw new ImageError('bad-value', image, offset, `siginfo is ${raw.length} bytes, expected ${SIGINFO_SIZE}`);
  }
  const signo = raw.readInt32LE(0);
  if (signo < 1 || signo > SIGNAL_MAX) throw new ImageError('bad-value', image, offset, `queued signal number ${signo} is out of range`);
  const code = raw.readInt32LE(8);
  const info: SigInfo = { signo, errno: raw.readInt32LE(4), code, origin: 'other', raw: Buffer.from(raw) };
  const sender = (): void => {
    info.pid = raw.readInt32LE(16);
    info.uid = raw.readUInt32LE(20);
  };
  if (code <= 0) {
    switch (code) {
      case 0:
        info.origin = 'user';
        sender();
        break;
      case -6:
        info.origin = 'tkill';
        sender();
        break;
      case -1:
      case -3:
        info.origin = code === -1 ? 'queue' : 'mesgq';
        sender();
        info.value = raw.readBigUInt64LE(24);
        break;
      case -2:
        info.origin = 'timer';
        info.timerId = raw.readInt32LE(16);
        info.overrun = raw.readInt32LE(20);
        info.value = raw.readBigUInt64LE(24);
        break;
      case -4:
        info.origin = 'asyncio';
        break;
      case -5:
        info.origin = 'sigio';
        info.band = raw.readBigInt64LE(16);
        info.fd = raw.readInt32LE(24);
        break;
      default:
        break;
    }
  } else if (code === 0x80) {
    info.origin = 'kernel';
  } else if (FAULT_SIGNALS.has(signo)) {
    info.origin = 'fault';
    info.addr = raw.readBigUInt64LE(16);
  } else if (signo === SIGCHLD) {
    info.origin = 'child';
    sender();
    info.status = raw.readInt32LE(24);
    info.utime = raw.readBigInt64LE(32);
    info.stime = raw.readBigInt64LE(40);
  } else if (signo === SIGPOLL) {
    info.origin = 'poll';
    info.band = raw.readBigInt64LE(16);
    info.fd = raw.readInt32LE(24);
  } else if (signo === SIGSYS) {
    info.origin = 'seccomp';
    info.addr = raw.readBigUInt64LE(16);
    info.syscall = raw.readInt32LE(24);
    info.arch = raw.readUInt32LE(28);
  }
  return info;
}

/** Decodes a `SignalQueueEntry` (the queue embedded in a core image). */
export function decodeSignalQueue(queue: Decoded, image: string, offset: number): SigInfo[] {
  return subs(queue, 'signals').map((entry) => decodeSiginfo(bytes(entry, 'siginfo'), image, offset));
}

function readSignalImage(dir: ImageDirectory, name: string): SigInfo[] | undefined {
  if (!dir.has(name)) return undefined;
  return readOptionalImage(dir, name, Magic.signal, 'SiginfoEntry').map(({ message, offset }) =>
    decodeSiginfo(bytes(message, 'siginfo'), dir.labelPrefix + name, offset),
  );
}

/** signal-s-PID.img: signals pending for the whole process, in dumps older than queues in the core. */
export function readSharedSignalImage(dir: ImageDirectory, pid: number): SigInfo[] | undefined {
  return readSignalImage(dir, `signal-s-${pid}.img`);
}

/** signal-p-TID.img: signals pending for one thread, in dumps older than queues in the core. */
export function readThreadSignalImage(dir: ImageDirectory, tid: number): SigInfo[] | undefined {
  return readSignalImage(dir, `signal-p-${tid}.img`);
}
