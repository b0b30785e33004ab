/**
 * The open file descriptions of a checkpoint, keyed by file id (the id fdinfo entries use).
 *
 * Since CRIU 3.4 (2017) they are all in files.img: one FileEntry per description, with a `type` and the
 * sub-message of that type. Older dumps had one image per kind (reg-files.img, pipes.img, unixsk.img,
 * inetsk.img, ...); {@link readFileTable} reads those when files.img is absent. Both layouts are then
 * completed from the side images: remap-fpath.img and ghost files (deleted files), memfd.img,
 * tty-info.img, pipes-data.img / fifo-data.img (buffered pipe data), eventpoll-tfd.img, inotify-wd.img
 * and fanotify-mark.img (watches that old dumps kept apart).
 */
import type { ImageDirectory } from './directory.js';
import { FD_TYPES, fdTypeName } from './fdinfo.js';
import {
  badValue,
  hex,
  readEntries,
  readOwner,
  wordsToBytes,
  type EntrySource,
  type FileBase,
  type FileOwner,
} from './file-common.js';
import { bool, has, num, nums, optNum, optStr, optU64, str, sub, subs, u64, type Decoded } from './fields.js';
import { EntryReader, type Entry } from './framing.js';
import { ghostImageName } from './ghost.js';
import { Magic } from './magic.js';
import { decodeMemfdFile, readMemfdInodes, type MemfdFile, type MemfdInode } from './memfd.js';
import { readRemaps, type FileRemap } from './remap.js';
import {
  decodeInetSocket,
  decodeNetlinkSocket,
  decodePacketSocket,
  decodeUnixSocket,
  type InetSocket,
  type NetlinkSocket,
  type PacketSocket,
  type UnixSocket,
} from './sockets.js';
import { decodeTtyFile, readTtyInfo, type TtyFile, type TtyInfo } from './tty.js';

/** Kinds defined next to their decoders, re-exported so that users need only this module. */
export type { InetSocket, NetlinkSocket, PacketSocket, UnixSocket } from './sockets.js';
export type { TtyFile } from './tty.js';
export type { MemfdFile } from './memfd.js';

/** A regular file, directory or device node opened by path. */
export interface RegFile extends FileBase {
  kind: 'reg';
  /** Path from the root of the task's mount namespace. */
  path: string;
  /** open(2) flags. */
  flags: number;
  pos: bigint;
  fown: FileOwner;
  /** Size at dump time, when recorded. */
  size?: bigint;
  /** st_mode at dump time, when recorded. */
  mode?: number;
  /** ELF build-id as hex (CRIU pads it with zeros to a multiple of 4 bytes), when recorded. */
  buildId?: string;
  checksum?: number;
  /** Mount id, -1 when unknown. */
  mntId: number;
  /** Declared external on dump. */
  ext: boolean;
  /** The file had been unlinked (or was a /proc file of an exited process). */
  deleted: boolean;
  /** How CRIU handles the missing path, when it does. */
  remap?: FileRemap;
  /** For a ghost: the ghost-file image number (read it with readGhostFile). */
  ghostId?: number;
  /** For a linked remap: the RegFileEntry id of the temporary hard link. */
  linkedId?: number;
}

/** Bytes buffered in a pipe or fifo at dump time. */
export interface PipeBuffer {
  bytes: number;
  /** Pipe capacity, when recorded. */
  capacity?: number;
  image: string;
  dataOffset: number;
}

/** One end of an anonymous pipe. */
export interface PipeFile extends FileBase {
  kind: 'pipe';
  /** Pipe inode number. */
  pipeId: number;
  flags: number;
  fown: FileOwner;
  buffered?: PipeBuffer;
}

/** A named pipe. */
export interface FifoFile extends FileBase {
  kind: 'fifo';
  pipeId: number;
  /** RegFileEntry with the path, flags and position. */
  regfId: number;
  path: string;
  flags: number;
  buffered?: PipeBuffer;
}

/** An eventfd. */
export interface EventfdFile extends FileBase {
  kind: 'eventfd';
  counter: bigint;
  flags: number;
  fown: FileOwner;
}

/** A descriptor watched by an epoll instance. */
export interface EpollTarget {
  /** Descriptor number in the owning task. */
  tfd: number;
  events: number;
  data: bigint;
  dev?: number;
  inode?: bigint;
  pos?: bigint;
}

