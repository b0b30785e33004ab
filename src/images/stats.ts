/**
 * stats-dump (and stats-restore): what CRIU measured while dumping. A service image: IMG_SERVICE, the
 * STATS magic, then a single StatsEntry. CRIU writes it into its work directory: the images directory of a
 * plain dump, the top of a container checkpoint archive.
 */
import { ImageError } from '../errors.js';
import { optNum, optU64, sub, type Decoded } from './fields.js';
import { decodeMessage, MAX_ENTRY_BYTES } from './framing.js';
import { IMG_SERVICE } from './magic.js';
import { messageLayout } from './schema.js';

/** Magic of stats images (criu/include/magic.h). */
export const STATS_MAGIC = 0x57093306;

/** Dump statistics; times in microseconds. Fields the image does not have are undefined. */
export interface DumpStats {
  freezingTime?: number | undefined;
  frozenTime?: number | undefined;
  memdumpTime?: number | undefined;
  memwriteTime?: number | undefined;
  pagesScanned?: bigint | undefined;
  pagesSkippedParent?: bigint | undefined;
  pagesWritten?: bigint | undefined;
  pagesLazy?: bigint | undefined;
  irmapResolve?: number | undefined;
  pagePipes?: bigint | undefined;
  pagePipeBufs?: bigint | undefined;
  shpagesScanned?: bigint | undefined;
  shpagesSkippedParent?: bigint | undefined;
  shpagesWritten?: bigint | undefined;
}

/** Restore statistics; times in microseconds. */
export interface RestoreStats {
  pagesCompared?: bigint | undefined;
  pagesSkippedCow?: bigint | undefined;
  forkingTime?: number | undefined;
  restoreTime?: number | undefined;
  pagesRestored?: bigint | undefined;
}

export interface Stats {
  dump?: DumpStats | undefined;
  restore?: RestoreStats | undefined;
}

function dumpStats(message: Decoded): DumpStats {
  return {
    freezingTime: optNum(message, 'freezing_time'),
    frozenTime: optNum(message, 'frozen_time'),
    memdumpTime: optNum(message, 'memdump_time'),
    memwriteTime: optNum(message, 'memwrite_time'),
    pagesScanned: optU64(message, 'pages_scanned'),
    pagesSkippedParent: optU64(message, 'pages_skipped_parent'),
    pagesWritten: optU64(message, 'pages_written'),
    pagesLazy: optU64(message, 'pages_lazy'),
    irmapResolve: optNum(message, 'irmap_resolve'),
    pagePipes: optU64(message, 'page_pipes'),
    pagePipeBufs: optU64(message, 'page_pipe_bufs'),
    shpagesScanned: optU64(message, 'shpages_scanned'),
    shpagesSkippedParent: optU64(message, 'shpages_skipped_parent'),
    shpagesWritten: optU64(message, 'shpages_written'),
  };
}

function restoreStats(message: Decoded): RestoreStats {
  return {
    pagesCompared: optU64(message, 'pages_compared'),
    pagesSkippedCow: optU64(message, 'pages_skipped_cow'),
    forkingTime: optNum(message, 'forking_time'),
    restoreTime: optNum(message, 'restore_time'),
    pagesRestored: optU64(message, 'pages_restored'),
  };
}

/** Decodes the bytes of a stats image; `label` names it in errors. */
export function decodeStats(data: Buffer, label: string): Stats {
  if (data.length < 8) throw new ImageError('truncated', label, 0, 'is too short to hold its header');
  const first = data.readUInt32LE(0);
  const second = data.readUInt32LE(4);
  if (first !== IMG_SERVICE) throw new ImageError('bad-magic', label, 0, `has magic 0x${first.toString(16).padStart(8, '0')}, expected 0x${IMG_SERVICE.toString(16)}`);
  if (second !== STATS_MAGIC) throw new ImageError('bad-magic', label, 4, `has magic 0x${second.toString(16).padStart(8, '0')}, expected 0x${STATS_MAGIC.toString(16)}`);
  if (data.length < 12) throw new ImageError('truncated', label, 8, "ends inside an entry's length");
  const length = data.readUInt32LE(8);
  if (length > data.length - 12 || length > MAX_ENTRY_BYTES) {
    throw new ImageError('truncated', label, 8, `entry of ${length} bytes runs past the end of the file (${data.length - 12} bytes left)`);
  }
  const message = decodeMessage(messageLayout('StatsEntry'), data.subarray(12, 12 + length), label, 8);
  const dump = sub(message, 'dump');
  const restore = sub(message, 'restore');
  return { dump: dump ? dumpStats(dump) : undefined, restore: restore ? restoreStats(restore) : undefined };
}
