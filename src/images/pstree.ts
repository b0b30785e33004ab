import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { num, nums } from './fields.js';
import { readImage } from './framing.js';
import { Magic } from './magic.js';

/** One process of the tree, as pstree.img records it. */
export interface PstreeItem {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** Thread ids; the first is the thread-group leader. */
  threads: number[];
}

/** Reads pstree.img. Fails when it is missing, damaged or holds no process. */
export function readPstree(dir: ImageDirectory): PstreeItem[] {
  const entries = readImage(dir, 'pstree.img', Magic.pstree, 'PstreeEntry');
  if (entries.length === 0) throw new ImageError('bad-value', 'pstree.img', 0, 'holds no process');
  const seen = new Set<number>();
  return entries.map(({ message, offset }) => {
    const pid = num(message, 'pid');
    if (pid <= 0 || seen.has(pid)) throw new ImageError('bad-value', 'pstree.img', offset, `process id ${pid} is invalid or repeated`);
    seen.add(pid);
    const threads = nums(message, 'threads');
    return {
      pid,
      ppid: num(message, 'ppid'),
      pgid: num(message, 'pgid'),
      sid: num(message, 'sid'),
      threads: threads.length > 0 ? threads : [pid],
    };
  });
}
