/**
 * Per-process and per-thread state that moved over CRIU's history: newer dumps keep it in the core images,
 * older ones in images of their own. Each function takes the core first and falls back to the old image;
 * undefined when the dump records neither. `core` is the relevant core image when already read.
 */
import { readCore, type CoreImage } from '../images/core.js';
import { readCredsImage, type Credentials } from '../images/creds.js';
import type { ImageDirectory } from '../images/directory.js';
import { readRlimitImage, type Rlimit } from '../images/rlimits.js';
import { readSigactionImage, type SigAction } from '../images/sigactions.js';
import { readSharedSignalImage, readThreadSignalImage, type SigInfo } from '../images/signals.js';
import { readTimerImages, type TaskTimers } from '../images/timers.js';

/** Credentials of thread `tid` of process `pid`: the thread's core, else the process-wide creds-PID.img. */
export function readCreds(dir: ImageDirectory, pid: number, tid: number = pid, core?: CoreImage): Credentials | undefined {
  return (core ?? readCore(dir, tid)).thread?.creds ?? readCredsImage(dir, pid);
}

/** Resource limits of process `pid`: the leader's core, else rlimit-PID.img. */
export function readRlimits(dir: ImageDirectory, pid: number, core?: CoreImage): Rlimit[] | undefined {
  return (core ?? readCore(dir, pid)).task?.rlimits ?? readRlimitImage(dir, pid);
}

/** Signal dispositions of process `pid`: the leader's core, else sigacts-PID.img. */
export function readSigactions(dir: ImageDirectory, pid: number, core?: CoreImage): SigAction[] | undefined {
  return (core ?? readCore(dir, pid)).task?.sigactions ?? readSigactionImage(dir, pid);
}

/** Signals pending for the whole process `pid`: the leader's core, else signal-s-PID.img. */
export function readSharedSignals(dir: ImageDirectory, pid: number, core?: CoreImage): SigInfo[] | undefined {
  return (core ?? readCore(dir, pid)).task?.signalsShared ?? readSharedSignalImage(dir, pid);
}

/** Signals pending for thread `tid` only: its core, else signal-p-TID.img. */
export function readThreadSignals(dir: ImageDirectory, tid: number, core?: CoreImage): SigInfo[] | undefined {
  return (core ?? readCore(dir, tid)).thread?.signalsPending ?? readThreadSignalImage(dir, tid);
}

/** Timers of process `pid`: the leader's core, else itimers-PID.img and posix-timers-PID.img. */
export function readTimers(dir: ImageDirectory, pid: number, core?: CoreImage): TaskTimers | undefined {
  return (core ?? readCore(dir, pid)).task?.timers ?? readTimerImages(dir, pid);
}
