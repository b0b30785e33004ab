import { checkBudget } from '../budget.js';
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { num, nums } from './fields.js';
import { EntryReader, type Entry } from './framing.js';
import { Magic } from './magic.js';
import { WireReader } from './wire.js';

/** Field number of PstreeEntry.threads (proto/pstree.proto). */
const PSTREE_THREADS = 5;

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
  const file = dir.openRequired('pstree.img');
  const reader = new EntryReader(file, Magic.pstree);
  const seen = new Set<number>();
  const items: PstreeItem[] = [];
  let threadCount = 0;
  // Processes and threads are counted as they are read, so a tree of millions stops at the cap.
  const guard = (payload: Buffer, at: number): void => {
    checkBudget('PROCESSES', items.length + 1, `${file.label}: processes`);
    threadCount += Math.max(1, new WireReader(payload, file.label, at + 4).countRepeated(PSTREE_THREADS, true));
    checkBudget('THREADS', threadCount, `${file.label}: threads`);
  };
  for (let entry: Entry | undefined = reader.next('PstreeEntry', guard); entry; entry = reader.next('PstreeEntry', guard)) {
    const { message, offset } = entry;
    const pid = num(message, 'pid');
    if (pid <= 0 || seen.has(pid)) throw new ImageError('bad-value', 'pstree.img', offset, `process id ${pid} is invalid or repeated`);
    seen.add(pid);
    const threads = nums(message, 'threads');
    items.push({
      pid,
      ppid: num(message, 'ppid'),
      pgid: num(message, 'pgid'),
      sid: num(message, 'sid'),
      threads: threads.length > 0 ? threads : [pid],
    });
  }
  if (items.length === 0) throw new ImageError('bad-value', 'pstree.img', 0, 'holds no process');
  return items;
}