/** An epoll instance. */
export interface EventpollFile extends FileBase {
  kind: 'eventpoll';
  flags: number;
  fown: FileOwner;
  targets: EpollTarget[];
}

/** A signalfd. */
export interface SignalfdFile extends FileBase {
  kind: 'signalfd';
  flags: number;
  fown: FileOwner;
  sigmask: bigint;
  /** Accepted signal numbers. */
  signals: number[];
}

/** A timespec split into seconds and nanoseconds. */
export interface TimeSpec {
  sec: bigint;
  nsec: bigint;
}

/** A timerfd. */
export interface TimerfdFile extends FileBase {
  kind: 'timerfd';
  flags: number;
  fown: FileOwner;
  clockid: number;
  /** `realtime`, `monotonic`, `boottime`... */
  clock: string;
  /** Expirations not yet read. */
  ticks: bigint;
  settimeFlags: number;
  /** Time to the next expiry (zero: disarmed). */
  value: TimeSpec;
  interval: TimeSpec;
}

/** An inotify watch. */
export interface InotifyWatch {
  wd: number;
  ino: bigint;
  mask: number;
  ignoredMask: number;
  /** Device of the watched inode (kernel encoding). */
  sDev: number;
  /** Path CRIU resolved for the inode, when it did. */
  path?: string;
  mntId?: number;
}

/** An inotify instance. */
export interface InotifyFile extends FileBase {
  kind: 'inotify';
  flags: number;
  fown: FileOwner;
  watches: InotifyWatch[];
}

/** A fanotify mark. */
export interface FanotifyMark {
  type: 'inode' | 'mount' | 'unknown';
  typeNumber: number;
  mflags: number;
  mask: number;
  ignoredMask: number;
  sDev: number;
  ino?: bigint;
  path?: string;
  mntId?: number;
}

/** A fanotify instance. */
export interface FanotifyFile extends FileBase {
  kind: 'fanotify';
  flags: number;
  fown: FileOwner;
  faflags: number;
  evflags: number;
  marks: FanotifyMark[];
}

/** A /dev/net/tun file. */
export interface TunFile extends FileBase {
  kind: 'tun';
  netdev?: string;
  detached?: boolean;
  nsId?: number;
}

/** An open namespace file (/proc/PID/ns/...). */
export interface NsFile extends FileBase {
  kind: 'ns';
  /** criu's namespace number (not the namespace inode). */
  nsId: number;
  /** `net`, `mnt`, `pid`, `ipc`, `uts`, `user`, `cgroup`, `time` or `unknown`. */
  nsType: string;
  cflag: number;
  flags: number;
}

/** A file handled by a plugin. */
export interface ExtFile extends FileBase {
  kind: 'ext';
  fown: FileOwner;
}

/** A pidfd. */
export interface PidfdFile extends FileBase {
  kind: 'pidfd';
  ino: number;
  /** Pid in the owner's pid namespace, -1 when the process had exited. */
  nspid: number;
  flags: number;
  fown: FileOwner;
}

/** A BPF map. */
export interface BpfmapFile extends FileBase {
  kind: 'bpfmap';
  flags: number;
  pos: bigint;
  fown: FileOwner;
  mapType: number;
  keySize: number;
  valueSize: number;
  mapId: number;
  maxEntries: number;
  mapFlags: number;
  memlock: bigint;
  frozen: boolean;
  mapName: string;
  ifindex: number;
}

/** A file of a kind this reader does not know. */
export interface UnknownFile extends FileBase {
  kind: 'unknown';
  typeNumber: number;
}

/** One open file description, by kind. */
export type FileDescription =
  | RegFile
  | PipeFile
  | FifoFile
  | UnixSocket
  | InetSocket
  | NetlinkSocket
  | PacketSocket
  | EventfdFile
  | EventpollFile
  | SignalfdFile
  | TimerfdFile
  | InotifyFile
  | FanotifyFile
  | TtyFile
  | TunFile
  | MemfdFile
  | NsFile
  | ExtFile
  | PidfdFile
  | BpfmapFile
  | UnknownFile;

// ---------------------------------------------------------------------------------------------------

