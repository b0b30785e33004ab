/**
 * Resource limits (getrlimit). Newer dumps keep them in the task part of the leader's core image;
 * older ones in rlimit-PID.img, one entry per RLIMIT_* number.
 */
import type { ImageDirectory } from './directory.js';
import { type Decoded, u64 } from './fields.js';
import { readOptionalImage } from './framing.js';
import { Magic } from './magic.js';

/** The "no limit" value. */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

/** RLIMIT_* names in number order (generic Linux numbering, shared by x86-64 and AArch64). */
export const RLIMIT_NAMES = [
  'cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'nproc', 'nofile',
  'memlock', 'as', 'locks', 'sigpending', 'msgqueue', 'nice', 'rtprio', 'rttime',
] as const;

/** One resource limit. */
export interface Rlimit {
  /** RLIMIT_* number. */
  resource: number;
  /** Lower-case name without the prefix, e.g. `nofile`; `rlimit<N>` for numbers criu-gdb does not know. */
  name: string;
  /** Soft limit; {@link RLIM_INFINITY} means unlimited. */
  cur: bigint;
  /** Hard limit; {@link RLIM_INFINITY} means unlimited. */
  max: bigint;
}

/** Converts `RlimitEntry` messages, the index of each being its resource number. */
export function decodeRlimits(entries: Decoded[]): Rlimit[] {
  return entries.map((entry, resource) => ({
    resource,
    name: RLIMIT_NAMES[resource] ?? `rlimit${resource}`,
    cur: u64(entry, 'cur'),
    max: u64(entry, 'max'),
  }));
}

/** rlimit-PID.img, where dumps older than rlimits in the core kept them; undefined when absent. */
export function readRlimitImage(dir: ImageDirectory, pid: number): Rlimit[] | undefined {
  const name = `rlimit-${pid}.img`;
  if (!dir.has(name)) return undefined;
  return decodeRlimits(readOptionalImage(dir, name, Magic.rlimit, 'RlimitEntry').map((e) => e.message));
}
