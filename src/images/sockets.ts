/**
 * Sockets: AF_UNIX, AF_INET/AF_INET6, AF_NETLINK and AF_PACKET entries of files.img (or of unixsk.img,
 * inetsk.img, netlinksk.img, packetsk.img in old dumps), their addresses and states as text, queued
 * packets (sk-queues.img) and TCP stream queues (tcp-stream-INO.img).
 *
 * Every socket carries a {@link SocketSummary} with ready-to-print family, protocol, state and endpoints.
 */
import type { ImageDirectory } from './directory.js';
import { badValue, readOwner, type EntrySource, type FileBase, type FileOwner } from './file-common.js';
import { bool, bytes, has, num, nums, optBool, optNum, optStr, subs, type Decoded } from './fields.js';
import { EntryReader } from './framing.js';
import { Magic } from './magic.js';

/** Address families CRIU dumps sockets of. */
export const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17 } as const;

/** Kernel TCP state numbers (also used for the state of unix and UDP sockets). */
export const TCP_STATES: Readonly<Record<number, string>> = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
  12: 'NEW_SYN_RECV',
};

/** Name of a TCP state number, e.g. `LISTEN`; `STATE_<n>` for numbers the kernel does not use. */
export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `STATE_${state}`;
}

const SOCKET_TYPES: Readonly<Record<number, string>> = {
  1: 'stream',
  2: 'dgram',
  3: 'raw',
  4: 'rdm',
  5: 'seqpacket',
  6: 'dccp',
  10: 'packet',
};

/** Name of a socket type (SOCK_*), e.g. `stream`; `type<n>` when unknown. */
export function socketTypeName(type: number): string {
  return SOCKET_TYPES[type] ?? `type${type}`;
}

const IP_PROTOCOLS: Readonly<Record<number, string>> = {
  0: 'ip',
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
  255: 'raw',
};

/** Name of an IPPROTO_* number, e.g. `tcp`; `proto<n>` when unknown. */
export function ipProtocolName(proto: number): string {
  return IP_PROTOCOLS[proto] ?? `proto${proto}`;
}

const NETLINK_PROTOCOLS: Readonly<Record<number, string>> = {
  0: 'route',
  2: 'usersock',
  3: 'firewall',
  4: 'sock_diag',
  5: 'nflog',
  6: 'xfrm',
  7: 'selinux',
  8: 'iscsi',
  9: 'audit',
  10: 'fib_lookup',
  11: 'connector',
  12: 'netfilter',
  13: 'ip6_fw',
  14: 'dnrtmsg',
  15: 'kobject_uevent',
  16: 'generic',
  18: 'scsitransport',
  19: 'ecryptfs',
  20: 'rdma',
  21: 'crypto',
  22: 'smc',
};

/** Name of a NETLINK_* protocol number, e.g. `route`. */
export function netlinkProtocolName(proto: number): string {
  return NETLINK_PROTOCOLS[proto] ?? `netlink${proto}`;
}

/** Shutdown state: which directions were shut down. */
export type ShutdownState = 'none' | 'read' | 'write' | 'both';

function shutdownOf(message: Decoded, field: string, source: EntrySource): ShutdownState {
  const value = num(message, field);
  const names: ShutdownState[] = ['none', 'read', 'write', 'both'];
  const name = names[value];
  if (name === undefined) badValue(source, `shutdown state ${value} is not 0-3`);
  return name;
}

/** What a CLI needs to print one line about a socket. */
export interface SocketSummary {
  /** `unix`, `inet`, `inet6`, `netlink`, `packet`. */
  family: string;
  /** `tcp`, `udp`, `route` (netlink), `stream` (unix)... */
  proto: string;
  /** Socket type: `stream`, `dgram`, `seqpacket`, `raw`... */
  type: string;
  /** `LISTEN`, `ESTABLISHED`, `CLOSE`... */
  state: string;
  /** Local endpoint: `127.0.0.1:80`, `[::1]:22`, `/run/x.sock`, `@abstract`, `portid 123`; '' when unbound. */
  local: string;
  /** Remote endpoint, '' when not connected. */
  remote: string;
}

