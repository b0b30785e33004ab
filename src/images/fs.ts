/** fs-PID.img: the working directory, root directory and umask of a process. */
import type { ImageDirectory } from './directory.js';
import { num, optNum } from './fields.js';
import { readSingleEntry } from './framing.js';
import { Magic } from './magic.js';

/** Decoded fs-PID.img. The ids name entries of the regular-files image. */
export interface FsImage {
  cwdId: number;
  rootId: number;
  /** Absent in dumps that predate it. */
  umask?: number;
}

/** Reads fs-PID.img of process `pid` (the image is named by pid, not by the fs id), which must exist. */
export function readFs(dir: ImageDirectory, pid: number): FsImage {
  const { message } = readSingleEntry(dir, `fs-${pid}.img`, Magic.fs, 'FsEntry');
  const fs: FsImage = { cwdId: num(message, 'cwd_id'), rootId: num(message, 'root_id') };
  const umask = optNum(message, 'umask');
  if (umask !== undefined) fs.umask = umask;
  return fs;
}
