/**
 * The checkpoint model: what the CLI, the gdb server and the core exporter see. Built from the images by
 * {@link Checkpoint}; nothing here refers to image framing.
 */
import type { TaskState } from '../images/core.js';
import type { VmaKind } from '../images/mm.js';

/** Run state of a process at dump time (zombies are recorded as `dead`). */
export type ProcessState = TaskState;

/** What a mapping is, as far as its content is concerned. */
export type MappingKind = VmaKind;

/** Where the pages of a mapping are, counted in pages. */
export interface MappingCoverage {
  /** Pages whose data is in this checkpoint's pages files. */
  present: number;
  /** Pages whose data is in the parent checkpoint (incremental dumps). */
  inParent: number;
  /** Pages marked lazy (left on a page server): unavailable here. */
  lazy: number;
  /** Pages never touched: zero for anonymous memory. */
  zero: number;
  /** Pages served from the backing file under the root. */
  fromFile: number;
  /** Pages no source can provide. */
  missing: number;
}

/** One line of the process's memory map. */
export interface Mapping {
  start: bigint;
  end: bigint;
  /** `rwxp` / `r--s` as /proc/PID/maps shows. */
  perms: string;
  /** Offset in the mapped file (or shared object). */
  offset: bigint;
  kind: MappingKind;
  /** The name /proc/PID/maps would show (path, [heap], [stack], [vdso], /dev/zero (deleted)...). */
  name: string;
  /** Why the whole mapping is unavailable, when it is (VVAR, missing file...). */
  unavailableReason?: string | undefined;
}

/** A signal waiting for delivery. */
export interface PendingSignal {
  signo: number;
  code: number;
  /** Sender pid, when the siginfo has one. */
  pid?: number | undefined;
}

/** One thread of a process. */
export interface ThreadModel {
  tid: number;
  /** Thread name (comm), at most 15 characters. */
  name: string;
  /** Blocked signal mask, bit N-1 for signal N. */
  blockedSignals: bigint;
  /** Signals pending on this thread. */
  pendingSignals: PendingSignal[];
}

/** One open file descriptor. */
export interface FdModel {
  fd: number;
  /** Kind of file: reg, pipe, unix, inet, eventfd, memfd... */
  kind: string;
  /** The name /proc/PID/fd/N would link to. */
  name: string;
  /** open(2) flags. */
  flags: number;
  /** Extra facts by kind (socket family, state, addresses, file position...), printable. */
  details: Record<string, string | number | boolean>;
}
