import { closeSync, fstatSync, readSync } from 'node:fs';
import type { Checkpoint } from '../model/checkpoint.js';
import { CriuGdbError } from '../errors.js';
import { escapeBinary } from './packets.js';
import { parseProcPath, procFileContent, procLinkTarget } from './proc-files.js';

/**
 * Most bytes one vFile:pread answers (gdb reads on from where a short read ended). gdb asks for a whole
 * packet, about 128 KiB, even to check an executable's build-id, which the first few KiB hold.
 */
const PREAD_REPLY_BYTES = 32 * 1024;

/** errno values of gdb's File-I/O protocol (not the host's). */
const FileIoErrno = { ENOENT: 2, EBADF: 9, EACCES: 13, EINVAL: 22, EMFILE: 24, EROFS: 30, ENAMETOOLONG: 91 } as const;

/** Most files one connection may hold open. */
const MAX_OPEN_FILES = 64;

type OpenFile = { type: 'memory'; content: Buffer } | { type: 'host'; fd: number; size: number; mode: number };

function failure(errno: number): string {
  return `F-1,${errno.toString(16)}`;
}

function decodeHexString(hex: string): string | undefined {
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return undefined;
  return Buffer.from(hex, 'hex').toString('utf8');
}

/** gdb's `struct fio_stat`: big-endian, 64 bytes. */
function fioStat(size: number, mode: number): Buffer {
  const out = Buffer.alloc(64);
  out.writeUInt32BE(mode >>> 0, 8);
  out.writeUInt32BE(1, 12); // nlink
  out.writeBigUInt64BE(BigInt(size), 28);
  out.writeBigUInt64BE(4096n, 36);
  out.writeBigUInt64BE(BigInt(Math.ceil(size / 512)), 44);
  return out;
}

/**
 * gdb's remote file I/O (`vFile:` packets), read-only. Paths resolve inside the user's root; /proc/PID of
 * a checkpointed process is synthesized from the images. Nothing else on the host is reachable.
 */
export class RemoteFiles {
  private readonly files = new Map<number, OpenFile>();
  private nextFd = 1;
  /** `dev:ino` of the mapped files that do not match the checkpoint. */
  private refusedFiles: Set<string> | undefined;

  constructor(
    private readonly checkpoint: Checkpoint,
    /** Largest reply payload, from the negotiated packet size. */
    private readonly maxReply: number,
  ) {}

  /** Answers one `vFile:` packet (the payload after `vFile:`); returns the reply payload. */
  handle(request: string): Buffer | string {
    const colon = request.indexOf(':');
    const operation = colon < 0 ? request : request.slice(0, colon);
    const args = colon < 0 ? [] : request.slice(colon + 1).split(',');
    switch (operation) {
      case 'setfs':
        return 'F0';
      case 'open':
        return this.open(args);
      case 'pread':
        return this.pread(args);
      case 'close':
        return this.close(args);
      case 'fstat':
        return this.fstat(args);
      case 'readlink':
        return this.readlink(args);
      case 'pwrite':
      case 'unlink':
        return failure(FileIoErrno.EROFS);
      default:
        return '';
    }
  }

  /** Closes every open file. */
  closeAll(): void {
    for (const file of this.files.values()) if (file.type === 'host') closeSync(file.fd);
    this.files.clear();
  }

  private open(args: string[]): string {
    const path = decodeHexString(args[0] ?? '');
    const flags = parseInt(args[1] ?? '', 16);
    if (path === undefined || Number.isNaN(flags)) return failure(FileIoErrno.EINVAL);
    if ((flags & 3) !== 0) return failure(FileIoErrno.EROFS);
    if (path.length > 4096) return failure(FileIoErrno.ENAMETOOLONG);
    if (this.files.size >= MAX_OPEN_FILES) return failure(FileIoErrno.EMFILE);
    const file = this.openPath(path);
    if (typeof file === 'number') return failure(file);
    const fd = this.nextFd++;
    this.files.set(fd, file);
    return `F${fd.toString(16)}`;
  }