/** One line for a socket, e.g. `tcp 127.0.0.1:5000 -> 127.0.0.1:40122 ESTABLISHED`. */
export function describeSocket(s: SocketSummary): string {
  const endpoints = s.remote ? `${s.local || '*'} -> ${s.remote}` : s.local || '*';
  const what = s.family === 'inet' || s.family === 'inet6' ? `${s.proto}${s.family === 'inet6' ? '6' : ''}` : `${s.family}/${s.proto}`;
  return `${what} ${endpoints} ${s.state}`;
}

// ---------------------------------------------------------------------------------------------------
// Addresses

/** Formats an IPv4 address from its 4 network-order bytes. */
export function formatIpv4(b: Uint8Array): string {
  return `${b[0] ?? 0}.${b[1] ?? 0}.${b[2] ?? 0}.${b[3] ?? 0}`;
}

/** Formats an IPv6 address from its 16 network-order bytes, in RFC 5952 form (as inet_ntop does). */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d, not :: or ::1) addresses keep the dotted tail.
  const firstFiveZero = groups.slice(0, 5).every((g) => g === 0);
  if (firstFiveZero && groups[5] === 0xffff) return `::ffff:${formatIpv4(b.subarray(12, 16))}`;
  if (firstFiveZero && groups[5] === 0 && (groups[6] ?? 0) !== 0) return `::${formatIpv4(b.subarray(12, 16))}`;
  // Longest run of two or more zero groups becomes '::' (the first one on ties).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = groups.map((g) => g.toString(16));
  if (bestStart < 0) return text.join(':');
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Formats an inet/inet6 address stored as CRIU does: the raw network-order bytes packed into 32-bit
 * words (little-endian machine), one word for IPv4 and four for IPv6. No words means the unspecified
 * address.
 */
export function formatInetAddress(family: number, words: readonly number[], source: EntrySource): string {
  const raw = Buffer.alloc(16);
  words.slice(0, 4).forEach((w, i) => raw.writeUInt32LE(w >>> 0, i * 4));
  if (family === AF.INET) {
    if (words.length !== 0 && words.length !== 1 && words.length !== 4) badValue(source, `an IPv4 address has ${words.length} words`);
    return formatIpv4(raw.subarray(0, 4));
  }
  if (family === AF.INET6) {
    if (words.length !== 0 && words.length !== 4) badValue(source, `an IPv6 address has ${words.length} words`);
    return formatIpv6(raw);
  }
  return badValue(source, `address family ${family} is not inet or inet6`);
}

