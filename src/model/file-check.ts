/**
 * The files the processes mapped (executables, libraries, other file mappings), each checked against what
 * the checkpoint recorded about it: size and, in newer CRIU versions, the GNU build-id.
 */
import { RootFile, trimBuildId } from './backing-file.js';
import type { CheckpointContext } from './context.js';
import type { ProcessModel } from './process.js';

/**
 * How a mapped file compares with the checkpoint: `match`; `mismatch` (a file is there but its size or
 * build-id differs); `missing` (nothing can be opened at its path); `deleted` (it was deleted before the
 * dump, and the images carry it as a ghost file).
 */
export type MappedFileStatus = 'match' | 'mismatch' | 'missing' | 'deleted';

/** One mapped file of the checkpoint. */
export interface MappedFile {
  /** The path the processes saw. */
  path: string;
  /** Its file id in the images. */
  fileId: number;
  /** The processes that mapped it, and whether it is one's executable. */
  pids: number[];
  isExecutable: boolean;
  status: MappedFileStatus;
  /** What the checkpoint recorded. */
  recorded: { size?: bigint | undefined; buildId?: string | undefined };
  /** What is under the root now, when a file is there. */
  actual?: { size: number; buildId?: string | undefined } | undefined;
  /** Why it does not match or cannot be used, one line (`mismatch` and `missing` only). */
  problem?: string | undefined;
  /** The checked file (absent for deleted files). */
  source?: RootFile | undefined;
}

/** What follows from a file that does not match, for the warning. */
function consequence(file: MappedFile): string {
  const what = file.isExecutable ? 'the executable' : /\.so(\.|$)/.test(file.path) ? 'a shared library' : 'a mapped file';
  return `it is ${what}: gdb is not given it (no symbols rather than wrong ones: its frames show as ??), and its pages that the process never wrote are unavailable`;
}

/** The warning for a file that does not match the checkpoint: both build-ids, or both sizes, and what follows. */
export function mismatchWarning(file: MappedFile): string {
  const pids = file.pids.length === 1 ? `pid ${file.pids[0]}` : `pids ${file.pids.join(', ')}`;
  const { recorded, actual } = file;
  let difference: string;
  if (recorded.buildId && actual && actual.buildId !== recorded.buildId) {
    difference = `build-id ${actual.buildId ?? 'none'} here, ${recorded.buildId} at the dump`;
  } else if (recorded.size !== undefined && actual) {
    difference = `${actual.size} bytes here, ${recorded.size} at the dump`;
  } else difference = file.problem ?? 'it differs';
  return `${file.path} (${pids}) does not match the checkpoint: ${difference}; ${consequence(file)}`;
}

/**
 * Every file the processes mapped, once each, checked against the checkpoint (files are opened and their
 * headers read). Ordered by path.
 */
export function checkMappedFiles(context: CheckpointContext, processes: readonly ProcessModel[]): MappedFile[] {
  const byId = new Map<number, MappedFile>();
  for (const process of processes) {
    const mm = context.tolerate(() => process.mm());
    if (!mm) continue;
    const ids: Array<{ id: number; exe: boolean }> = [];
    if (mm.exeFileId !== undefined) ids.push({ id: mm.exeFileId, exe: true });
    for (const vma of mm.vmas) if (vma.kind === 'file-private' || vma.kind === 'file-shared') ids.push({ id: Number(vma.shmid), exe: false });
    for (const { id, exe } of ids) {
      const known = byId.get(id);
      if (known) {
        if (!known.pids.includes(process.pid)) known.pids.push(process.pid);
        known.isExecutable ||= exe;
        continue;
      }
      const file = context.tolerate(() => context.files().get(id));
      if (!file || file.kind !== 'reg') continue;
      const recorded = { size: file.size, buildId: file.buildId ? trimBuildId(Buffer.from(file.buildId, 'hex')) : undefined };
      const entry: MappedFile = { path: file.path, fileId: id, pids: [process.pid], isExecutable: exe, status: 'deleted', recorded };
      if (file.ghostId === undefined) {
        const source = context.contentOfFile(id);
        if (source instanceof RootFile) {
          entry.source = source;
          entry.status = source.status();
          entry.actual = source.actual;
          if (entry.status !== 'match') entry.problem = source.problem();
        }
      }
      byId.set(id, entry);
    }
  }
  return [...byId.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.fileId - b.fileId));
}
