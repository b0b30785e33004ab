/**
 * Kernel-object ids of a task (ids-PID.img): which address space, fd table, fs context, signal handlers
 * and namespaces it shares with other tasks. Tasks with equal ids share the object.
 */
import type { ImageDirectory } from './directory.js';
import { type Decoded, num, optNum, sub } from './fields.js';
import { EntryReader } from './framing.js';
import { Magic } from './magic.js';

/** Ids of the kernel objects one task uses. Namespace ids are absent when the dump did not record them. */
export interface TaskKobjIds {
  vmId: number;
  filesId: number;
  fsId: number;
  sighandId: number;
  pidNsId?: number;
  netNsId?: number;
  ipcNsId?: number;
  utsNsId?: number;
  mntNsId?: number;
  userNsId?: number;
  cgroupNsId?: number;
  timeNsId?: number;
}

/** Converts a decoded `TaskKobjIds` message (from ids-PID.img, the core image or the inventory). */
export function decodeTaskKobjIds(message: Decoded): TaskKobjIds {
  const ids: TaskKobjIds = {
    vmId: num(message, 'vm_id'),
    filesId: num(message, 'files_id'),
    fsId: num(message, 'fs_id'),
    sighandId: num(message, 'sighand_id'),
  };
  const optional: Array<[keyof TaskKobjIds, string]> = [
    ['pidNsId', 'pid_ns_id'],
    ['netNsId', 'net_ns_id'],
    ['ipcNsId', 'ipc_ns_id'],
    ['utsNsId', 'uts_ns_id'],
    ['mntNsId', 'mnt_ns_id'],
    ['userNsId', 'user_ns_id'],
    ['cgroupNsId', 'cgroup_ns_id'],
    ['timeNsId', 'time_ns_id'],
  ];
  for (const [key, field] of optional) {
    const value = optNum(message, field);
    if (value !== undefined) ids[key] = value;
  }
  return ids;
}

/**
 * Reads the kernel-object ids of process `pid` from ids-PID.img. The oldest dumps have no such image and
 * keep the ids in the core image instead; that is used as a fallback. Returns undefined when neither has them.
 */
export function readIds(dir: ImageDirectory, pid: number): TaskKobjIds | undefined {
  const file = dir.tryOpen(`ids-${pid}.img`);
  if (file) {
    const entry = new EntryReader(file, Magic.ids).next('TaskKobjIds');
    return entry ? decodeTaskKobjIds(entry.message) : undefined;
  }
  const core = dir.tryOpen(`core-${pid}.img`);
  if (!core) return undefined;
  const entry = new EntryReader(core, Magic.core).next('CoreEntry');
  const ids = entry ? sub(entry.message, 'ids') : undefined;
  return ids ? decodeTaskKobjIds(ids) : undefined;
}
