/**
 * core-TID.img: one per thread. Every thread's image holds its registers and per-thread state
 * ({@link ThreadCore}); the thread-group leader's image also holds the process-wide part ({@link TaskCore}).
 */
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { type Decoded, num, optBool, optNum, optStr, optU64, str, sub, subs, u64 } from './fields.js';
import { readSingleEntry } from './framing.js';
import { decodeTaskKobjIds, type TaskKobjIds } from './ids.js';
import { Magic } from './magic.js';
import { decodeCreds, type Credentials } from './creds.js';
import { decodeAarch64ThreadInfo, decodeX86ThreadInfo, type Registers } from './registers.js';
import { decodeRlimits, type Rlimit } from './rlimits.js';
import { decodeSigactions, type SigAction } from './sigactions.js';
import { decodeSignalQueue, type SigInfo } from './signals.js';
import { decodeTaskTimers, type TaskTimers } from './timers.js';

/** Machine the dump was taken on (CoreEntry.mtype). */
export type CoreArch =
  | 'x86_64'
  | 'arm'
  | 'aarch64'
  | 'ppc64'
  | 's390'
  | 'mips'
  | 'loongarch64'
  | 'riscv64'
  | 'unknown'
  | `unknown(${number})`;

const ARCH_NAMES: Record<number, CoreArch> = {
  0: 'unknown',
  1: 'x86_64',
  2: 'arm',
  3: 'aarch64',
  4: 'ppc64',
  5: 's390',
  6: 'mips',
  7: 'loongarch64',
  8: 'riscv64',
};

/** State of a task when it was dumped. */
export type TaskState = 'alive' | 'dead' | 'stopped' | 'zombie' | 'helper' | 'thread' | 'unknown';

/** Names the task state number found in an image. */
export function taskStateName(value: number): TaskState {
  switch (value) {
    case 1:
      return 'alive';
    case 2:
      return 'dead';
    case 3:
      return 'stopped';
    case 6:
      return 'zombie';
    case 4:
    case 0x80:
      return 'helper';
    case 5:
    case 0x81:
      return 'thread';
    default:
      return 'unknown';
  }
}

/** seccomp mode of a thread (SECCOMP_MODE_*). */
export type SeccompMode = 'disabled' | 'strict' | 'filter' | `unknown(${number})`;

function seccompModeName(value: number): SeccompMode {
  return value === 0 ? 'disabled' : value === 1 ? 'strict' : value === 2 ? 'filter' : `unknown(${value})`;
}

/** Process-wide state, found in the leader's core image. */
export interface TaskCore {
  /** CRIU writes zombie processes as `dead` (its TASK_DEAD), never as `zombie`. */
  taskState: TaskState;
  /** The number as stored, for states criu-gdb does not name. */
  taskStateRaw: number;
  /** For dead (zombie) processes: the raw wait status, e.g. `7 << 8` for exit(7). */
  exitCode: number;
  personality: number;
  /** PF_* flags. */
  flags: number;
  /** Blocked signals of the leader (bit n-1 is signal n). */
  blkSigset: bigint;
  /** Signals 65..128 where they exist. */
  blkSigsetExtended?: bigint;
  /** Process name (comm). */
  comm: string;
  /** Absent in old dumps (see timers.ts for the separate images). */
  timers?: TaskTimers;
  /** Absent in old dumps (see rlimits.ts). */
  rlimits?: Rlimit[];
  /** cgroup set id (old place; newer dumps have it per thread). */
  cgSet?: number;
  /** Signals pending for the whole process; absent in old dumps (see signals.ts). */
  signalsShared?: SigInfo[];
  /** seccomp state as old dumps stored it, for the whole process. */
  seccompMode?: SeccompMode;
  seccompFilter?: number;
  loginuid?: number;
  oomScoreAdj?: number;
  /** Signal dispositions; absent in old dumps (see sigactions.ts). */
  sigactions?: SigAction[];
  childSubreaper?: boolean;
  /** Signal that stopped the task, for stopped tasks. */
  stopSigno?: number;
  /** membarrier(2) registrations. */
  membarrierMask?: number;
}

/** sigaltstack() state. */
export interface SigAltStack {
  sp: bigint;
  size: bigint;
  /** SS_* flags. */
  flags: number;
}

