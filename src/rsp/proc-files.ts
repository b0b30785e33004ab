import type { ProcessModel } from '../model/process.js';
import type { Mapping } from '../model/types.js';

/** A /proc/PID path split into the pid and the rest (`maps`, `task/12/comm`...), or undefined. */
export function parseProcPath(path: string): { pid: number; rest: string } | undefined {
  const match = /^\/proc\/(\d+)(?:\/(.*))?$/.exec(path);
  if (!match) return undefined;
  return { pid: Number(match[1]), rest: match[2] ?? '' };
}

function mapsLine(mapping: Mapping): string {
  const range = `${mapping.start.toString(16).padStart(8, '0')}-${mapping.end.toString(16).padStart(8, '0')}`;
  const prefix = `${range} ${mapping.perms} ${mapping.offset.toString(16).padStart(8, '0')} 00:00 0`;
  return mapping.name ? `${prefix.padEnd(73)}${mapping.name}` : prefix;
}

const STATE_LETTERS: Record<string, string> = { alive: 'S', stopped: 'T', dead: 'Z', zombie: 'Z' };

function stateLine(process: ProcessModel): string {
  const letter = STATE_LETTERS[process.state] ?? 'S';
  const names: Record<string, string> = { S: 'sleeping', T: 'stopped', Z: 'zombie' };
  return `${letter} (${names[letter] ?? 'sleeping'})`;
}

function hexMask(mask: bigint): string {
  return mask.toString(16).padStart(16, '0');
}

/**
 * The content of a synthetic /proc/PID file, built from the images, or undefined when it has none.
 * Served through gdb's remote file I/O so that `info proc` and friends work on a checkpoint.
 */
export function procFileContent(process: ProcessModel, rest: string): Buffer | undefined {
  switch (rest) {
    case 'maps':
      return Buffer.from(process.mappings().map((m) => `${mapsLine(m)}\n`).join(''));
    case 'cmdline': {
      const argv = process.cmdline();
      return argv ? Buffer.from(argv.map((a) => `${a}\0`).join('')) : undefined;
    }
    case 'environ': {
      const env = process.environ();
      return env ? Buffer.from(env.map((e) => `${e}\0`).join('')) : undefined;
    }
    case 'comm':
      return Buffer.from(`${process.comm}\n`);
    case 'auxv': {
      const auxv = process.mm().auxv;
      const out = Buffer.alloc(auxv.length * 8);
      auxv.forEach((value, i) => out.writeBigUInt64LE(BigInt.asUintN(64, value), i * 8));
      return out;
    }
    case 'status': {
      const threads = process.threads();
      const leader = threads[0];
      return Buffer.from(
        [
          `Name:\t${process.comm}`,
          `State:\t${stateLine(process)}`,
          `Tgid:\t${process.pid}`,
          `Pid:\t${process.pid}`,
          `PPid:\t${process.ppid}`,
          `Threads:\t${threads.length}`,
          `SigBlk:\t${hexMask(leader?.blockedSignals ?? 0n)}`,
          '',
        ].join('\n'),
      );
    }
    case 'stat': {
      const letter = STATE_LETTERS[process.state] ?? 'S';
      return Buffer.from(`${process.pid} (${process.comm}) ${letter} ${process.ppid} ${process.pgid} ${process.sid}\n`);
    }
    default: {
      // /proc/PID/task/TID/...: the thread's name; anything else as the process has it.
      const task = /^task\/(\d+)\/(.+)$/.exec(rest);
      if (!task) return undefined;
      const thread = process.threads().find((t) => t.tid === Number(task[1]));
      if (!thread) return undefined;
      return task[2] === 'comm' ? Buffer.from(`${thread.name}\n`) : procFileContent(process, task[2]!);
    }
  }
}

/** The target of a synthetic /proc/PID symlink (`exe`, `cwd`, `root`), or undefined. */
export function procLinkTarget(process: ProcessModel, rest: string): string | undefined {
  switch (rest) {
    case 'exe':
      return process.exe();
    case 'cwd':
      return process.dirs().cwd;
    case 'root':
      return process.dirs().root;
    default:
      return undefined;
  }
}
