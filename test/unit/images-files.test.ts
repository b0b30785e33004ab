import { describe, expect, it } from 'vitest';
import { fdinfoNumber, readFdinfo } from '../../src/images/fdinfo.js';
import { readFileTable, type FileDescription } from '../../src/images/files.js';
import { ghostImageName, readGhostContent, readGhostFile } from '../../src/images/ghost.js';
import { Magic } from '../../src/images/magic.js';
import { memfdLinkName, readMemfdInodes } from '../../src/images/memfd.js';
import { readRemaps } from '../../src/images/remap.js';
import { ipcNsImageNumber, ipcnsShmImageName, readSysvShm, shmemPagemapName } from '../../src/images/shm.js';
import {
  describeSocket,
  formatIpv6,
  formatUnixName,
  readSocketQueues,
  readTcpStream,
  tcpStateName,
  tcpStreamImageName,
} from '../../src/images/sockets.js';
import { catchImageError, frame, image, openImageDir, type EntrySpec } from '../helpers/build-image.js';

// ---- helpers ------------------------------------------------------------------------------------

const fown = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };
const opts = { so_sndbuf: 1, so_rcvbuf: 1, so_snd_tmo_sec: 0, so_snd_tmo_usec: 0, so_rcv_tmo_sec: 0, so_rcv_tmo_usec: 0 };

/** IPv4 address as CRIU stores it: network-order bytes read as a little-endian word. */
function ip4(text: string): number {
  return Buffer.from(text.split('.').map(Number)).readUInt32LE(0);
}

/** IPv6 address bytes as four little-endian words. */
function ip6(bytes: number[]): number[] {
  const b = Buffer.from(bytes);
  return [0, 4, 8, 12].map((o) => b.readUInt32LE(o));
}

function entry(type: string, fields: Record<string, unknown>): EntrySpec {
  return { type, fields };
}

/** files.img entry of the given kind number, sub-message field and fields. */
function fileEntry(type: number, field: string, fields: Record<string, unknown>): EntrySpec {
  return entry('FileEntry', { type, id: fields['id'], [field]: fields });
}

function reg(id: number, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, flags: 0o2, pos: 8, fown, name, ...extra };
}

/** Image with raw bytes after some entries: [spec, blob] pairs. */
function imageWithBlobs(magic: number, parts: ReadonlyArray<EntrySpec | Buffer>): Buffer {
  const head = image(magic, []);
  return Buffer.concat([head, ...parts.map((p) => (Buffer.isBuffer(p) ? p : frame(p)))]);
}

function kindOf<K extends FileDescription['kind']>(table: Map<number, FileDescription>, id: number, kind: K): Extract<FileDescription, { kind: K }> {
  const file = table.get(id);
  expect(file?.kind).toBe(kind);
  return file as Extract<FileDescription, { kind: K }>;
}

// ---- fdinfo -------------------------------------------------------------------------------------

describe('fdinfo', () => {
  it('reads descriptors sorted by number, with kind names', () => {
    const dir = openImageDir({
      'fdinfo-5.img': image(Magic.fdinfo, [
        entry('FdinfoEntry', { id: 3, flags: 1, type: 2, fd: 7 }),
        entry('FdinfoEntry', { id: 1, flags: 0, type: 1, fd: 0 }),
        entry('FdinfoEntry', { id: 9, flags: 0, type: 42, fd: 3 }),
      ]),
    });
    const fds = readFdinfo(dir, 5);
    expect(fds.map((f) => [f.fd, f.id, f.type, f.flags])).toEqual([
      [0, 1, 'REG', 0],
      [3, 9, 'UNKNOWN', 0],
      [7, 3, 'PIPE', 1],
    ]);
    expect(fds[1]?.typeNumber).toBe(42);
  });

  it('picks files_id, or the pid for very old dumps', () => {
    expect(fdinfoNumber({ pid: 40, filesId: 2, fdinfoPerId: true })).toBe(2);
    expect(fdinfoNumber({ pid: 40, filesId: 2, fdinfoPerId: false })).toBe(40);
    expect(fdinfoNumber({ pid: 40 })).toBe(40);
  });

  it('rejects a repeated descriptor and a missing image', () => {
    const dir = openImageDir({
      'fdinfo-1.img': image(Magic.fdinfo, [
        entry('FdinfoEntry', { id: 1, flags: 0, type: 1, fd: 4 }),
        entry('FdinfoEntry', { id: 2, flags: 0, type: 1, fd: 4 }),
      ]),
    });
    const error = catchImageError(() => readFdinfo(dir, 1));
    expect(error.code).toBe('bad-value');
    expect(error.image).toBe('fdinfo-1.img');
    expect(catchImageError(() => readFdinfo(dir, 2)).code).toBe('missing');
  });
});

