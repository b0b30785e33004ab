/**
 * fdinfo-N.img: the descriptors of one file table. Each entry maps a descriptor number to the id of an
 * open file description, which {@link readFileTable} (files.ts) resolves.
 *
 * N is the table's `files_id` from ids-PID.img (or core-PID.img) when inventory.img says
 * `fdinfo_per_id` (every CRIU since 0.4, 2013); very old dumps used the pid instead. Tasks that
 * share a table (CLONE_FILES) share one fdinfo image. Zombies have none.
 */
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { num } from './fields.js';
import { readEntries } from './file-common.js';
import { Magic } from './magic.js';

/** CRIU's file kind numbers (the `type` of fdinfo and files.img entries), by name. */
export const FD_TYPES = {
  UND: 0,
  REG: 1,
  PIPE: 2,
  FIFO: 3,
  INETSK: 4,
  UNIXSK: 5,
  EVENTFD: 6,
  EVENTPOLL: 7,
  INOTIFY: 8,
  SIGNALFD: 9,
  PACKETSK: 10,
  TTY: 11,
  FANOTIFY: 12,
  NETLINKSK: 13,
  NS: 14,
  TUNF: 15,
  EXT: 16,
  TIMERFD: 17,
  MEMFD: 18,
  BPFMAP: 19,
  PIDFD: 20,
} as const;

/** Name of a known file kind, e.g. `'REG'`. */
export type FdTypeName = keyof typeof FD_TYPES;

const NAMES_BY_NUMBER = new Map<number, FdTypeName>(
  (Object.entries(FD_TYPES) as [FdTypeName, number][]).map(([name, value]) => [value, name]),
);

/** Name of a file kind number, or `'UNKNOWN'` for numbers this reader does not know. */
export function fdTypeName(type: number): FdTypeName | 'UNKNOWN' {
  return NAMES_BY_NUMBER.get(type) ?? 'UNKNOWN';
}

/** Highest descriptor number accepted (the kernel's limit on nr_open is below 2^31). */
export const MAX_FD = 0x7fffffff;

/** One descriptor of a file table. */
export interface FdEntry {
  fd: number;
  /** Id of the open file description (key of {@link readFileTable}'s map). */
  id: number;
  /** Kind name, `'UNKNOWN'` for a kind number this reader does not know (see `typeNumber`). */
  type: FdTypeName | 'UNKNOWN';
  typeNumber: number;
  /** Descriptor flags (FD_CLOEXEC = 1). */
  flags: number;
  /** Offset of the entry in its image. */
  offset: number;
}

/** Image name of the fdinfo image numbered `n`. */
export function fdinfoImageName(n: number): string {
  return `fdinfo-${n}.img`;
}

/**
 * Which fdinfo image a task uses: its `files_id` when the inventory says `fdinfo_per_id` (or does not
 * say, as is never the case with a CRIU that can still restore), otherwise its pid.
 */
export function fdinfoNumber(task: { pid: number; filesId?: number | undefined; fdinfoPerId?: boolean | undefined }): number {
  if (task.fdinfoPerId === false || task.filesId === undefined) return task.pid;
  return task.filesId;
}

/**
 * Reads fdinfo-`n`.img (n is normally the files_id, see {@link fdinfoNumber}), sorted by descriptor.
 * The image must exist; a repeated descriptor number is `bad-value`.
 */
export function readFdinfo(dir: ImageDirectory, n: number): FdEntry[] {
  const image = fdinfoImageName(n);
  const { label, entries } = readEntries(dir, image, Magic.fdinfo, 'FdinfoEntry', true, 'FDS', 'descriptors');
  const seen = new Set<number>();
  const result = entries.map(({ message, offset }): FdEntry => {
    const fd = num(message, 'fd');
    if (fd < 0 || fd > MAX_FD) throw new ImageError('bad-value', label, offset, `descriptor number ${fd} is impossible`);
    if (seen.has(fd)) throw new ImageError('bad-value', label, offset, `descriptor ${fd} is listed twice`);
    seen.add(fd);
    const typeNumber = num(message, 'type');
    return { fd, id: num(message, 'id'), type: fdTypeName(typeNumber), typeNumber, flags: num(message, 'flags'), offset };
  });
  return result.sort((a, b) => a.fd - b.fd);
}