/** files.img sub-message field and per-kind image (old dumps) of each known file type. */
const KINDS: ReadonlyArray<{ type: number; field: string; message: string; image: string; magic: number }> = [
  { type: FD_TYPES.REG, field: 'reg', message: 'RegFileEntry', image: 'reg-files.img', magic: Magic.regFiles },
  { type: FD_TYPES.INETSK, field: 'isk', message: 'InetSkEntry', image: 'inetsk.img', magic: Magic.inetSk },
  { type: FD_TYPES.NS, field: 'nsf', message: 'NsFileEntry', image: 'ns-files.img', magic: Magic.nsFiles },
  { type: FD_TYPES.PACKETSK, field: 'psk', message: 'PacketSockEntry', image: 'packetsk.img', magic: Magic.packetSk },
  { type: FD_TYPES.NETLINKSK, field: 'nlsk', message: 'NetlinkSkEntry', image: 'netlinksk.img', magic: Magic.netlinkSk },
  { type: FD_TYPES.EVENTFD, field: 'efd', message: 'EventfdFileEntry', image: 'eventfd.img', magic: Magic.eventfdFile },
  { type: FD_TYPES.EVENTPOLL, field: 'epfd', message: 'EventpollFileEntry', image: 'eventpoll.img', magic: Magic.eventpollFile },
  { type: FD_TYPES.SIGNALFD, field: 'sgfd', message: 'SignalfdEntry', image: 'signalfd.img', magic: Magic.signalfd },
  { type: FD_TYPES.TUNF, field: 'tunf', message: 'TunfileEntry', image: 'tunfile.img', magic: Magic.tunfile },
  { type: FD_TYPES.TIMERFD, field: 'tfd', message: 'TimerfdEntry', image: 'timerfd.img', magic: Magic.timerfd },
  { type: FD_TYPES.INOTIFY, field: 'ify', message: 'InotifyFileEntry', image: 'inotify.img', magic: Magic.inotifyFile },
  { type: FD_TYPES.FANOTIFY, field: 'ffy', message: 'FanotifyFileEntry', image: 'fanotify.img', magic: Magic.fanotifyFile },
  { type: FD_TYPES.EXT, field: 'ext', message: 'ExtFileEntry', image: 'ext-files.img', magic: Magic.extFiles },
  { type: FD_TYPES.UNIXSK, field: 'usk', message: 'UnixSkEntry', image: 'unixsk.img', magic: Magic.unixSk },
  { type: FD_TYPES.FIFO, field: 'fifo', message: 'FifoEntry', image: 'fifo.img', magic: Magic.fifo },
  { type: FD_TYPES.PIPE, field: 'pipe', message: 'PipeEntry', image: 'pipes.img', magic: Magic.pipes },
  { type: FD_TYPES.TTY, field: 'tty', message: 'TtyFileEntry', image: 'tty.img', magic: Magic.ttyFiles },
  // memfd, BPF map and pidfd files only ever existed in files.img; the names below are never written.
  { type: FD_TYPES.MEMFD, field: 'memfd', message: 'MemfdFileEntry', image: '', magic: 0 },
  { type: FD_TYPES.BPFMAP, field: 'bpf', message: 'BpfmapFileEntry', image: '', magic: 0 },
  { type: FD_TYPES.PIDFD, field: 'pidfd', message: 'PidfdEntry', image: '', magic: 0 },
];

const KIND_BY_TYPE = new Map(KINDS.map((k) => [k.type, k]));

/** A raw entry waiting to be decoded: its type, payload message and where it was found. */
interface RawFile {
  id: number;
  type: number;
  message: Decoded | undefined;
  source: EntrySource;
}

function collectFromFilesImage(dir: ImageDirectory): RawFile[] | undefined {
  const file = dir.tryOpen('files.img');
  if (!file) return undefined;
  const entries = new EntryReader(file, Magic.files).all('FileEntry', 'FILES', 'file descriptions');
  return entries.map(({ message, offset }) => {
    const source = { image: file.label, offset };
    const type = num(message, 'type');
    const id = num(message, 'id');
    const kind = KIND_BY_TYPE.get(type);
    if (!kind) return { id, type, message: undefined, source };
    const payload = sub(message, kind.field);
    if (!payload) badValue(source, `file ${id} of type ${fdTypeName(type)} has no '${kind.field}' description`);
    if (num(payload, 'id') !== id) badValue(source, `file ${id} describes file ${num(payload, 'id')}`);
    return { id, type, message: payload, source };
  });
}

