import type { FdEntry } from '../images/fdinfo.js';
import type { FileDescription } from '../images/files.js';
import type { FdModel } from './types.js';

/** The name of a file as /proc/PID/fd shows it (the readers already add ` (deleted)` to unlinked files). */
export function fileDisplayName(file: FileDescription): string {
  return file.name;
}

/** Printable facts about a file, by kind. */
function detailsOf(file: FileDescription): FdModel['details'] {
  if ('socket' in file) {
    const { family, proto, state, local, remote } = file.socket;
    const details: FdModel['details'] = { family, proto, state };
    if (local) details['local'] = local;
    if (remote) details['remote'] = remote;
    return details;
  }
  switch (file.kind) {
    case 'reg': {
      const details: FdModel['details'] = { pos: Number(file.pos) };
      if (file.size !== undefined) details['size'] = Number(file.size);
      if (file.deleted) details['deleted'] = true;
      return details;
    }
    case 'pipe':
      return { pipe: file.pipeId };
    case 'eventfd':
      return { counter: Number(file.counter) };
    case 'memfd':
      return file.inode ? { size: Number(file.inode.size), seals: file.inode.sealNames.join(',') || 'none' } : {};
    default:
      return {};
  }
}

/** Describes one open descriptor from its fdinfo entry and its file description. */
export function describeFd(entry: FdEntry, file: FileDescription): FdModel {
  const flags = 'flags' in file && typeof file.flags === 'number' ? file.flags : 0;
  return { fd: entry.fd, kind: file.kind, name: fileDisplayName(file), flags, details: detailsOf(file) };
}
