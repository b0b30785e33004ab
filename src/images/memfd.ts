/**
 * memfd objects. memfd.img holds one MemfdInodeEntry per memfd object (and, since CRIU 3.14, per
 * MAP_SHARED|MAP_ANONYMOUS region dumped through /proc/PID/map_files, which CRIU treats as a memfd
 * named after the mapping, e.g. `/dev/zero`). Open memfd files are FileEntry MEMFD entries pointing at
 * an inode by `inode_id`. The object's pages are in pagemap-shmem-SHMID.img, see shm.ts.
 */
import type { ImageDirectory } from './directory.js';
import { badValue, readEntries, readOwner, type EntrySource, type FileBase, type FileOwner } from './file-common.js';
import { num, optNum, str, u64, type Decoded } from './fields.js';
import { Magic } from './magic.js';
import { shmemPagemapName } from './shm.js';

/** F_SEAL_* bits by name. */
export const MEMFD_SEALS = { seal: 0x1, shrink: 0x2, grow: 0x4, write: 0x8, futureWrite: 0x10 } as const;

/** One memfd object. */
export interface MemfdInode {
  /** criu's number for the object (MemfdFileEntry.inode_id refers to it). */
  inodeId: number;
  /** Name given to memfd_create(2), without the `memfd:` prefix; for a shared anonymous region, its path. */
  name: string;
  uid: number;
  gid: number;
  /** Size of the object in bytes. */
  size: bigint;
  /** Inode number of the object; names pagemap-shmem-SHMID.img. */
  shmid: number;
  /** F_SEAL_* bits. */
  seals: number;
  /** Names of the set seals ({@link MEMFD_SEALS} keys). */
  sealNames: string[];
  hugetlbFlag?: number;
  mode?: number;
  /** pagemap-shmem-SHMID.img holding the pages (may be absent when the object has no data). */
  pagemapImage: string;
  source: EntrySource;
}

/** Reads memfd.img, by inode id. Absent image: empty map. */
export function readMemfdInodes(dir: ImageDirectory): Map<number, MemfdInode> {
  const { label, entries } = readEntries(dir, 'memfd.img', Magic.memfdInode, 'MemfdInodeEntry');
  const result = new Map<number, MemfdInode>();
  for (const { message, offset } of entries) {
    const source = { image: label, offset };
    const wide = u64(message, 'inode_id');
    if (wide > BigInt(Number.MAX_SAFE_INTEGER)) badValue(source, `memfd inode id ${wide} is too large`);
    const inodeId = Number(wide);
    if (result.has(inodeId)) badValue(source, `memfd inode ${inodeId} is described twice`);
    const size = u64(message, 'size');
    if (size > 1n << 62n) badValue(source, `memfd size ${size} is impossible`);
    const seals = num(message, 'seals');
    const shmid = num(message, 'shmid');
    const inode: MemfdInode = {
      inodeId,
      name: str(message, 'name'),
      uid: num(message, 'uid'),
      gid: num(message, 'gid'),
      size,
      shmid,
      seals,
      sealNames: (Object.entries(MEMFD_SEALS) as [string, number][]).filter(([, bit]) => (seals & bit) !== 0).map(([name]) => name),
      pagemapImage: shmemPagemapName(shmid),
      source,
    };
    const hugetlb = optNum(message, 'hugetlb_flag');
    if (hugetlb !== undefined) inode.hugetlbFlag = hugetlb;
    const mode = optNum(message, 'mode');
    if (mode !== undefined) inode.mode = mode;
    result.set(inodeId, inode);
  }
  return result;
}

/** What /proc/PID/fd shows for a memfd: `/memfd:NAME (deleted)`, or `PATH (deleted)` for a shared anonymous region. */
export function memfdLinkName(name: string): string {
  return name.startsWith('/') ? `${name} (deleted)` : `/memfd:${name} (deleted)`;
}

/** An open memfd. */
export interface MemfdFile extends FileBase {
  kind: 'memfd';
  flags: number;
  pos: bigint;
  fown: FileOwner;
  inodeId: number;
  /** The object, when memfd.img describes it. */
  inode?: MemfdInode;
}

/** Decodes a memfd file entry, linking it to its inode when `inodes` has it. */
export function decodeMemfdFile(message: Decoded, source: EntrySource, inodes: ReadonlyMap<number, MemfdInode>): MemfdFile {
  const inodeId = num(message, 'inode_id');
  const inode = inodes.get(inodeId);
  const file: MemfdFile = {
    kind: 'memfd',
    id: num(message, 'id'),
    name: inode ? memfdLinkName(inode.name) : `/memfd:? (deleted)`,
    source,
    flags: num(message, 'flags'),
    pos: u64(message, 'pos'),
    fown: readOwner(message),
    inodeId,
  };
  if (inode) file.inode = inode;
  return file;
}