function collectFromKindImages(dir: ImageDirectory): RawFile[] {
  const result: RawFile[] = [];
  for (const kind of KINDS) {
    if (!kind.image) continue;
    const { label, entries } = readEntries(dir, kind.image, kind.magic, kind.message);
    for (const { message, offset } of entries) {
      result.push({ id: num(message, 'id'), type: kind.type, message, source: { image: label, offset } });
    }
  }
  return result;
}

/** Entries of a side image, grouped by their `id` field. */
function groupById(dir: ImageDirectory, image: string, magic: number, message: string): Map<number, Entry[]> {
  const groups = new Map<number, Entry[]>();
  for (const entry of readEntries(dir, image, magic, message).entries) {
    const id = num(entry.message, 'id');
    const list = groups.get(id);
    if (list) list.push(entry);
    else groups.set(id, [entry]);
  }
  return groups;
}

/** Reads pipes-data.img or fifo-data.img: buffered bytes by pipe id. */
function readPipeData(dir: ImageDirectory, image: string, magic: number): Map<number, PipeBuffer> {
  const result = new Map<number, PipeBuffer>();
  const file = dir.tryOpen(image);
  if (!file) return result;
  const reader = new EntryReader(file, magic);
  const guard = (): void => reader.count('FILES');
  for (let entry = reader.next('PipeDataEntry', guard); entry; entry = reader.next('PipeDataEntry', guard)) {
    const bytes = num(entry.message, 'bytes');
    const dataOffset = reader.skipBlob(bytes);
    const buffer: PipeBuffer = { bytes, image: file.label, dataOffset };
    const capacity = optNum(entry.message, 'size');
    if (capacity !== undefined) buffer.capacity = capacity;
    result.set(num(entry.message, 'pipe_id'), buffer);
  }
  return result;
}

const NS_TYPES: ReadonlyArray<[number, string]> = [
  [0x00020000, 'mnt'],
  [0x02000000, 'cgroup'],
  [0x04000000, 'uts'],
  [0x08000000, 'ipc'],
  [0x10000000, 'user'],
  [0x20000000, 'pid'],
  [0x40000000, 'net'],
  [0x00000080, 'time'],
];

const CLOCKS: Readonly<Record<number, string>> = {
  0: 'realtime',
  1: 'monotonic',
  7: 'boottime',
  8: 'realtime_alarm',
  9: 'boottime_alarm',
};

function decodeReg(m: Decoded, source: EntrySource): RegFile {
  const path = str(m, 'name');
  const file: RegFile = {
    kind: 'reg',
    id: num(m, 'id'),
    name: path,
    source,
    path,
    flags: num(m, 'flags'),
    pos: u64(m, 'pos'),
    fown: readOwner(m),
    mntId: has(m, 'mnt_id') ? num(m, 'mnt_id') : -1,
    ext: bool(m, 'ext'),
    deleted: false,
  };
  const size = optU64(m, 'size');
  if (size !== undefined) file.size = size;
  const mode = optNum(m, 'mode');
  if (mode !== undefined) file.mode = mode;
  const buildId = nums(m, 'build_id');
  if (buildId.length > 0) file.buildId = hex(wordsToBytes(buildId));
  const checksum = optNum(m, 'checksum');
  if (checksum !== undefined) file.checksum = checksum;
  return file;
}

function timeSpec(m: Decoded, sec: string, nsec: string): TimeSpec {
  return { sec: u64(m, sec), nsec: u64(m, nsec) };
}

function signalsOf(mask: bigint): number[] {
  const signals: number[] = [];
  for (let n = 1; n <= 64; n++) if ((mask >> BigInt(n - 1)) & 1n) signals.push(n);
  return signals;
}

function decodeWatch(w: Decoded): InotifyWatch {
  const watch: InotifyWatch = {
    wd: num(w, 'wd'),
    ino: u64(w, 'i_ino'),
    mask: num(w, 'mask'),
    ignoredMask: num(w, 'ignored_mask'),
    sDev: num(w, 's_dev'),
  };
  const handle = sub(w, 'f_handle');
  const path = handle ? optStr(handle, 'path') : undefined;
  if (path !== undefined) watch.path = path;
  const mntId = handle ? optNum(handle, 'mnt_id') : undefined;
  if (mntId !== undefined) watch.mntId = mntId;
  return watch;
}