/** Restartable-sequences registration. */
export interface RseqState {
  abiPointer: bigint;
  abiSize: number;
  signature: number;
  /** Critical section the thread was in, if any. */
  csPointer?: bigint;
}

/** Per-thread state that is not registers. */
export interface ThreadCore {
  /** set_robust_list() head and length. */
  futexRobustList: bigint;
  futexRobustListLen: number;
  schedNice?: number;
  schedPolicy?: number;
  schedPriority?: number;
  /** Blocked signals of this thread (bit n-1 is signal n). */
  blkSigset?: bigint;
  blkSigsetExtended?: bigint;
  sas?: SigAltStack;
  /** Parent-death signal (prctl PR_SET_PDEATHSIG). */
  pdeathsig?: number;
  /** Signals pending for this thread only; absent in old dumps (see signals.ts). */
  signalsPending?: SigInfo[];
  /** Absent in old dumps (see creds.ts). */
  creds?: Credentials;
  seccompMode?: SeccompMode;
  /** Index of the innermost seccomp filter in seccomp.img. */
  seccompFilter?: number;
  /** Thread name; absent in old dumps. */
  comm?: string;
  rseq?: RseqState;
  cgSet?: number;
}

/** Decoded core-TID.img. */
export interface CoreImage {
  tid: number;
  arch: CoreArch;
  /** Present in the thread-group leader's image. */
  task?: TaskCore;
  /** Kernel-object ids, in the oldest dumps only (newer ones have ids-PID.img). */
  ids?: TaskKobjIds;
  /** Absent only in very old dumps. */
  thread?: ThreadCore;
  /** The thread's name: its own comm, or the process comm when the dump has no per-thread name. */
  name?: string;
  /** Undefined for zombies and dead tasks (nothing saved) and for architectures criu-gdb does not read. */
  registers: Registers | undefined;
}

function decodeTaskCore(tc: Decoded, core: Decoded, image: string, offset: number): TaskCore {
  const raw = num(tc, 'task_state');
  const task: TaskCore = {
    taskState: taskStateName(raw),
    taskStateRaw: raw,
    exitCode: num(tc, 'exit_code'),
    personality: num(tc, 'personality'),
    flags: num(tc, 'flags'),
    blkSigset: u64(tc, 'blk_sigset'),
    comm: str(tc, 'comm'),
  };
  const extended = optU64(tc, 'blk_sigset_extended');
  if (extended !== undefined) task.blkSigsetExtended = extended;
  const timers = sub(tc, 'timers');
  if (timers) task.timers = decodeTaskTimers(timers, image, offset);
  const rlimits = sub(tc, 'rlimits') ?? sub(core, 'old_rlimits');
  if (rlimits) task.rlimits = decodeRlimits(subs(rlimits, 'rlimits'));
  const cgSet = optNum(tc, 'cg_set');
  if (cgSet !== undefined) task.cgSet = cgSet;
  const signals = sub(tc, 'signals_s');
  if (signals) task.signalsShared = decodeSignalQueue(signals, image, offset);
  const seccomp = optNum(tc, 'old_seccomp_mode');
  if (seccomp !== undefined) task.seccompMode = seccompModeName(seccomp);
  const filter = optNum(tc, 'old_seccomp_filter');
  if (filter !== undefined) task.seccompFilter = filter;
  const loginuid = optNum(tc, 'loginuid');
  if (loginuid !== undefined) task.loginuid = loginuid;
  const oom = optNum(tc, 'oom_score_adj');
  if (oom !== undefined) task.oomScoreAdj = oom;
  const actions = subs(tc, 'sigactions');
  if (actions.length > 0) task.sigactions = decodeSigactions(actions.map((message) => ({ message, offset })), image);
  const subreaper = optBool(tc, 'child_subreaper');
  if (subreaper !== undefined) task.childSubreaper = subreaper;
  const stop = optNum(tc, 'stop_signo');
  if (stop !== undefined) task.stopSigno = stop;
  const membarrier = optNum(tc, 'membarrier_registration_mask');
  if (membarrier !== undefined) task.membarrierMask = membarrier;
  return task;
}

