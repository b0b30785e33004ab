/**
 * Terminals. tty-info.img describes each terminal once; files.img (tty.img in old dumps) holds the
 * open files, each pointing at its tty-info entry and at a RegFileEntry with the path it was opened by
 * (`regf_id` since CRIU 3.6; before, the RegFileEntry with the same id as the tty file). tty-data.img
 * holds input buffered in pty pairs.
 *
 * A tty-info id is `index * 2 + 1` for a pty master and `index * 2` for everything else, where index is
 * N of /dev/pts/N for ptys and a fixed per-driver number for the others.
 */
import type { ImageDirectory } from './directory.js';
import { badValue, devMajor, devMinor, readEntries, readOwner, type EntrySource, type FileBase, type FileOwner } from './file-common.js';
import { bool, has, num, optNum, sub, type Decoded } from './fields.js';
import { Magic } from './magic.js';

/** Kinds of terminal CRIU distinguishes. */
export type TtyType = 'unknown' | 'pty' | 'console' | 'vt' | 'ctty' | 'external' | 'serial';

const TTY_TYPES: readonly TtyType[] = ['unknown', 'pty', 'console', 'vt', 'ctty', 'external', 'serial'];

/** Name of a tty type number. */
export function ttyTypeName(type: number): TtyType {
  return TTY_TYPES[type] ?? 'unknown';
}

/** One terminal as tty-info.img describes it. */
export interface TtyInfo {
  id: number;
  type: TtyType;
  typeNumber: number;
  /** Device number and its parts. */
  rdev: number;
  major: number;
  minor: number;
  /** N of /dev/pts/N for ptys. */
  index?: number;
  /** Whether this is the master side of a pty pair (odd id). */
  master: boolean;
  sid: number;
  pgrp: number;
  locked: boolean;
  exclusive: boolean;
  packetMode: boolean;
  /** True when the terminal was hung up (no termios recorded). */
  hungUp: boolean;
  winsize?: { rows: number; cols: number };
  uid?: number;
  gid?: number;
  source: EntrySource;
}

/** Reads tty-info.img, by id. Absent image: empty map. */
export function readTtyInfo(dir: ImageDirectory): Map<number, TtyInfo> {
  const { label, entries } = readEntries(dir, 'tty-info.img', Magic.ttyInfo, 'TtyInfoEntry');
  const result = new Map<number, TtyInfo>();
  for (const { message, offset } of entries) {
    const source = { image: label, offset };
    const id = num(message, 'id');
    if (result.has(id)) badValue(source, `tty ${id} is described twice`);
    const typeNumber = num(message, 'type');
    const rdev = num(message, 'rdev');
    const info: TtyInfo = {
      id,
      type: ttyTypeName(typeNumber),
      typeNumber,
      rdev,
      major: devMajor(rdev),
      minor: devMinor(rdev),
      master: (id & 1) === 1,
      sid: num(message, 'sid'),
      pgrp: num(message, 'pgrp'),
      locked: bool(message, 'locked'),
      exclusive: bool(message, 'exclusive'),
      packetMode: bool(message, 'packet_mode'),
      hungUp: !has(message, 'termios'),
      source,
    };
    const pty = sub(message, 'pty');
    if (pty) info.index = num(pty, 'index');
    else if (info.type === 'pty') badValue(source, `pty ${id} has no index`);
    const winsize = sub(message, 'winsize');
    if (winsize) info.winsize = { rows: num(winsize, 'ws_row'), cols: num(winsize, 'ws_col') };
    const uid = optNum(message, 'uid');
    if (uid !== undefined) info.uid = uid;
    const gid = optNum(message, 'gid');
    if (gid !== undefined) info.gid = gid;
    result.set(id, info);
  }
  return result;
}

/**
 * The usual device path of a terminal when no opened path was recorded: /dev/ptmx for a pty master,
 * /dev/pts/N for a slave, /dev/console, /dev/tty, /dev/ttyN for a virtual console; '' otherwise.
 */
export function ttyDevicePath(info: TtyInfo): string {
  switch (info.type) {
    case 'pty':
      return info.master ? '/dev/ptmx' : `/dev/pts/${info.index ?? info.id >> 1}`;
    case 'console':
      return '/dev/console';
    case 'ctty':
      return '/dev/tty';
    case 'vt':
      return `/dev/tty${info.minor}`;
    default:
      return '';
  }
}

/** An open terminal. */
export interface TtyFile extends FileBase {
  kind: 'tty';
  ttyInfoId: number;
  /** File status flags (O_RDWR...). */
  flags: number;
  fown: FileOwner;
  /** RegFileEntry holding the opened path, when recorded. */
  regfId?: number;
  /** The terminal, when tty-info.img describes it. */
  info?: TtyInfo;
  ttyType: TtyType;
  /** N of /dev/pts/N for ptys. */
  index?: number;
  master: boolean;
  /** Opened path (from the RegFileEntry) or the usual device path. */
  path: string;
}

/**
 * Decodes a tty file entry. `info` is the tty-info entry and `regPath` the path of its RegFileEntry
 * when known; the caller (the file table) supplies them.
 */
export function decodeTtyFile(message: Decoded, source: EntrySource, info: TtyInfo | undefined, regPath: string | undefined): TtyFile {
  const ttyInfoId = num(message, 'tty_info_id');
  const regfId = optNum(message, 'regf_id');
  const path = regPath ?? (info ? ttyDevicePath(info) : '');
  const file: TtyFile = {
    kind: 'tty',
    id: num(message, 'id'),
    name: path || `tty:[${ttyInfoId}]`,
    source,
    ttyInfoId,
    flags: num(message, 'flags'),
    fown: readOwner(message),
    ttyType: info?.type ?? 'unknown',
    master: (ttyInfoId & 1) === 1,
    path,
  };
  if (regfId !== undefined) file.regfId = regfId;
  if (info) {
    file.info = info;
    if (info.index !== undefined) file.index = info.index;
  }
  return file;
}