// ---- files.img ----------------------------------------------------------------------------------

function fullFilesImage(): Record<string, Buffer> {
  const files: EntrySpec[] = [
    fileEntry(1, 'reg', reg(1, '/etc/hosts', { size: 100, mode: 0o100644, build_id: [0x04030201, 0x08070605] })),
    fileEntry(2, 'pipe', { id: 2, pipe_id: 555, flags: 0, fown }),
    fileEntry(1, 'reg', reg(30, '/tmp/ff')),
    fileEntry(3, 'fifo', { id: 3, pipe_id: 556, regf_id: 30 }),
    fileEntry(5, 'usk', {
      id: 4, ino: 1000, type: 1, state: 1, flags: 2, uflags: 0, backlog: 0, peer: 1001, fown, opts, name: Buffer.alloc(0),
    }),
    fileEntry(5, 'usk', {
      id: 5, ino: 1001, type: 1, state: 1, flags: 2, uflags: 0, backlog: 0, peer: 1000, fown, opts, name: Buffer.from('/run/a.sock'),
    }),
    fileEntry(5, 'usk', {
      id: 6, ino: 1002, type: 5, state: 10, flags: 2, uflags: 0, backlog: 4, peer: 0, fown, opts, name: Buffer.from('\0abs\0x', 'latin1'), shutdown: 0,
    }),
    fileEntry(4, 'isk', {
      id: 7, ino: 2000, family: 2, type: 1, proto: 6, state: 1, src_port: 5000, dst_port: 40122, flags: 0, backlog: 0,
      src_addr: [ip4('127.0.0.1')], dst_addr: [ip4('10.1.2.3')], fown, opts,
    }),
    fileEntry(4, 'isk', {
      id: 8, ino: 2001, family: 10, type: 2, proto: 17, state: 7, src_port: 53, dst_port: 0, flags: 0, backlog: 0,
      src_addr: ip6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 1]), dst_addr: ip6(new Array<number>(16).fill(0)), fown, opts, v6only: false,
    }),
    fileEntry(13, 'nlsk', { id: 9, ino: 3000, protocol: 0, state: 7, flags: 0, portid: 77, dst_portid: 0, dst_group: 0, fown, opts }),
    fileEntry(10, 'psk', {
      id: 10, type: 3, protocol: 0x0300, flags: 0, ifindex: 2, fown, opts, version: 0, reserve: 0, aux_data: false, orig_dev: false,
      vnet_hdr: false, loss: false, timestamp: 0, copy_thresh: 0,
    }),
    fileEntry(6, 'efd', { id: 11, flags: 0, fown, counter: 7 }),
    fileEntry(7, 'epfd', { id: 12, flags: 0, fown, tfd: [{ id: 12, tfd: 11, events: 1, data: '81985529216486895' }] }),
    fileEntry(9, 'sgfd', { id: 13, flags: 0, fown, sigmask: (1 << 9) | (1 << 14) }),
    fileEntry(17, 'tfd', { id: 14, flags: 0, fown, clockid: 1, ticks: 2, settime_flags: 0, vsec: 3, vnsec: 4, isec: 5, insec: 6 }),
    fileEntry(8, 'ify', {
      id: 15, flags: 0, fown,
      wd: [{ id: 15, i_ino: 99, mask: 0x300, ignored_mask: 0, s_dev: 1, wd: 1, f_handle: { bytes: 8, type: 1, handle: [1, 2], path: '/tmp' } }],
    }),
    fileEntry(12, 'ffy', {
      id: 16, flags: 0, fown, faflags: 0, evflags: 0,
      mark: [{ id: 16, type: 2, mflags: 0, mask: 1, ignored_mask: 0, s_dev: 0, me: { mnt_id: 21, path: '/' } }],
    }),
    fileEntry(1, 'reg', reg(31, '/dev/pts/3')),
    fileEntry(11, 'tty', { id: 17, tty_info_id: 6, flags: 2, fown, regf_id: 31 }),
    fileEntry(15, 'tunf', { id: 18, netdev: 'tun0' }),
    fileEntry(18, 'memfd', { id: 19, flags: 2, pos: 0, fown, inode_id: 1 }),
    fileEntry(14, 'nsf', { id: 20, ns_id: 3, ns_cflag: 0x40000000, flags: 0 }),
    fileEntry(16, 'ext', { id: 21, fown }),
    fileEntry(20, 'pidfd', { id: 22, ino: 4, flags: 0, nspid: 12, fown }),
    fileEntry(19, 'bpf', {
      id: 23, flags: 0, pos: 0, fown, map_type: 1, key_size: 4, value_size: 8, map_id: 9, max_entries: 10, map_flags: 0, memlock: 4096,
      frozen: false, map_name: 'm', ifindex: 0,
    }),
    entry('FileEntry', { type: 99, id: 24 }),
  ];
  return {
    'files.img': image(Magic.files, files),
    'tty-info.img': image(Magic.ttyInfo, [
      entry('TtyInfoEntry', { id: 6, type: 1, locked: false, exclusive: false, packet_mode: false, sid: 0, pgrp: 0, rdev: (136 << 8) | 3, pty: { index: 3 } }),
    ]),
    'memfd.img': image(Magic.memfdInode, [
      entry('MemfdInodeEntry', { name: 'buf', uid: 0, gid: 0, size: 8192, shmid: 4242, seals: 0x5, inode_id: 1 }),
    ]),
    'pipes-data.img': imageWithBlobs(Magic.pipesData, [entry('PipeDataEntry', { pipe_id: 555, bytes: 5, size: 65536 }), Buffer.from('hello')]),
  };
}

