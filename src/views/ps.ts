import type { Checkpoint } from '../model/checkpoint.js';
import type { ProcessModel } from '../model/process.js';
import { formatTable } from './format.js';
import { defineView, jsonOption } from './view.js';

/** One process as `ps --json` prints it. */
export interface PsRecord {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  state: string;
  comm: string;
  exe: string | null;
  cmdline: string[] | null;
  threads: Array<{ tid: number; name: string }>;
}

function record(process: ProcessModel): PsRecord {
  return {
    pid: process.pid,
    ppid: process.ppid,
    pgid: process.pgid,
    sid: process.sid,
    state: process.state,
    comm: process.comm,
    exe: process.exe() ?? null,
    cmdline: process.cmdline() ?? null,
    threads: process.threads().map(({ tid, name }) => ({ tid, name })),
  };
}

/** Processes in tree order (parents before children, siblings by pid) with their depth. */
export function treeOrder(checkpoint: Checkpoint): Array<{ process: ProcessModel; depth: number }> {
  const pids = new Set(checkpoint.processes.map((p) => p.pid));
  const children = new Map<number, ProcessModel[]>();
  const roots: ProcessModel[] = [];
  for (const process of checkpoint.processes) {
    if (pids.has(process.ppid) && process.ppid !== process.pid) {
      const list = children.get(process.ppid) ?? [];
      list.push(process);
      children.set(process.ppid, list);
    } else roots.push(process);
  }
  const ordered: Array<{ process: ProcessModel; depth: number }> = [];
  const seen = new Set<ProcessModel>(); // a damaged tree may loop
  // Depth-first with a stack of its own, not recursion: a chain of processes is as deep as the image says.
  const visit = (start: ProcessModel): void => {
    const stack: Array<{ process: ProcessModel; depth: number }> = [{ process: start, depth: 0 }];
    for (let next = stack.pop(); next; next = stack.pop()) {
      if (seen.has(next.process)) continue;
      seen.add(next.process);
      ordered.push(next);
      const kids = (children.get(next.process.pid) ?? []).sort((a, b) => b.pid - a.pid);
      for (const child of kids) stack.push({ process: child, depth: next.depth + 1 });
    }
  };
  for (const root of roots) visit(root);
  for (const process of checkpoint.processes) visit(process);
  return ordered;
}

/** Deepest level drawn as indentation; deeper levels show their depth instead, so a chain of thousands of
 * processes costs output in proportion to its length, not to its length squared. */
const MAX_INDENT = 32;

function indent(level: number): string {
  return level <= MAX_INDENT ? '   '.repeat(level) : `${'   '.repeat(MAX_INDENT)}[${level}] `;
}

/** `ps`: the process tree. */
export const psView = defineView({
  name: 'ps',
  usage: 'ps DIR [--json]',
  helpUsage: 'ps DIR [--json] [--root PATH]',
  summary: 'the process tree with state, command line and threads',
  description: 'Lists every process of the checkpoint as a tree, with its state, command line (read from the\nprocess memory) and threads with their names.',
  options: [jsonOption],
  operands: { max: 0 },
  inGdb: true,
  perProcess: false,
  collect: (checkpoint) => treeOrder(checkpoint).map(({ process, depth }) => ({ depth, info: record(process) })),
  json: (records) => records.map(({ info }) => info),
  text(records) {
    const rows: string[][] = [];
    for (const { depth, info } of records) {
      const command = info.cmdline && info.cmdline.length > 0 ? info.cmdline.join(' ') : `[${info.comm}]`;
      rows.push([String(info.pid), String(info.ppid), info.state, String(info.threads.length), `${depth > 0 ? `${indent(depth - 1)}\\_ ` : ''}${command}`]);
      if (info.threads.length > 1) {
        for (const thread of info.threads) rows.push(['', '', '', '', `${indent(depth)}  thread ${thread.tid} ${thread.name}`]);
      }
    }
    return formatTable(['PID', 'PPID', 'STATE', 'THREADS', 'COMMAND'], rows);
  },
});
