import { formatTable } from './format.js';
import { defineView, jsonOption, processOptions, selectedProcesses } from './view.js';

/** Renders open(2) access flags as r, w or rw. */
export function accessMode(flags: number): string {
  switch (flags & 3) {
    case 0:
      return 'r';
    case 1:
      return 'w';
    default:
      return 'rw';
  }
}

/** `fds`: open files, sockets, pipes, cwd and root. */
export const fdsView = defineView({
  name: 'fds',
  usage: 'fds DIR [--pid N] [--json]',
  helpUsage: 'fds DIR [--pid N | --all] [--json] [--root PATH]',
  summary: 'open files, sockets and pipes, with cwd and root',
  description: 'Lists each process open file descriptors with the names /proc/PID/fd would show, socket\nfamilies, addresses and states, pipe inodes, and the current and root directories.',
  options: [jsonOption, ...processOptions],
  operands: { max: 0 },
  inGdb: true,
  perProcess: true,
  collect: (checkpoint, request) =>
    selectedProcesses(checkpoint, request).map((process) => ({
      pid: process.pid,
      comm: process.comm,
      ...process.dirs(),
      fds: process.fds(),
    })),
  text(records) {
    return records
      .map((view) => {
        const rows = view.fds.map((fd) => [
          String(fd.fd),
          fd.kind,
          accessMode(fd.flags),
          fd.name,
          Object.entries(fd.details)
            .map(([key, value]) => `${key}=${String(value)}`)
            .join(' '),
        ]);
        const title = `pid ${view.pid} (${view.comm})  cwd ${view.cwd ?? '?'}  root ${view.root ?? '?'}`;
        return `${title}\n${formatTable(['FD', 'KIND', 'MODE', 'NAME', 'DETAILS'], rows)}`;
      })
      .join('\n\n');
  },
});
