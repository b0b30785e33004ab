/**
 * Shared memory: where CRIU keeps the pages of shared mappings, and System V shm segments.
 *
 * ## pagemap-shmem-SHMID.img
 * Every shared memory object (shared anonymous region, memfd, SysV segment) whose pages CRIU saved has
 * one `pagemap-shmem-SHMID.img` (SHMID in decimal) with the usual pagemap layout: a head naming a
 * pages-N.img, then runs of pages. **`vaddr` in these pagemaps is the byte offset inside the object**,
 * not a virtual address (CRIU maps the object at some address A and subtracts A). Pages that are not
 * listed are holes, which read as zeros. Since CRIU 3.x the object's pages are written once, whatever
 * number of processes map it; they are not in any process's pagemap-PID.img.
 *
 * ## Tying a VMA (vmas in mm-PID.img) to its object
 * For an address X inside a VMA, the object offset is `vma.pgoff + (X - vma.start)`.
 * - **MAP_SHARED memfd, and MAP_SHARED|MAP_ANONYMOUS when CRIU could open /proc/PID/map_files (always as
 *   root, CRIU ≥ 3.14)**: status = VMA_AREA_REGULAR | VMA_FILE_SHARED (1<<7) | VMA_AREA_MEMFD (1<<14),
 *   flags = MAP_SHARED without MAP_ANONYMOUS. `vma.shmid` is then a **file id**: a FileEntry of type MEMFD
 *   in files.img (usually one that no descriptor uses), whose `inode_id` names a MemfdInodeEntry in
 *   memfd.img; that entry's `shmid` (the object's inode number) names pagemap-shmem-SHMID.img and its
 *   `size` is the object size. A shared anonymous region shows up as a memfd named `/dev/zero` (its
 *   map_files path). MAP_PRIVATE memfd mappings have VMA_FILE_PRIVATE instead: their written pages are in
 *   the process pagemap, the others come from the same memfd object.
 * - **MAP_SHARED|MAP_ANONYMOUS without map_files** (unprivileged dumps, older CRIU): status has
 *   VMA_ANON_SHARED (1<<8), flags include MAP_ANONYMOUS, and `vma.shmid` is the object's inode number
 *   itself, so the pages are in pagemap-shmem-`vma.shmid`.img.
 * - **SysV shm attachments**: status has VMA_AREA_SYSVIPC (1<<10) and VMA_ANON_SHARED, flags include
 *   MAP_ANONYMOUS; `vma.shmid` is the shm inode number, which the kernel sets to the SysV shm id, so the
 *   pages are in pagemap-shmem-`shmid`.img (`shmid` = `IpcShmEntry.desc.id`; 0 is a valid id).
 *
 * ## ipcns-shm-N.img (SysV shm segments of an IPC namespace)
 * Written only when the dumped tree has its own IPC namespace. N is the namespace's `ipc_ns_id` from
 * ids-PID.img when inventory.img has `ns_per_id`, otherwise the pid of the task that owns the namespace.
 * One IpcShmEntry per segment. With `in_pagemaps` (every CRIU since 3.0, 2017) the contents are in
 * pagemap-shmem-ID.img (ID = desc.id, offsets from the start of the segment). Without it (old dumps) the
 * raw contents follow the entry, `size` rounded up to a multiple of 4 bytes.
 *
 * Very old dumps (before pagemap-shmem) used pages-shmem-SHMID.img; this reader does not handle them.
 */
import type { ImageDirectory } from './directory.js';
import { badValue, type EntrySource } from './file-common.js';
import { bool, has, num, optNum, sub, u64 } from './fields.js';
import { EntryReader } from './framing.js';
import { Magic } from './magic.js';

/** Name of the pagemap image of the shared memory object `shmid` (decimal, as CRIU names it). */
export function shmemPagemapName(shmid: number | bigint): string {
  return `pagemap-shmem-${shmid.toString()}.img`;
}

/** VMA status bits that matter for shared memory (criu/include/image.h). */
export const VMA_STATUS = {
  FILE_PRIVATE: 1 << 6,
  FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8,
  ANON_PRIVATE: 1 << 9,
  SYSVIPC: 1 << 10,
  MEMFD: 1 << 14,
} as const;

/** Name of the SysV shm image of IPC namespace image number `n` (see {@link ipcNsImageNumber}). */
export function ipcnsShmImageName(n: number): string {
  return `ipcns-shm-${n}.img`;
}

/** Number in the ipcns-*-N.img names: the ipc_ns_id with `ns_per_id`, else the pid owning the namespace. */
export function ipcNsImageNumber(opts: { nsPerId?: boolean | undefined; ipcNsId?: number | undefined; pid: number }): number {
  return opts.nsPerId && opts.ipcNsId !== undefined ? opts.ipcNsId : opts.pid;
}

/** One System V shared memory segment. */
export interface SysvShmSegment {
  key: number;
  /** The shm id (shmget's return value); also the shmid of its pagemap and of the VMAs attaching it. */
  id: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  /** Permission bits (and SHM_* flags) as shmctl(IPC_STAT) reports them. */
  mode: number;
  /** Segment size in bytes (not page-rounded). */
  size: bigint;
  /** Contents are in {@link pagemapImage}. */
  inPagemaps: boolean;
  hugetlbFlag?: number;
  /** pagemap-shmem-ID.img (meaningful when inPagemaps). */
  pagemapImage: string;
  /** Old dumps: where the raw contents are (`size` bytes at `offset` of `image`). */
  inline?: { image: string; offset: number; size: number };
  source: EntrySource;
}

/** Reads ipcns-shm-`n`.img. Absent image (no IPC namespace dumped): empty list. */
export function readSysvShm(dir: ImageDirectory, n: number): SysvShmSegment[] {
  const file = dir.tryOpen(ipcnsShmImageName(n));
  if (!file) return [];
  const reader = new EntryReader(file, Magic.ipcnsShm);
  const segments: SysvShmSegment[] = [];
  for (let entry = reader.next('IpcShmEntry'); entry; entry = reader.next('IpcShmEntry')) {
    const { message, offset } = entry;
    const source = { image: file.label, offset };
    const desc = sub(message, 'desc');
    if (!desc) badValue(source, 'shm segment has no descriptor');
    const size = u64(message, 'size');
    const inPagemaps = has(message, 'in_pagemaps') && bool(message, 'in_pagemaps');
    const id = num(desc, 'id');
    const segment: SysvShmSegment = {
      key: num(desc, 'key'),
      id,
      uid: num(desc, 'uid'),
      gid: num(desc, 'gid'),
      cuid: num(desc, 'cuid'),
      cgid: num(desc, 'cgid'),
      mode: num(desc, 'mode'),
      size,
      inPagemaps,
      pagemapImage: shmemPagemapName(id),
      source,
    };
    const hugetlb = optNum(message, 'hugetlb_flag');
    if (hugetlb !== undefined) segment.hugetlbFlag = hugetlb;
    if (!inPagemaps) {
      const stored = (size + 3n) & ~3n;
      if (stored > BigInt(file.size)) badValue(source, `inline shm contents of ${size} bytes exceed the image`);
      const dataOffset = reader.skipBlob(Number(stored));
      segment.inline = { image: file.label, offset: dataOffset, size: Number(size) };
    }
    segments.push(segment);
  }
  return segments;
}
