/** mountpoints-NSID.img: the mounts of a mount namespace CRIU dumped (the tree had one of its own). */
import type { ImageDirectory } from './directory.js';
import { num, optNum, optStr, str } from './fields.js';
import { EntryReader } from './framing.js';
import { Magic } from './magic.js';

/** CRIU's names for its fstype codes, where /proc would show a different or no name. */
const FS_TYPES: Readonly<Record<number, string>> = {
  1: 'proc', 2: 'sysfs', 3: 'devtmpfs', 4: 'binfmt_misc', 5: 'tmpfs', 6: 'devpts', 7: 'simfs', 8: 'pstore', 9: 'securityfs',
  10: 'fusectl', 11: 'debugfs', 12: 'cgroup', 13: 'aufs', 14: 'mqueue', 15: 'fuse', 17: 'overlay', 18: 'autofs', 19: 'tracefs', 23: 'cgroup2',
};

/** One mount. */
export interface MountEntry {
  mountId: number;
  parentMountId: number;
  /** Where it is mounted, absolute ("/proc"). */
  mountpoint: string;
  /** The file system type: its recorded name, else CRIU's name for its code, else `unknown` (not recorded). */
  type: string;
  source: string;
  /** Path inside the file system that is mounted ("/" unless a bind mount). */
  root: string;
  options: string;
  /** Bind mount of a path outside the dump, named by CRIU's --external key. */
  externalKey?: string | undefined;
}

/** The image of mount namespace `nsId`. */
export function mountpointsImageName(nsId: number): string {
  return `mountpoints-${nsId}.img`;
}

/** "./proc" -> "/proc", "./" -> "/". */
function absolute(mountpoint: string): string {
  const trimmed = mountpoint.replace(/^\.(?=\/|$)/, '');
  return trimmed === '' ? '/' : trimmed.replace(/(.)\/+$/, '$1');
}

/** Reads mountpoints-NSID.img, in mount order; undefined when there is none. */
export function readMountpoints(dir: ImageDirectory, nsId: number): MountEntry[] | undefined {
  const file = dir.tryOpen(mountpointsImageName(nsId));
  if (!file) return undefined;
  const reader = new EntryReader(file, Magic.mnts);
  const mounts: MountEntry[] = [];
  for (let entry = reader.next('MntEntry'); entry; entry = reader.next('MntEntry')) {
    const m = entry.message;
    const fstype = num(m, 'fstype');
    const fsname = optStr(m, 'fsname') || undefined;
    const extKey = optStr(m, 'ext_key') || undefined;
    mounts.push({
      mountId: num(m, 'mnt_id'),
      parentMountId: optNum(m, 'parent_mnt_id') ?? 0,
      mountpoint: absolute(str(m, 'mountpoint')),
      type: fsname ?? FS_TYPES[fstype] ?? 'unknown',
      source: str(m, 'source'),
      root: str(m, 'root'),
      options: str(m, 'options'),
      externalKey: extKey,
    });
  }
  // In mount order, as /proc/PID/mountinfo lists them (CRIU writes them children first).
  return mounts.sort((a, b) => a.mountId - b.mountId);
}