  private openPath(path: string): OpenFile | number {
    const proc = parseProcPath(path);
    if (proc) {
      const process = this.checkpoint.processes.find((p) => p.pid === proc.pid);
      if (!process) return FileIoErrno.ENOENT;
      let content: Buffer | undefined;
      try {
        content = procFileContent(process, proc.rest);
      } catch (error) {
        if (!(error instanceof CriuGdbError)) throw error;
        return FileIoErrno.EACCES;
      }
      return content ? { type: 'memory', content } : FileIoErrno.ENOENT;
    }
    try {
      // Opened once, by the descriptor walk inside the root; everything after reads this descriptor.
      const { fd, size } = this.checkpoint.rootFs.open(path);
      const stat = fstatSync(fd);
      // A mapped file that does not match the checkpoint is refused, by whatever name: no symbols rather than wrong ones.
      if (this.refused().has(`${stat.dev}:${stat.ino}`)) {
        closeSync(fd);
        return FileIoErrno.ENOENT;
      }
      return { type: 'host', fd, size, mode: stat.mode };
    } catch (error) {
      if (!(error instanceof CriuGdbError)) throw error;
      return FileIoErrno.ENOENT;
    }
  }

  /** The identities (`dev:ino`) of the mapped files that do not match the checkpoint, as opened inside the root. */
  private refused(): Set<string> {
    if (!this.refusedFiles) {
      const { rootFs } = this.checkpoint;
      const mismatched = this.checkpoint.mappedFiles().filter((file) => file.status === 'mismatch');
      this.refusedFiles = new Set(mismatched.flatMap((file) => {
        try {
          const { fd } = rootFs.open(file.path);
          try {
            const stat = fstatSync(fd);
            return [`${stat.dev}:${stat.ino}`];
          } finally {
            closeSync(fd);
          }
        } catch {
          return [];
        }
      }));
    }
    return this.refusedFiles;
  }

  private pread(args: string[]): Buffer | string {
    const file = this.files.get(parseInt(args[0] ?? '', 16));
    const count = parseInt(args[1] ?? '', 16);
    const offset = parseInt(args[2] ?? '', 16);
    if (!file) return failure(FileIoErrno.EBADF);
    if (Number.isNaN(count) || Number.isNaN(offset) || count < 0 || offset < 0) return failure(FileIoErrno.EINVAL);
    // Escaping can double the size: stay under the packet size even in the worst case.
    const wanted = Math.min(count, PREAD_REPLY_BYTES, Math.floor((this.maxReply - 32) / 2));
    let data: Buffer;
    if (file.type === 'memory') data = file.content.subarray(offset, offset + wanted);
    else {
      const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(wanted, file.size - offset)));
      const n = buffer.length > 0 ? readSync(file.fd, buffer, 0, buffer.length, offset) : 0;
      data = buffer.subarray(0, n);
    }
    return Buffer.concat([Buffer.from(`F${data.length.toString(16)};`), escapeBinary(data)]);
  }

  private close(args: string[]): string {
    const fd = parseInt(args[0] ?? '', 16);
    const file = this.files.get(fd);
    if (!file) return failure(FileIoErrno.EBADF);
    if (file.type === 'host') closeSync(file.fd);
    this.files.delete(fd);
    return 'F0';
  }

  private fstat(args: string[]): Buffer | string {
    const file = this.files.get(parseInt(args[0] ?? '', 16));
    if (!file) return failure(FileIoErrno.EBADF);
    const stat = file.type === 'memory' ? fioStat(file.content.length, 0o100444) : fioStat(file.size, file.mode);
    return Buffer.concat([Buffer.from(`F${stat.length.toString(16)};`), escapeBinary(stat)]);
  }

  private readlink(args: string[]): Buffer | string {
    const path = decodeHexString(args[0] ?? '');
    if (path === undefined) return failure(FileIoErrno.EINVAL);
    let target: string | undefined;
    const proc = parseProcPath(path);
    if (proc) {
      const process = this.checkpoint.processes.find((p) => p.pid === proc.pid);
      target = process ? this.checkpoint.tolerate(() => procLinkTarget(process, proc.rest)) : undefined;
    } else {
      target = this.readlinkUnderRoot(path);
    }
    if (target === undefined) return failure(FileIoErrno.ENOENT);
    const data = Buffer.from(target);
    return Buffer.concat([Buffer.from(`F${data.length.toString(16)};`), escapeBinary(data)]);
  }

  /** readlink of a link inside the root: its directory is opened by the descriptor walk, the link is not followed. */
  private readlinkUnderRoot(path: string): string | undefined {
    try {
      return this.checkpoint.rootFs.readlink(path);
    } catch (error) {
      if (!(error instanceof CriuGdbError)) throw error;
      return undefined;
    }
  }
}
