/**
 * Interval timers (setitimer: real, virtual, profiling) and POSIX timers (timer_create). Newer dumps keep
 * them in the task part of the leader's core image; older ones in itimers-PID.img and posix-timers-PID.img.
 */
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { type Decoded, num, optNum, sub, subs, u64 } from './fields.js';
import { readOptionalImage } from './framing.js';
import { Magic } from './magic.js';

/** An interval timer. All zero means disarmed. */
export interface Itimer {
  intervalSec: bigint;
  intervalUsec: bigint;
  /** Time left until the next expiry. */
  valueSec: bigint;
  valueUsec: bigint;
  armed: boolean;
}

/** A POSIX timer. */
export interface PosixTimer {
  /** Timer id as the process sees it. */
  id: number;
  clockId: number;
  signo: number;
  /** SIGEV_* notification method. */
  sigevNotify: number;
  /** sigev_value passed to the handler. */
  sivalPtr: bigint;
  overrun: number;
  intervalSec: bigint;
  intervalNsec: bigint;
  valueSec: bigint;
  valueNsec: bigint;
  /** Thread notified with SIGEV_THREAD_ID. */
  notifyThreadId?: number;
}

/** All timers of a process. */
export interface TaskTimers {
  real: Itimer;
  virt: Itimer;
  prof: Itimer;
  posix: PosixTimer[];
}

const USEC = 1_000_000n;
const NSEC = 1_000_000_000n;

function fraction(value: bigint, limit: bigint, what: string, image: string, offset: number): bigint {
  if (value >= limit) throw new ImageError('bad-value', image, offset, `${what} ${value} is not below ${limit}`);
  return value;
}

/** Converts an `ItimerEntry`; microsecond fields of a million or more are a `bad-value`. */
export function decodeItimer(message: Decoded, image: string, offset: number): Itimer {
  const timer = {
    intervalSec: u64(message, 'isec'),
    intervalUsec: fraction(u64(message, 'iusec'), USEC, 'itimer interval microseconds', image, offset),
    valueSec: u64(message, 'vsec'),
    valueUsec: fraction(u64(message, 'vusec'), USEC, 'itimer value microseconds', image, offset),
  };
  return { ...timer, armed: timer.intervalSec + timer.intervalUsec + timer.valueSec + timer.valueUsec !== 0n };
}

/** Converts a `PosixTimerEntry`; nanosecond fields of a billion or more are a `bad-value`. */
export function decodePosixTimer(message: Decoded, image: string, offset: number): PosixTimer {
  const timer: PosixTimer = {
    id: num(message, 'it_id'),
    clockId: num(message, 'clock_id'),
    signo: num(message, 'si_signo'),
    sigevNotify: num(message, 'it_sigev_notify'),
    sivalPtr: u64(message, 'sival_ptr'),
    overrun: num(message, 'overrun'),
    intervalSec: u64(message, 'isec'),
    intervalNsec: fraction(u64(message, 'insec'), NSEC, 'posix timer interval nanoseconds', image, offset),
    valueSec: u64(message, 'vsec'),
    valueNsec: fraction(u64(message, 'vnsec'), NSEC, 'posix timer value nanoseconds', image, offset),
  };
  const thread = optNum(message, 'notify_thread_id');
  if (thread !== undefined) timer.notifyThreadId = thread;
  return timer;
}

/** Converts a `TaskTimersEntry` (the timers embedded in a core image). */
export function decodeTaskTimers(message: Decoded, image: string, offset: number): TaskTimers {
  const itimer = (field: string): Itimer => {
    const entry = sub(message, field);
    if (!entry) throw new ImageError('bad-value', image, offset, `timers have no ${field} itimer`);
    return decodeItimer(entry, image, offset);
  };
  return {
    real: itimer('real'),
    virt: itimer('virt'),
    prof: itimer('prof'),
    posix: subs(message, 'posix').map((p) => decodePosixTimer(p, image, offset)),
  };
}

/**
 * itimers-PID.img (exactly three entries: real, virtual, prof) and posix-timers-PID.img, where dumps older
 * than timers in the core kept them; undefined when absent.
 */
export function readTimerImages(dir: ImageDirectory, pid: number): TaskTimers | undefined {
  const itimersName = `itimers-${pid}.img`;
  if (!dir.has(itimersName)) return undefined;
  const label = dir.labelPrefix + itimersName;
  const itimers = readOptionalImage(dir, itimersName, Magic.itimers, 'ItimerEntry');
  const [real, virt, prof] = itimers.map(({ message, offset }) => decodeItimer(message, label, offset));
  if (!real || !virt || !prof || itimers.length !== 3) {
    throw new ImageError('bad-value', label, 0, `holds ${itimers.length} interval timers, expected 3`);
  }
  const posixName = `posix-timers-${pid}.img`;
  const posix = readOptionalImage(dir, posixName, Magic.posixTimers, 'PosixTimerEntry').map(({ message, offset }) =>
    decodePosixTimer(message, dir.labelPrefix + posixName, offset),
  );
  return { real, virt, prof, posix };
}