function decodeMark(m: Decoded): FanotifyMark {
  const typeNumber = num(m, 'type');
  const mark: FanotifyMark = {
    type: typeNumber === 1 ? 'inode' : typeNumber === 2 ? 'mount' : 'unknown',
    typeNumber,
    mflags: num(m, 'mflags'),
    mask: num(m, 'mask'),
    ignoredMask: num(m, 'ignored_mask'),
    sDev: num(m, 's_dev'),
  };
  const inode = sub(m, 'ie');
  if (inode) {
    mark.ino = u64(inode, 'i_ino');
    const handle = sub(inode, 'f_handle');
    const path = handle ? optStr(handle, 'path') : undefined;
    if (path !== undefined) mark.path = path;
  }
  const mount = sub(m, 'me');
  if (mount) {
    mark.mntId = num(mount, 'mnt_id');
    const path = optStr(mount, 'path');
    if (path !== undefined) mark.path = path;
  }
  return mark;
}

function decodeTarget(t: Decoded): EpollTarget {
  const target: EpollTarget = { tfd: num(t, 'tfd'), events: num(t, 'events'), data: u64(t, 'data') };
  const dev = optNum(t, 'dev');
  if (dev !== undefined) target.dev = dev;
  const inode = optU64(t, 'inode');
  if (inode !== undefined) target.inode = inode;
  const pos = optU64(t, 'pos');
  if (pos !== undefined) target.pos = pos;
  return target;
}

interface SideData {
  ttyInfo: Map<number, TtyInfo>;
  memfdInodes: Map<number, MemfdInode>;
  regPaths: Map<number, RegFile>;
  epollTargets: Map<number, Entry[]>;
  inotifyWatches: Map<number, Entry[]>;
  fanotifyMarks: Map<number, Entry[]>;
  pipeData: Map<number, PipeBuffer>;
  fifoData: Map<number, PipeBuffer>;
}