describe('files.img', () => {
  const table = readFileTable(openImageDir(fullFilesImage()));

  it('decodes regular files with build-id', () => {
    const file = kindOf(table, 1, 'reg');
    expect(file).toMatchObject({ name: '/etc/hosts', path: '/etc/hosts', pos: 8n, size: 100n, mode: 0o100644, deleted: false, mntId: -1 });
    expect(file.buildId).toBe('0102030405060708');
  });

  it('decodes pipes with their buffered data and fifos with their path', () => {
    const pipe = kindOf(table, 2, 'pipe');
    expect(pipe.name).toBe('pipe:[555]');
    expect(pipe.buffered).toMatchObject({ bytes: 5, capacity: 65536, image: 'pipes-data.img' });
    const fifo = kindOf(table, 3, 'fifo');
    expect(fifo).toMatchObject({ name: '/tmp/ff', pipeId: 556, regfId: 30 });
  });

  it('decodes unix sockets, links peers and shows abstract names with @', () => {
    const a = kindOf(table, 4, 'unix');
    const b = kindOf(table, 5, 'unix');
    expect(a.name).toBe('socket:[1000]');
    expect(a.peerId).toBe(5);
    expect(a.socket.remote).toBe('/run/a.sock');
    expect(b.path).toBe('/run/a.sock');
    const abs = kindOf(table, 6, 'unix');
    expect(abs).toMatchObject({ path: '@abs@x', abstract: true, type: 'seqpacket', state: 'LISTEN', backlog: 4 });
    expect(describeSocket(abs.socket)).toBe('unix/seqpacket @abs@x LISTEN');
  });

  it('decodes inet sockets: addresses, ports, state names', () => {
    const tcp = kindOf(table, 7, 'inet');
    expect(tcp).toMatchObject({ family: 'inet', proto: 'tcp', state: 'ESTABLISHED', srcAddr: '127.0.0.1', dstAddr: '10.1.2.3' });
    expect(describeSocket(tcp.socket)).toBe('tcp 127.0.0.1:5000 -> 10.1.2.3:40122 ESTABLISHED');
    const udp = kindOf(table, 8, 'inet');
    expect(udp).toMatchObject({ family: 'inet6', proto: 'udp', state: 'CLOSE', srcAddr: '::ffff:192.168.0.1', dstAddr: '::' });
    expect(udp.socket).toMatchObject({ local: '[::ffff:192.168.0.1]:53', remote: '' });
  });

  it('decodes netlink and packet sockets', () => {
    expect(kindOf(table, 9, 'netlink')).toMatchObject({ name: 'socket:[3000]', protocol: 'route', portid: 77 });
    expect(kindOf(table, 10, 'packet')).toMatchObject({ protocol: 3, ifindex: 2, type: 'raw' });
  });

  it('decodes anonymous-inode files', () => {
    expect(kindOf(table, 11, 'eventfd')).toMatchObject({ name: 'anon_inode:[eventfd]', counter: 7n });
    const ep = kindOf(table, 12, 'eventpoll');
    expect(ep.targets).toEqual([{ tfd: 11, events: 1, data: 0x123456789abcdefn }]);
    expect(kindOf(table, 13, 'signalfd').signals).toEqual([10, 15]);
    expect(kindOf(table, 14, 'timerfd')).toMatchObject({ clock: 'monotonic', ticks: 2n, value: { sec: 3n, nsec: 4n }, interval: { sec: 5n, nsec: 6n } });
    expect(kindOf(table, 15, 'inotify').watches).toEqual([{ wd: 1, ino: 99n, mask: 0x300, ignoredMask: 0, sDev: 1, path: '/tmp' }]);
    expect(kindOf(table, 16, 'fanotify').marks[0]).toMatchObject({ type: 'mount', mntId: 21, path: '/' });
    expect(kindOf(table, 22, 'pidfd')).toMatchObject({ name: 'anon_inode:[pidfd]', nspid: 12 });
    expect(kindOf(table, 23, 'bpfmap')).toMatchObject({ mapName: 'm', memlock: 4096n });
  });

  it('decodes ttys, tun, memfd, namespaces, external and unknown files', () => {
    expect(kindOf(table, 17, 'tty')).toMatchObject({ name: '/dev/pts/3', ttyType: 'pty', index: 3, master: false, info: { major: 136, minor: 3 } });
    expect(kindOf(table, 18, 'tun')).toMatchObject({ name: '/dev/net/tun', netdev: 'tun0' });
    const memfd = kindOf(table, 19, 'memfd');
    expect(memfd.name).toBe('/memfd:buf (deleted)');
    expect(memfd.inode).toMatchObject({ shmid: 4242, size: 8192n, pagemapImage: 'pagemap-shmem-4242.img', sealNames: ['seal', 'grow'] });
    expect(kindOf(table, 20, 'ns')).toMatchObject({ nsType: 'net', nsId: 3 });
    expect(kindOf(table, 21, 'ext').kind).toBe('ext');
    expect(kindOf(table, 24, 'unknown').typeNumber).toBe(99);
  });

  it('gives an empty table when there are no file images', () => {
    expect(readFileTable(openImageDir({})).size).toBe(0);
  });
});