function decodeThreadCore(tc: Decoded, image: string, offset: number): ThreadCore {
  const thread: ThreadCore = {
    futexRobustList: u64(tc, 'futex_rla'),
    futexRobustListLen: num(tc, 'futex_rla_len'),
  };
  const nice = optNum(tc, 'sched_nice');
  if (nice !== undefined) thread.schedNice = nice;
  const policy = optNum(tc, 'sched_policy');
  if (policy !== undefined) thread.schedPolicy = policy;
  const priority = optNum(tc, 'sched_prio');
  if (priority !== undefined) thread.schedPriority = priority;
  const pdeathsig = optNum(tc, 'pdeath_sig');
  if (pdeathsig !== undefined) thread.pdeathsig = pdeathsig;
  const filter = optNum(tc, 'seccomp_filter');
  if (filter !== undefined) thread.seccompFilter = filter;
  const cgSet = optNum(tc, 'cg_set');
  if (cgSet !== undefined) thread.cgSet = cgSet;
  const blocked = optU64(tc, 'blk_sigset');
  if (blocked !== undefined) thread.blkSigset = blocked;
  const extended = optU64(tc, 'blk_sigset_extended');
  if (extended !== undefined) thread.blkSigsetExtended = extended;
  const sas = sub(tc, 'sas');
  if (sas) thread.sas = { sp: u64(sas, 'ss_sp'), size: u64(sas, 'ss_size'), flags: num(sas, 'ss_flags') };
  const signals = sub(tc, 'signals_p');
  if (signals) thread.signalsPending = decodeSignalQueue(signals, image, offset);
  const creds = sub(tc, 'creds');
  if (creds) thread.creds = decodeCreds(creds);
  const seccomp = optNum(tc, 'seccomp_mode');
  if (seccomp !== undefined) thread.seccompMode = seccompModeName(seccomp);
  const comm = optStr(tc, 'comm');
  if (comm !== undefined) thread.comm = comm;
  const rseq = sub(tc, 'rseq_entry');
  if (rseq) {
    thread.rseq = { abiPointer: u64(rseq, 'rseq_abi_pointer'), abiSize: num(rseq, 'rseq_abi_size'), signature: num(rseq, 'signature') };
    const cs = optU64(rseq, 'rseq_cs_pointer');
    if (cs !== undefined) thread.rseq.csPointer = cs;
  }
  return thread;
}

/**
 * Converts a decoded `CoreEntry` of thread `tid`. `image` and `offset` locate it for errors: impossible
 * values (a register block of the wrong size, a bad siginfo, timer fractions out of range...) are `bad-value`.
 */
export function decodeCore(message: Decoded, tid: number, image: string, offset: number): CoreImage {
  const mtype = num(message, 'mtype');
  const arch = ARCH_NAMES[mtype] ?? `unknown(${mtype})`;
  let registers: Registers | undefined;
  if (arch === 'x86_64') {
    const info = sub(message, 'thread_info');
    if (info) registers = decodeX86ThreadInfo(info, image, offset);
  } else if (arch === 'aarch64') {
    const info = sub(message, 'ti_aarch64');
    if (info) registers = decodeAarch64ThreadInfo(info, image, offset);
  }
  const core: CoreImage = { tid, arch, registers };
  const tc = sub(message, 'tc');
  if (tc) core.task = decodeTaskCore(tc, message, image, offset);
  const ids = sub(message, 'ids');
  if (ids) core.ids = decodeTaskKobjIds(ids);
  const thread = sub(message, 'thread_core');
  if (thread) core.thread = decodeThreadCore(thread, image, offset);
  const name = core.thread?.comm ?? core.task?.comm;
  if (name !== undefined) core.name = name;
  return core;
}

/** Reads core-TID.img of thread `tid`, which must exist. */
export function readCore(dir: ImageDirectory, tid: number): CoreImage {
  if (!Number.isInteger(tid) || tid <= 0) throw new ImageError('missing', `${dir.labelPrefix}core-${tid}.img`, 0, 'is not a valid thread id');
  const name = `core-${tid}.img`;
  const { message, offset } = readSingleEntry(dir, name, Magic.core, 'CoreEntry');
  return decodeCore(message, tid, dir.labelPrefix + name, offset);
}