function decodeFile(raw: RawFile, side: SideData): FileDescription {
  const { id, source } = raw;
  const m = raw.message;
  if (!m) return { kind: 'unknown', id, name: `unknown:[type ${raw.type}]`, source, typeNumber: raw.type };
  switch (raw.type) {
    case FD_TYPES.REG:
      return side.regPaths.get(id) ?? decodeReg(m, source);
    case FD_TYPES.PIPE: {
      const pipeId = num(m, 'pipe_id');
      const file: PipeFile = { kind: 'pipe', id, name: `pipe:[${pipeId}]`, source, pipeId, flags: num(m, 'flags'), fown: readOwner(m) };
      const buffered = side.pipeData.get(pipeId);
      if (buffered) file.buffered = buffered;
      return file;
    }
    case FD_TYPES.FIFO: {
      const pipeId = num(m, 'pipe_id');
      const regfId = optNum(m, 'regf_id') ?? id;
      const reg = side.regPaths.get(regfId);
      if (!reg) badValue(source, `fifo ${id} refers to missing path entry ${regfId}`);
      const file: FifoFile = { kind: 'fifo', id, name: reg.name, source, pipeId, regfId, path: reg.path, flags: reg.flags };
      const buffered = side.fifoData.get(pipeId);
      if (buffered) file.buffered = buffered;
      return file;
    }
    case FD_TYPES.UNIXSK:
      return decodeUnixSocket(m, source);
    case FD_TYPES.INETSK:
      return decodeInetSocket(m, source);
    case FD_TYPES.NETLINKSK:
      return decodeNetlinkSocket(m, source);
    case FD_TYPES.PACKETSK:
      return decodePacketSocket(m, source);
    case FD_TYPES.EVENTFD:
      return { kind: 'eventfd', id, name: 'anon_inode:[eventfd]', source, counter: u64(m, 'counter'), flags: num(m, 'flags'), fown: readOwner(m) };
    case FD_TYPES.EVENTPOLL: {
      const targets = subs(m, 'tfd').map(decodeTarget);
      for (const extra of side.epollTargets.get(id) ?? []) targets.push(decodeTarget(extra.message));
      return { kind: 'eventpoll', id, name: 'anon_inode:[eventpoll]', source, flags: num(m, 'flags'), fown: readOwner(m), targets };
    }
    case FD_TYPES.SIGNALFD: {
      const sigmask = u64(m, 'sigmask');
      return { kind: 'signalfd', id, name: 'anon_inode:[signalfd]', source, flags: num(m, 'flags'), fown: readOwner(m), sigmask, signals: signalsOf(sigmask) };
    }
    case FD_TYPES.TIMERFD: {
      const clockid = num(m, 'clockid');
      return {
        kind: 'timerfd',
        id,
        name: 'anon_inode:[timerfd]',
        source,
        flags: num(m, 'flags'),
        fown: readOwner(m),
        clockid,
        clock: CLOCKS[clockid] ?? `clock${clockid}`,
        ticks: u64(m, 'ticks'),
        settimeFlags: num(m, 'settime_flags'),
        value: timeSpec(m, 'vsec', 'vnsec'),
        interval: timeSpec(m, 'isec', 'insec'),
      };
    }
    case FD_TYPES.INOTIFY: {
      const watches = subs(m, 'wd').map(decodeWatch);
      for (const extra of side.inotifyWatches.get(id) ?? []) watches.push(decodeWatch(extra.message));
      return { kind: 'inotify', id, name: 'anon_inode:inotify', source, flags: num(m, 'flags'), fown: readOwner(m), watches };
    }
    case FD_TYPES.FANOTIFY: {
      const marks = subs(m, 'mark').map(decodeMark);
      for (const extra of side.fanotifyMarks.get(id) ?? []) marks.push(decodeMark(extra.message));
      return {
        kind: 'fanotify',
        id,
        name: 'anon_inode:[fanotify]',
        source,
        flags: num(m, 'flags'),
        fown: readOwner(m),
        faflags: num(m, 'faflags'),
        evflags: num(m, 'evflags'),
        marks,
      };
    }
    case FD_TYPES.TTY: {
      const infoId = num(m, 'tty_info_id');
      const info = side.ttyInfo.get(infoId);
      if (!info) badValue(source, `tty file ${id} refers to missing terminal ${infoId} (tty-info.img)`);
      const regfId = optNum(m, 'regf_id');
      const reg = regfId === undefined ? side.regPaths.get(id) : side.regPaths.get(regfId);
      if (regfId !== undefined && !reg) badValue(source, `tty file ${id} refers to missing path entry ${regfId}`);
      return decodeTtyFile(m, source, info, reg?.path);
    }
    case FD_TYPES.TUNF: {
      const file: TunFile = { kind: 'tun', id, name: '/dev/net/tun', source };
      const netdev = optStr(m, 'netdev');
      if (netdev !== undefined) file.netdev = netdev;
      if (has(m, 'detached')) file.detached = bool(m, 'detached');
      const nsId = optNum(m, 'ns_id');
      if (nsId !== undefined) file.nsId = nsId;
      return file;
    }
    case FD_TYPES.MEMFD: {
      const file = decodeMemfdFile(m, source, side.memfdInodes);
      if (!file.inode) badValue(source, `memfd ${id} refers to missing memfd inode ${file.inodeId} (memfd.img)`);
      return file;
    }
    case FD_TYPES.NS: {
      const cflag = num(m, 'ns_cflag');
      const nsId = num(m, 'ns_id');
      const nsType = NS_TYPES.find(([flag]) => flag === cflag)?.[1] ?? 'unknown';
      return { kind: 'ns', id, name: `${nsType}:[ns ${nsId}]`, source, nsId, nsType, cflag, flags: num(m, 'flags') };
    }
    case FD_TYPES.EXT:
      return { kind: 'ext', id, name: `ext:[${id}]`, source, fown: readOwner(m) };
    case FD_TYPES.PIDFD:
      return { kind: 'pidfd', id, name: 'anon_inode:[pidfd]', source, ino: num(m, 'ino'), nspid: num(m, 'nspid'), flags: num(m, 'flags'), fown: readOwner(m) };
    case FD_TYPES.BPFMAP:
      return {
        kind: 'bpfmap',
        id,
        name: 'anon_inode:bpf-map',
        source,
        flags: num(m, 'flags'),
        pos: u64(m, 'pos'),
        fown: readOwner(m),
        mapType: num(m, 'map_type'),
        keySize: num(m, 'key_size'),
        valueSize: num(m, 'value_size'),
        mapId: num(m, 'map_id'),
        maxEntries: num(m, 'max_entries'),
        mapFlags: num(m, 'map_flags'),
        memlock: u64(m, 'memlock'),
        frozen: bool(m, 'frozen'),
        mapName: str(m, 'map_name'),
        ifindex: num(m, 'ifindex'),
      };
    default:
      return { kind: 'unknown', id, name: `unknown:[type ${raw.type}]`, source, typeNumber: raw.type };
  }
}

