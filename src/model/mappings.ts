import type { MmImage, Vma } from '../images/mm.js';
import { shmemPagemapName } from '../images/shm.js';
import type { CheckpointContext } from './context.js';
import { GUARD_PAGES_REASON, type MemoryRegion } from './memory.js';
import type { Mapping } from './types.js';

/** The name /proc/PID/maps shows for a mapping. */
function mappingName(checkpoint: CheckpointContext, mm: MmImage, vma: Vma): string {
  switch (vma.kind) {
    case 'vsyscall':
      return '[vsyscall]';
    case 'vdso':
      return '[vdso]';
    case 'vvar':
      return '[vvar]';
    case 'heap':
      return '[heap]';
    case 'uprobes':
      return '[uprobes]';
    case 'stack':
      return mm.startStack >= vma.start && mm.startStack < vma.end ? '[stack]' : '';
    case 'anon-shared':
      return '/dev/zero (deleted)';
    case 'sysvipc':
      return `/SYSV (shmid ${vma.shmid})`;
    case 'aio':
      return '/[aio] (deleted)';
    case 'file-private':
    case 'file-shared':
    case 'memfd':
    case 'socket': {
      const file = checkpoint.tolerate(() => checkpoint.files().get(Number(vma.shmid)));
      if (!file) return `[file id ${vma.shmid}]`;
      return file.name;
    }
    default:
      return '';
  }
}

/** Describes a VMA as a line of the memory map. */
export function describeMapping(checkpoint: CheckpointContext, mm: MmImage, vma: Vma): Mapping {
  const region = regionFor(checkpoint, vma);
  return {
    start: vma.start,
    end: vma.end,
    perms: vma.perms,
    offset: vma.pgoff,
    kind: vma.kind,
    name: mappingName(checkpoint, mm, vma),
    unavailableReason: region.content.type === 'unavailable' ? region.content.reason : undefined,
  };
}

/**
 * Where a VMA's bytes come from when CRIU restores it:
 * - private memory (anonymous, heap, stack, dirtied file pages): the process pagemap; untouched anonymous
 *   pages are zero and untouched file pages come from the file;
 * - memfd and shared anonymous memory: pagemap-shmem-SHMID.img of the object (holes are zero);
 * - shared file mappings: the file itself;
 * - VVAR and vsyscall: never dumped, so unavailable.
 */
export function regionFor(checkpoint: CheckpointContext, vma: Vma): MemoryRegion {
  const { start, end } = vma;
  const unavailable = (reason: string): MemoryRegion => ({ start, end, content: { type: 'unavailable', reason } });
  switch (vma.kind) {
    case 'vvar':
      return unavailable('the kernel vvar area is never dumped');
    case 'vsyscall':
      return unavailable('the vsyscall page is not dumped');
    case 'anon-private':
    case 'heap':
    case 'stack':
      return { start, end, content: { type: 'private', holes: { type: 'zero' } } };
    case 'anon-shared':
    case 'sysvipc':
      return { start, end, content: { type: 'shmem', image: shmemPagemapName(Number(vma.shmid)), offset: vma.pgoff } };
    case 'memfd': {
      const file = checkpoint.tolerate(() => checkpoint.files().get(Number(vma.shmid)));
      if (!file || file.kind !== 'memfd' || !file.inode) return unavailable(`memfd object of file id ${vma.shmid} is not in the images`);
      if (vma.isPrivate) {
        // Pages written through the mapping are in the process pagemap; the others are the memfd's.
        return { start, end, content: { type: 'private', holes: { type: 'shmem', image: file.inode.pagemapImage, offset: vma.pgoff } } };
      }
      return { start, end, content: { type: 'shmem', image: file.inode.pagemapImage, offset: vma.pgoff } };
    }
    case 'file-private': {
      const source = checkpoint.contentOfFile(Number(vma.shmid));
      const holes = source ? { type: 'file' as const, source, offset: vma.pgoff } : { type: 'unavailable' as const, reason: `file id ${vma.shmid} is not a regular file in the images` };
      return { start, end, content: { type: 'private', holes } };
    }
    case 'file-shared': {
      const source = checkpoint.contentOfFile(Number(vma.shmid));
      return source ? { start, end, content: { type: 'file', source, offset: vma.pgoff } } : unavailable(`file id ${vma.shmid} is not a regular file in the images`);
    }
    case 'guard':
      return { start, end, guard: true, content: { type: 'unavailable', reason: GUARD_PAGES_REASON } };
    case 'vdso':
      return { start, end, content: { type: 'private', holes: { type: 'unavailable', reason: 'vDSO page missing from the images' } } };
    default:
      return { start, end, content: { type: 'private', holes: { type: 'unavailable', reason: `${vma.kind} mapping: page not in the images` } } };
  }
}