/** `addr:port` for IPv4, `[addr]:port` for IPv6. */
export function formatEndpoint(family: number, address: string, port: number): string {
  return family === AF.INET6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Printable form of a unix socket name: '' for an unnamed socket, `@name` for an abstract one (the
 * leading NUL, and any NUL inside, shown as '@', as /proc/net/unix does), the path otherwise.
 */
export function formatUnixName(name: Uint8Array): string {
  if (name.length === 0) return '';
  const buffer = Buffer.from(name.buffer, name.byteOffset, name.byteLength);
  if (buffer[0] === 0) return buffer.toString('latin1').replace(/\0/g, '@');
  const end = buffer.indexOf(0);
  return buffer.subarray(0, end < 0 ? buffer.length : end).toString('utf8');
}

// ---------------------------------------------------------------------------------------------------
// Socket entries

/** Common fields of the socket kinds. */
export interface SocketBase extends FileBase {
  /** Socket inode number (0 for packet sockets, whose images do not record it). */
  ino: number;
  /** open(2)-style file status flags (O_NONBLOCK...). */
  flags: number;
  fown: FileOwner;
  socket: SocketSummary;
}

/** An AF_UNIX socket. */
export interface UnixSocket extends SocketBase {
  kind: 'unix';
  type: string;
  typeNumber: number;
  state: string;
  stateNumber: number;
  /** Printable bound name ('' unbound, `@...` abstract, otherwise a path). */
  path: string;
  /** The bound name as recorded. */
  rawName: Buffer;
  abstract: boolean;
  /** Directory a relative bind() path was resolved against. */
  nameDir?: string;
  /** Whether the bound path had been unlinked. */
  deleted?: boolean;
  /** Inode of the peer socket, 0 when none. */
  peerIno: number;
  /** File id of the peer, when the peer is one of the dumped files. */
  peerId?: number;
  backlog: number;
  shutdown: ShutdownState;
  /** criu-private flags: 1 external, 2 service, 4 callback, 8 inherited. */
  uflags: number;
  nsId?: number;
}

/** An AF_INET or AF_INET6 socket. */
export interface InetSocket extends SocketBase {
  kind: 'inet';
  family: 'inet' | 'inet6';
  familyNumber: number;
  proto: string;
  protoNumber: number;
  type: string;
  typeNumber: number;
  state: string;
  stateNumber: number;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  backlog: number;
  shutdown: ShutdownState;
  v6only?: boolean;
  ifname?: string;
  nsId?: number;
}

/** An AF_NETLINK socket. */
export interface NetlinkSocket extends SocketBase {
  kind: 'netlink';
  protocol: string;
  protocolNumber: number;
  state: number;
  portid: number;
  /** Multicast group bitmap words. */
  groups: number[];
  dstPortid: number;
  dstGroup: number;
  nsId?: number;
}

/** An AF_PACKET socket. */
export interface PacketSocket extends SocketBase {
  kind: 'packet';
  type: string;
  typeNumber: number;
  /** Ethertype in host order (3 = ETH_P_ALL). */
  protocol: number;
  ifindex: number;
  version: number;
  fanout?: number;
  nsId?: number;
}

function socketName(ino: number): string {
  return `socket:[${ino}]`;
}

/** Decodes a unix socket entry (peerId is filled in later by the file table). */
export function decodeUnixSocket(message: Decoded, source: EntrySource): UnixSocket {
  const id = num(message, 'id');
  const ino = num(message, 'ino');
  const typeNumber = num(message, 'type');
  const stateNumber = num(message, 'state');
  const rawName = bytes(message, 'name');
  let path = formatUnixName(rawName);
  const abstract = rawName.length > 0 && rawName[0] === 0;
  const nameDir = optStr(message, 'name_dir');
  if (!abstract && path !== '' && !path.startsWith('/') && nameDir) path = `${nameDir.replace(/\/$/, '')}/${path}`;
  const peerIno = num(message, 'peer');
  const type = socketTypeName(typeNumber);
  const state = tcpStateName(stateNumber);
  const result: UnixSocket = {
    kind: 'unix',
    id,
    name: socketName(ino),
    source,
    ino,
    flags: num(message, 'flags'),
    fown: readOwner(message),
    type,
    typeNumber,
    state,
    stateNumber,
    path,
    rawName,
    abstract,
    peerIno,
    backlog: num(message, 'backlog'),
    shutdown: shutdownOf(message, 'shutdown', source),
    uflags: num(message, 'uflags'),
    socket: { family: 'unix', proto: type, type, state, local: path, remote: '' },
  };
  if (nameDir !== undefined) result.nameDir = nameDir;
  const deleted = optBool(message, 'deleted');
  if (deleted !== undefined) result.deleted = deleted;
  const nsId = optNum(message, 'ns_id');
  if (nsId !== undefined) result.nsId = nsId;
  return result;
}

/** Decodes an inet/inet6 socket entry. */
export function decodeInetSocket(message: Decoded, source: EntrySource): InetSocket {
  const familyNumber = num(message, 'family');
  if (familyNumber !== AF.INET && familyNumber !== AF.INET6) badValue(source, `inet socket has address family ${familyNumber}`);
  const family = familyNumber === AF.INET ? 'inet' : 'inet6';
  const srcPort = num(message, 'src_port');
  const dstPort = num(message, 'dst_port');
  if (srcPort > 0xffff || dstPort > 0xffff) badValue(source, `port ${Math.max(srcPort, dstPort)} is out of range`);
  const srcAddr = formatInetAddress(familyNumber, nums(message, 'src_addr'), source);
  const dstAddr = formatInetAddress(familyNumber, nums(message, 'dst_addr'), source);
  const protoNumber = num(message, 'proto');
  const typeNumber = num(message, 'type');
  const stateNumber = num(message, 'state');
  const ino = num(message, 'ino');
  const proto = ipProtocolName(protoNumber);
  const state = tcpStateName(stateNumber);
  const connected = dstPort !== 0 || !/^(0\.0\.0\.0|::)$/.test(dstAddr);
  const result: InetSocket = {
    kind: 'inet',
    id: num(message, 'id'),
    name: socketName(ino),
    source,
    ino,
    flags: num(message, 'flags'),
    fown: readOwner(message),
    family,
    familyNumber,
    proto,
    protoNumber,
    type: socketTypeName(typeNumber),
    typeNumber,
    state,
    stateNumber,
    srcAddr,
    srcPort,
    dstAddr,
    dstPort,
    backlog: num(message, 'backlog'),
    shutdown: shutdownOf(message, 'shutdown', source),
    socket: {
      family,
      proto,
      type: socketTypeName(typeNumber),
      state,
      local: formatEndpoint(familyNumber, srcAddr, srcPort),
      remote: connected ? formatEndpoint(familyNumber, dstAddr, dstPort) : '',
    },
  };
  const v6only = optBool(message, 'v6only');
  if (v6only !== undefined) result.v6only = v6only;
  const ifname = optStr(message, 'ifname');
  if (ifname !== undefined) result.ifname = ifname;
  const nsId = optNum(message, 'ns_id');
  if (nsId !== undefined) result.nsId = nsId;
  return result;
}

/** Decodes a netlink socket entry. */
export function decodeNetlinkSocket(message: Decoded, source: EntrySource): NetlinkSocket {
  const ino = num(message, 'ino');
  const protocolNumber = num(message, 'protocol');
  const protocol = netlinkProtocolName(protocolNumber);
  const portid = num(message, 'portid');
  const dstPortid = num(message, 'dst_portid');
  const dstGroup = num(message, 'dst_group');
  const result: NetlinkSocket = {
    kind: 'netlink',
    id: num(message, 'id'),
    name: socketName(ino),
    source,
    ino,
    flags: num(message, 'flags'),
    fown: readOwner(message),
    protocol,
    protocolNumber,
    state: num(message, 'state'),
    portid,
    groups: nums(message, 'groups'),
    dstPortid,
    dstGroup,
    socket: {
      family: 'netlink',
      proto: protocol,
      type: 'raw',
      state: tcpStateName(num(message, 'state')),
      local: `portid ${portid}`,
      remote: dstPortid !== 0 || dstGroup !== 0 ? `portid ${dstPortid}${dstGroup ? ` group ${dstGroup}` : ''}` : '',
    },
  };
  const nsId = optNum(message, 'ns_id');
  if (nsId !== undefined) result.nsId = nsId;
  return result;
}

/** Decodes a packet socket entry. */
export function decodePacketSocket(message: Decoded, source: EntrySource): PacketSocket {
  const typeNumber = num(message, 'type');
  const wire = num(message, 'protocol') & 0xffff;
  const protocol = ((wire & 0xff) << 8) | (wire >> 8);
  const ifindex = num(message, 'ifindex');
  const result: PacketSocket = {
    kind: 'packet',
    id: num(message, 'id'),
    name: 'socket:[?]',
    source,
    ino: 0,
    flags: num(message, 'flags'),
    fown: readOwner(message),
    type: socketTypeName(typeNumber),
    typeNumber,
    protocol,
    ifindex,
    version: num(message, 'version'),
    socket: {
      family: 'packet',
      proto: `0x${protocol.toString(16).padStart(4, '0')}`,
      type: socketTypeName(typeNumber),
      state: '',
      local: ifindex ? `ifindex ${ifindex}` : '',
      remote: '',
    },
  };
  if (has(message, 'fanout')) result.fanout = num(message, 'fanout');
  const nsId = optNum(message, 'ns_id');
  if (nsId !== undefined) result.nsId = nsId;
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Queues

/** One packet queued on a socket. */
export interface QueuedPacket {
  length: number;
  /** Offset of the packet bytes in sk-queues.img. */
  dataOffset: number;
  /** File ids passed with SCM_RIGHTS. */
  rights: number[];
}

/** Packets waiting in one socket's receive queue. */
export interface SocketQueue {
  /** File id of the socket. */
  socketId: number;
  packets: QueuedPacket[];
  /** Sum of the packet lengths. */
  bytes: number;
}

/** Reads sk-queues.img: queued packets of every socket, by socket file id. Absent image: empty map. */
export function readSocketQueues(dir: ImageDirectory): Map<number, SocketQueue> {
  const queues = new Map<number, SocketQueue>();
  const file = dir.tryOpen('sk-queues.img');
  if (!file) return queues;
  const reader = new EntryReader(file, Magic.skQueues);
  const guard = (): void => reader.count('FILES', 'queued packets');
  for (let entry = reader.next('SkQueueEntry', guard); entry; entry = reader.next('SkQueueEntry', guard)) {
    const length = num(entry.message, 'length');
    const dataOffset = reader.skipBlob(length);
    const socketId = num(entry.message, 'id_for');
    const rights = subs(entry.message, 'scm').flatMap((scm) => nums(scm, 'rights'));
    let queue = queues.get(socketId);
    if (!queue) {
      queue = { socketId, packets: [], bytes: 0 };
      queues.set(socketId, queue);
    }
    queue.packets.push({ length, dataOffset, rights });
    queue.bytes += length;
  }
  return queues;
}

/** Queues and sequence numbers of an established TCP connection. */
export interface TcpStream {
  image: string;
  inqLen: number;
  inqSeq: number;
  outqLen: number;
  outqSeq: number;
  /** Not yet sent part of the send queue, when recorded. */
  unsqLen?: number;
  /** Offsets in the image of the receive and send queue bytes. */
  inqOffset: number;
  outqOffset: number;
  nodelay?: boolean;
  cork?: boolean;
}

/** Image name of the TCP stream of the socket with inode `ino` (hex, as CRIU names it). */
export function tcpStreamImageName(ino: number): string {
  return `tcp-stream-${ino.toString(16)}.img`;
}

/** Reads tcp-stream-INO.img, or undefined when absent (not an established TCP socket, or not dumped). */
export function readTcpStream(dir: ImageDirectory, ino: number): TcpStream | undefined {
  const file = dir.tryOpen(tcpStreamImageName(ino));
  if (!file) return undefined;
  const reader = new EntryReader(file, Magic.tcpStream);
  const { message } = reader.required('TcpStreamEntry');
  const inqLen = num(message, 'inq_len');
  const outqLen = num(message, 'outq_len');
  const inqOffset = reader.skipBlob(inqLen);
  const outqOffset = reader.skipBlob(outqLen);
  const result: TcpStream = {
    image: file.label,
    inqLen,
    inqSeq: num(message, 'inq_seq'),
    outqLen,
    outqSeq: num(message, 'outq_seq'),
    inqOffset,
    outqOffset,
  };
  const unsq = optNum(message, 'unsq_len');
  if (unsq !== undefined) result.unsqLen = unsq;
  if (has(message, 'nodelay')) result.nodelay = bool(message, 'nodelay');
  if (has(message, 'cork')) result.cork = bool(message, 'cork');
  return result;
}