/** Marks remapped (deleted) regular files. */
function applyRemaps(regFiles: Map<number, RegFile>, remaps: Map<number, FileRemap>, dir: ImageDirectory): void {
  for (const remap of remaps.values()) {
    const file = regFiles.get(remap.origId);
    if (!file) badValue(remap.source, `remap of file ${remap.origId}, which is not a dumped regular file`);
    file.remap = remap;
    if (remap.type === 'unknown') continue;
    file.deleted = true;
    file.name = `${file.path} (deleted)`;
    if (remap.type === 'ghost') {
      if (!dir.has(ghostImageName(remap.remapId))) badValue(remap.source, `ghost file ${ghostImageName(remap.remapId)} of ${file.path} is missing`);
      file.ghostId = remap.remapId;
    } else if (remap.type === 'linked') {
      file.linkedId = remap.remapId;
    }
  }
}

/** Fills in unix socket peers (file id and printable remote end). */
function linkUnixPeers(files: Map<number, FileDescription>): void {
  const byIno = new Map<number, UnixSocket>();
  for (const file of files.values()) if (file.kind === 'unix') byIno.set(file.ino, file);
  for (const file of files.values()) {
    if (file.kind !== 'unix' || file.peerIno === 0) continue;
    const peer = byIno.get(file.peerIno);
    if (peer) file.peerId = peer.id;
    file.socket.remote = peer && peer.path !== '' ? peer.path : `socket:[${file.peerIno}]`;
  }
}

/**
 * Reads every open file description of the checkpoint: files.img, or the per-kind images of dumps
 * older than CRIU 3.4, completed with deleted-file remaps, memfd inodes, terminals, buffered pipe
 * data and watch lists. Kinds this reader does not know become `unknown`; a repeated id or a reference
 * to a missing entry is `bad-value`. A checkpoint without any of these images yields an empty map.
 */
export function readFileTable(dir: ImageDirectory): Map<number, FileDescription> {
  const raws = collectFromFilesImage(dir) ?? collectFromKindImages(dir);
  // Old dumps keep the path of a fifo or tty in a reg-files.img entry with the same id; that entry is
  // only a path record, not a file of its own.
  const pathOnly = new Set(raws.filter((r) => r.type === FD_TYPES.FIFO || r.type === FD_TYPES.TTY).map((r) => r.id));
  const descriptions = raws.filter((raw) => !(raw.type === FD_TYPES.REG && pathOnly.has(raw.id)));
  // Checked before anything is decoded further: a flood of repeated ids then costs one pass.
  const seen = new Set<number>();
  for (const raw of descriptions) {
    if (seen.has(raw.id)) badValue(raw.source, `file id ${raw.id} is used twice`);
    seen.add(raw.id);
  }

  const regPaths = new Map<number, RegFile>();
  for (const raw of raws) if (raw.type === FD_TYPES.REG && raw.message) regPaths.set(raw.id, decodeReg(raw.message, raw.source));

  applyRemaps(regPaths, readRemaps(dir), dir);

  const side: SideData = {
    ttyInfo: raws.some((r) => r.type === FD_TYPES.TTY) ? readTtyInfo(dir) : new Map(),
    memfdInodes: raws.some((r) => r.type === FD_TYPES.MEMFD) ? readMemfdInodes(dir) : new Map(),
    regPaths,
    epollTargets: groupById(dir, 'eventpoll-tfd.img', Magic.eventpollTfd, 'EventpollTarget'),
    inotifyWatches: groupById(dir, 'inotify-wd.img', Magic.inotifyWd, 'InotifyWatch'),
    fanotifyMarks: groupById(dir, 'fanotify-mark.img', Magic.fanotifyMark, 'FanotifyMark'),
    pipeData: readPipeData(dir, 'pipes-data.img', Magic.pipesData),
    fifoData: readPipeData(dir, 'fifo-data.img', Magic.fifoData),
  };

  const files = new Map<number, FileDescription>();
  for (const raw of descriptions) files.set(raw.id, decodeFile(raw, side));
  linkUnixPeers(files);
  return files;
}
