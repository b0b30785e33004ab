/**
 * remap-fpath.img: open files whose path cannot simply be reopened on restore.
 * - `ghost`: the file was deleted; its contents are in ghost-file-ID.img (ghost.ts).
 * - `linked`: the file was deleted but CRIU hard-linked it to a temporary name; `remapId` is the
 *   RegFileEntry id of that link.
 * - `procfs`: a /proc/PID file of a process that has exited; `remapId` is that pid.
 */
import type { ImageDirectory } from './directory.js';
import { badValue, readEntries, type EntrySource } from './file-common.js';
import { num, optNum } from './fields.js';
import { Magic } from './magic.js';

/** Kind of remap. */
export type RemapType = 'linked' | 'ghost' | 'procfs' | 'unknown';

/** Bit 31 of remap_id marked a ghost in dumps written before remap_type existed. */
export const LEGACY_REMAP_GHOST = 0x80000000;

/** One remap-fpath entry. */
export interface FileRemap {
  /** RegFileEntry id of the open file. */
  origId: number;
  /** Ghost image number, linked RegFileEntry id, or pid (see {@link RemapType}). */
  remapId: number;
  type: RemapType;
  typeNumber: number;
  source: EntrySource;
}

const REMAP_TYPES: readonly RemapType[] = ['linked', 'ghost', 'procfs'];

/** Reads remap-fpath.img, by the id of the remapped file. Absent image: empty map. */
export function readRemaps(dir: ImageDirectory): Map<number, FileRemap> {
  const { label, entries } = readEntries(dir, 'remap-fpath.img', Magic.remapFpath, 'RemapFilePathEntry');
  const result = new Map<number, FileRemap>();
  for (const { message, offset } of entries) {
    const source = { image: label, offset };
    const origId = num(message, 'orig_id');
    let remapId = num(message, 'remap_id') >>> 0;
    let typeNumber = optNum(message, 'remap_type');
    if (typeNumber === undefined) {
      typeNumber = (remapId & LEGACY_REMAP_GHOST) !== 0 ? 1 : 0;
      remapId = (remapId & ~LEGACY_REMAP_GHOST) >>> 0;
    }
    if (result.has(origId)) badValue(source, `file ${origId} is remapped twice`);
    result.set(origId, { origId, remapId, type: REMAP_TYPES[typeNumber] ?? 'unknown', typeNumber, source });
  }
  return result;
}