// ---- old per-kind images ------------------------------------------------------------------------

describe('per-kind images of old dumps', () => {
  const dir = openImageDir({
    'reg-files.img': image(Magic.regFiles, [
      entry('RegFileEntry', reg(1, '/var/log/x')),
      entry('RegFileEntry', reg(5, '/dev/tty1')),
      entry('RegFileEntry', reg(6, '/tmp/oldfifo')),
    ]),
    'pipes.img': image(Magic.pipes, [entry('PipeEntry', { id: 2, pipe_id: 77, flags: 0, fown })]),
    'inetsk.img': image(Magic.inetSk, [
      entry('InetSkEntry', {
        id: 3, ino: 9, family: 2, type: 1, proto: 6, state: 10, src_port: 80, dst_port: 0, flags: 0, backlog: 5,
        src_addr: [0], dst_addr: [0], fown, opts,
      }),
    ]),
    'eventpoll.img': image(Magic.eventpollFile, [entry('EventpollFileEntry', { id: 4, flags: 0, fown })]),
    'eventpoll-tfd.img': image(Magic.eventpollTfd, [entry('EventpollTarget', { id: 4, tfd: 3, events: 1, data: 9 })]),
    'tty.img': image(Magic.ttyFiles, [entry('TtyFileEntry', { id: 5, tty_info_id: 8, flags: 2, fown })]),
    'tty-info.img': image(Magic.ttyInfo, [
      entry('TtyInfoEntry', { id: 8, type: 3, locked: false, exclusive: false, packet_mode: false, sid: 1, pgrp: 1, rdev: (4 << 8) | 1 }),
    ]),
    'fifo.img': image(Magic.fifo, [entry('FifoEntry', { id: 6, pipe_id: 78 })]),
    'remap-fpath.img': image(Magic.remapFpath, [entry('RemapFilePathEntry', { orig_id: 1, remap_id: 0x80000003 })]),
    [ghostImageName(3)]: imageWithBlobs(Magic.ghostFile, [entry('GhostFileEntry', { uid: 0, gid: 0, mode: 0o100600 }), Buffer.from('old')]),
  });
  const table = readFileTable(dir);

  it('reads every kind image and the separate epoll targets', () => {
    expect([...table.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(kindOf(table, 2, 'pipe').name).toBe('pipe:[77]');
    expect(kindOf(table, 3, 'inet').socket.local).toBe('0.0.0.0:80');
    expect(kindOf(table, 4, 'eventpoll').targets).toEqual([{ tfd: 3, events: 1, data: 9n }]);
  });

  it('takes tty and fifo paths from the reg entry with the same id', () => {
    expect(kindOf(table, 5, 'tty')).toMatchObject({ name: '/dev/tty1', ttyType: 'vt' });
    expect(kindOf(table, 6, 'fifo')).toMatchObject({ name: '/tmp/oldfifo', pipeId: 78 });
  });

  it('understands the legacy ghost bit in remap ids', () => {
    expect(readRemaps(dir).get(1)).toMatchObject({ type: 'ghost', remapId: 3 });
    expect(kindOf(table, 1, 'reg')).toMatchObject({ deleted: true, ghostId: 3, name: '/var/log/x (deleted)' });
  });
});

// ---- deleted files ------------------------------------------------------------------------------

describe('ghost files', () => {
  const ghostEntry = entry('GhostFileEntry', { uid: 1, gid: 2, mode: 0o100644, dev: 5, ino: 6, atim: { tv_sec: 10, tv_usec: 500000 } });
  const ghostHeaderLength = image(Magic.ghostFile, [ghostEntry]).length;

  it('records where the inline contents start and reads them', () => {
    const dir = openImageDir({
      'files.img': image(Magic.files, [fileEntry(1, 'reg', reg(10, '/tmp/gone.txt'))]),
      'remap-fpath.img': image(Magic.remapFpath, [entry('RemapFilePathEntry', { orig_id: 10, remap_id: 0x1a, remap_type: 1 })]),
      'ghost-file-1a.img': imageWithBlobs(Magic.ghostFile, [ghostEntry, Buffer.from('deleted contents')]),
    });
    const file = kindOf(readFileTable(dir), 10, 'reg');
    expect(file).toMatchObject({ deleted: true, ghostId: 0x1a, name: '/tmp/gone.txt (deleted)' });
    const ghost = readGhostFile(dir, 0x1a);
    expect(ghost).toMatchObject({ image: 'ghost-file-1a.img', size: 16, chunked: false, uid: 1, fileType: 'reg', atime: 10.5 });
    expect(ghost.extents).toEqual([{ fileOffset: 0, length: 16, image: 'ghost-file-1a.img', imageOffset: ghostHeaderLength }]);
    expect(readGhostContent(dir, ghost, 8, 8).toString()).toBe('contents');
  });

  it('reads chunked contents with holes', () => {
    const dir = openImageDir({
      'ghost-file-2.img': imageWithBlobs(Magic.ghostFile, [
        entry('GhostFileEntry', { uid: 0, gid: 0, mode: 0o100644, chunks: true, size: 20000 }),
        entry('GhostChunkEntry', { len: 4, off: 0 }),
        Buffer.from('head'),
        entry('GhostChunkEntry', { len: 4, off: 19996 }),
        Buffer.from('tail'),
      ]),
    });
    const ghost = readGhostFile(dir, 2);
    expect(ghost.size).toBe(20000);
    expect(ghost.extents.map((e) => [e.fileOffset, e.length])).toEqual([
      [0, 4],
      [19996, 4],
    ]);
    expect(readGhostContent(dir, ghost, 0, 6).toString('latin1')).toBe('head\0\0');
    expect(readGhostContent(dir, ghost, 19994, 6).toString('latin1')).toBe('\0\0tail');
  });

  it('rejects chunks outside the file and a remap to a missing ghost', () => {
    const dir = openImageDir({
      'ghost-file-3.img': imageWithBlobs(Magic.ghostFile, [
        entry('GhostFileEntry', { uid: 0, gid: 0, mode: 0o100644, chunks: true, size: 10 }),
        entry('GhostChunkEntry', { len: 4, off: 8 }),
        Buffer.from('xxxx'),
      ]),
      'files.img': image(Magic.files, [fileEntry(1, 'reg', reg(1, '/a'))]),
      'remap-fpath.img': image(Magic.remapFpath, [entry('RemapFilePathEntry', { orig_id: 1, remap_id: 9, remap_type: 1 })]),
    });
    const chunkError = catchImageError(() => readGhostFile(dir, 3));
    expect(chunkError.code).toBe('bad-value');
    expect(chunkError.image).toBe('ghost-file-3.img');
    const remapError = catchImageError(() => readFileTable(dir));
    expect(remapError.image).toBe('remap-fpath.img');
  });

  it('treats linked remaps as deleted too', () => {
    const dir = openImageDir({
      'files.img': image(Magic.files, [fileEntry(1, 'reg', reg(1, '/d/f')), fileEntry(1, 'reg', reg(2, '/d/link_remap.1'))]),
      'remap-fpath.img': image(Magic.remapFpath, [entry('RemapFilePathEntry', { orig_id: 1, remap_id: 2, remap_type: 0 })]),
    });
    expect(kindOf(readFileTable(dir), 1, 'reg')).toMatchObject({ deleted: true, linkedId: 2, name: '/d/f (deleted)' });
  });
});

// ---- shared memory ------------------------------------------------------------------------------

describe('shared memory', () => {
  const desc = { key: 0x1234, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 7 };

  it('names shmem pagemaps and ipcns images', () => {
    expect(shmemPagemapName(33)).toBe('pagemap-shmem-33.img');
    expect(shmemPagemapName(5n)).toBe('pagemap-shmem-5.img');
    expect(ipcnsShmImageName(ipcNsImageNumber({ nsPerId: true, ipcNsId: 9, pid: 100 }))).toBe('ipcns-shm-9.img');
    expect(ipcNsImageNumber({ nsPerId: false, ipcNsId: 9, pid: 100 })).toBe(100);
    expect(memfdLinkName('/dev/zero')).toBe('/dev/zero (deleted)');
  });

  it('reads SysV segments kept in pagemaps and inline (old dumps)', () => {
    const dir = openImageDir({
      'ipcns-shm-9.img': imageWithBlobs(Magic.ipcnsShm, [
        entry('IpcShmEntry', { desc, size: 10000, in_pagemaps: true }),
        entry('IpcShmEntry', { desc: { ...desc, id: 8 }, size: 5 }),
        Buffer.from('abcde\0\0\0'),
      ]),
    });
    const [paged, inline] = readSysvShm(dir, 9);
    expect(paged).toMatchObject({ id: 7, key: 0x1234, size: 10000n, inPagemaps: true, pagemapImage: 'pagemap-shmem-7.img' });
    expect(paged?.inline).toBeUndefined();
    expect(inline?.inline).toMatchObject({ image: 'ipcns-shm-9.img', size: 5 });
    expect(readSysvShm(dir, 10)).toEqual([]);
  });

  it('rejects inline contents that run past the image', () => {
    const dir = openImageDir({ 'ipcns-shm-1.img': imageWithBlobs(Magic.ipcnsShm, [entry('IpcShmEntry', { desc, size: 64 }), Buffer.from('ab')]) });
    expect(catchImageError(() => readSysvShm(dir, 1)).image).toBe('ipcns-shm-1.img');
  });

  it('reads memfd inodes', () => {
    const dir = openImageDir({
      'memfd.img': image(Magic.memfdInode, [entry('MemfdInodeEntry', { name: '/dev/zero', uid: 0, gid: 0, size: 12288, shmid: 33, seals: 1, inode_id: 1 })]),
    });
    expect(readMemfdInodes(dir).get(1)).toMatchObject({ name: '/dev/zero', shmid: 33, size: 12288n, pagemapImage: 'pagemap-shmem-33.img' });
  });
});

// ---- sockets helpers ----------------------------------------------------------------------------

describe('socket helpers', () => {
  it('formats IPv6 addresses like inet_ntop', () => {
    const bytes = (groups: number[]) => Buffer.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
    expect(formatIpv6(bytes([0, 0, 0, 0, 0, 0, 0, 1]))).toBe('::1');
    expect(formatIpv6(bytes([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]))).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6(bytes([0xfe80, 0, 0, 0, 0xa, 0xb, 0xc, 0xd]))).toBe('fe80::a:b:c:d');
    expect(formatIpv6(bytes([1, 0, 2, 3, 4, 5, 6, 7]))).toBe('1:0:2:3:4:5:6:7');
  });

  it('formats unix names and TCP states', () => {
    expect(formatUnixName(Buffer.alloc(0))).toBe('');
    expect(formatUnixName(Buffer.from('\0name', 'latin1'))).toBe('@name');
    expect(formatUnixName(Buffer.from('/a/b\0', 'latin1'))).toBe('/a/b');
    expect(tcpStateName(10)).toBe('LISTEN');
    expect(tcpStateName(99)).toBe('STATE_99');
  });

  it('reads socket queues and TCP streams', () => {
    const dir = openImageDir({
      'sk-queues.img': imageWithBlobs(Magic.skQueues, [
        entry('SkQueueEntry', { id_for: 4, length: 3 }),
        Buffer.from('abc'),
        entry('SkQueueEntry', { id_for: 4, length: 2, scm: [{ type: 1, rights: [9] }] }),
        Buffer.from('de'),
      ]),
      [tcpStreamImageName(0x3e1d)]: imageWithBlobs(Magic.tcpStream, [
        entry('TcpStreamEntry', { inq_len: 2, inq_seq: 1, outq_len: 3, outq_seq: 2, opt_mask: 0, snd_wscale: 0, mss_clamp: 0 }),
        Buffer.from('inout'),
      ]),
    });
    const queue = readSocketQueues(dir).get(4);
    expect(queue?.bytes).toBe(5);
    expect(queue?.packets.map((p) => p.rights)).toEqual([[], [9]]);
    const stream = readTcpStream(dir, 0x3e1d);
    expect(stream).toMatchObject({ image: 'tcp-stream-3e1d.img', inqLen: 2, outqLen: 3 });
    expect(stream && stream.outqOffset - stream.inqOffset).toBe(2);
    expect(readTcpStream(dir, 1)).toBeUndefined();
  });
});

// ---- damaged input ------------------------------------------------------------------------------

describe('damaged file images', () => {
  it('reports a truncated files.img', () => {
    const whole = image(Magic.files, [fileEntry(6, 'efd', { id: 1, flags: 0, fown, counter: 1 })]);
    const error = catchImageError(() => readFileTable(openImageDir({ 'files.img': whole.subarray(0, whole.length - 3) })));
    expect(error).toMatchObject({ code: 'truncated', image: 'files.img' });
  });

  it('reports a wrong magic', () => {
    const error = catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.pipes, []) })));
    expect(error).toMatchObject({ code: 'bad-magic', image: 'files.img' });
  });

  it('reports impossible socket values', () => {
    const bad = fileEntry(4, 'isk', {
      id: 1, ino: 1, family: 3, type: 1, proto: 6, state: 1, src_port: 1, dst_port: 1, flags: 0, backlog: 0, fown, opts,
    });
    expect(catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.files, [bad]) })))).toMatchObject({ code: 'bad-value', image: 'files.img' });
    const badPort = fileEntry(4, 'isk', {
      id: 1, ino: 1, family: 2, type: 1, proto: 6, state: 1, src_port: 70000, dst_port: 1, flags: 0, backlog: 0, src_addr: [0], fown, opts,
    });
    expect(catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.files, [badPort]) }))).code).toBe('bad-value');
    const badAddress = fileEntry(4, 'isk', {
      id: 1, ino: 1, family: 10, type: 1, proto: 6, state: 1, src_port: 1, dst_port: 1, flags: 0, backlog: 0, src_addr: [1, 2], fown, opts,
    });
    expect(catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.files, [badAddress]) }))).code).toBe('bad-value');
  });

  it('reports a file entry without its description, a repeated id, and dangling references', () => {
    const noPayload = entry('FileEntry', { type: 1, id: 3 });
    const offset = image(Magic.files, []).length;
    expect(catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.files, [noPayload]) })))).toMatchObject({
      code: 'bad-value',
      image: 'files.img',
      offset,
    });
    const twice = [fileEntry(6, 'efd', { id: 1, flags: 0, fown, counter: 1 }), fileEntry(6, 'efd', { id: 1, flags: 0, fown, counter: 2 })];
    expect(catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.files, twice) }))).code).toBe('bad-value');
    const memfd = [fileEntry(18, 'memfd', { id: 1, flags: 2, pos: 0, fown, inode_id: 5 })];
    expect(catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.files, memfd) }))).code).toBe('bad-value');
    const tty = [fileEntry(11, 'tty', { id: 1, tty_info_id: 2, flags: 2, fown })];
    expect(catchImageError(() => readFileTable(openImageDir({ 'files.img': image(Magic.files, tty) }))).code).toBe('bad-value');
  });

  it('reports an undecodable entry in an old per-kind image with its name', () => {
    const garbage = Buffer.concat([image(Magic.pipes, []), Buffer.from([3, 0, 0, 0, 0xff, 0xff, 0xff])]);
    expect(catchImageError(() => readFileTable(openImageDir({ 'pipes.img': garbage })))).toMatchObject({ code: 'bad-entry', image: 'pipes.img' });
  });
});
