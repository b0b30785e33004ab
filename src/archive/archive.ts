/**
 * A container checkpoint archive (Podman `container checkpoint --export`, Kubernetes/CRI-O forensic
 * checkpoints): a tar, plain or compressed with gzip or zstd, holding `checkpoint/` (the CRIU images),
 * `config.dump`, `spec.dump`, `rootfs-diff.tar`, `deleted.files`, `stats-dump`, `dump.log` and more.
 *
 * The archive is indexed once and never unpacked whole:
 * - plain tar: members are read in place, with positioned reads at their offset in the archive file;
 * - gzip/zstd: the stream is decompressed once at open, in a worker thread. The index is kept, and the
 *   checkpoint images and the small metadata files are written to a private temporary directory (0700).
 *   What is left (rootfs-diff.tar, logs, volumes) is extracted on first use by a further pass that stops as
 *   soon as it has what it needs. With `pages: 'lazy'`, pages-N.img too waits for the first memory read.
 *   The directory is removed on close, and when the process exits or is stopped by a signal.
 *
 * Opening the same archive again while it is open shares the index and the extracted members.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { budget, BudgetError, overBudget } from '../budget.js';
import { CheckpointError, ImageError } from '../errors.js';
import { inflateSync } from './inflate.js';
import { extractedName, type Compression, type ExtractRule, type InflateResult, type InflateTask, type ZstdDecoderChoice } from './inflate-protocol.js';
import { makeTempDir, removeTempDir } from './temp.js';
import { ArchiveError, indexTar, looksLikeTar, type TarMember } from './tar.js';

export type ArchiveFormat = 'tar' | Compression;

/** When pages-N.img of a compressed archive are extracted. */
export type PagesPolicy = 'eager' | 'lazy';

/** How to open an archive. */
export interface ArchiveOptions {
  /** Default `eager` (or $CRIU_GDB_ARCHIVE_PAGES): see {@link PagesPolicy}. */
  pages?: PagesPolicy | undefined;
  /** Default `auto` (or $CRIU_GDB_ZSTD). */
  zstd?: ZstdDecoderChoice | undefined;
}

/** Files next to `checkpoint/` in container checkpoint archives (checkpointctl's names). */
export const ArchiveFiles = {
  config: 'config.dump',
  spec: 'spec.dump',
  status: 'status.dump',
  networkStatus: 'network.status',
  rootfsDiff: 'rootfs-diff.tar',
  deletedFiles: 'deleted.files',
  dumpLog: 'dump.log',
  statsDump: 'stats-dump',
  bindMounts: 'bind.mounts',
  containerdStatus: 'status',
  podOptions: 'pod.options',
  podDump: 'pod.dump',
  devShm: 'devshm-checkpoint.tar',
} as const;

const SMALL_FILES: readonly string[] = [
  ArchiveFiles.config,
  ArchiveFiles.spec,
  ArchiveFiles.status,
  ArchiveFiles.networkStatus,
  ArchiveFiles.deletedFiles,
  ArchiveFiles.dumpLog,
  ArchiveFiles.statsDump,
  ArchiveFiles.bindMounts,
  ArchiveFiles.containerdStatus,
  ArchiveFiles.podOptions,
  ArchiveFiles.podDump,
];

/** Where a member's bytes are: `size` bytes of `fd` from `base`. The descriptor belongs to the archive. */
export interface MemberData {
  fd: number;
  base: number;
  size: number;
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Sniffs the format of an open file from its first bytes; undefined when it is none of ours. */
function sniff(fd: number, label: string): ArchiveFormat {
  const head = Buffer.alloc(512);
  const n = readSync(fd, head, 0, head.length, 0);
  if (n >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (n >= 4 && head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  if (n === 512 && looksLikeTar(head)) return 'tar';
  const what = n >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ? 'an xz file' : n >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh' ? 'a bzip2 file' : 'not a tar archive';
  throw new CheckpointError(`${label}: not a checkpoint directory or a checkpoint archive (tar, tar.gz or tar.zst): ${what}`);
}

function envChoice<T extends string>(name: string, allowed: readonly T[]): T | undefined {
  const value = process.env[name];
  return value !== undefined && (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

const cache = new Map<string, ContainerArchive>();

/** A decompressor's error as one line naming the archive once (the index already names it in some). */
function namedError(path: string, error: string): string {
  return error.startsWith(`${path}: `) || error.startsWith(`${path} `) ? error : `${path}: ${error}`;
}

/**
 * Runs a decompression task within the archive's budget: all passes together write at most
 * max(EXTRACT_BYTES, EXTRACT_RATIO x the archive's size) bytes and EXTRACT_MEMBERS members. `written` and
 * `members` are what earlier passes wrote. Going over is a BudgetError (the caller removes the directory).
 */
function runBudgeted(path: string, archiveSize: number, written: number, members: number, task: Omit<InflateTask, 'maxBytes' | 'maxMembers'>): InflateResult {
  const maxBytes = Math.max(budget('EXTRACT_BYTES'), budget('EXTRACT_RATIO') * archiveSize);
  const maxMembers = budget('EXTRACT_MEMBERS');
  const result = inflateSync({ ...task, maxBytes: maxBytes - written, maxMembers: maxMembers - members });
  if (result.overBudget === 'EXTRACT_BYTES') {
    throw new BudgetError(overBudget('EXTRACT_BYTES', `more than ${maxBytes}`, `${path}: bytes decompressed to the temporary directory`, maxBytes));
  }
  if (result.overBudget === 'EXTRACT_MEMBERS') {
    throw new BudgetError(overBudget('EXTRACT_MEMBERS', `more than ${maxMembers}`, `${path}: members decompressed to the temporary directory`));
  }
  return result;
}

export class ContainerArchive {
  private refs = 1;
  private readonly byName = new Map<string, number>();
  private readonly childNames = new Map<string, Set<string>>();
  private tempDir: string | undefined;
  private readonly extracted = new Set<number>();
  private readonly extractedFds = new Map<number, number>();
  /** Bytes written to the temporary directory so far. */
  private bytesWritten = 0;
  private closed = false;
  /** Members of rootfs-diff.tar (or why they cannot be had), once known. */
  private nestedIndex: TarMember[] | ArchiveError | undefined;
  /** Timings and sizes of the decompression passes, for benchmarks. */
  readonly passes: Array<{ ms: number; bytes: number; decoder: string; extracted: number }> = [];

  private constructor(
    /** The path the user gave. */
    readonly path: string,
    /** Resolved path of the archive file. */
    readonly realPath: string,
    private readonly fd: number,
    readonly format: ArchiveFormat,
    /** Size of the archive file. */
    readonly fileSize: number,
    readonly members: readonly TarMember[],
    private readonly options: Required<ArchiveOptions>,
    private readonly cacheKey: string,
  ) {
    members.forEach((member, ordinal) => {
      this.byName.set(member.name, ordinal);
      const slash = member.name.lastIndexOf('/');
      const parent = slash < 0 ? '' : member.name.slice(0, slash);
      let set = this.childNames.get(parent);
      if (!set) this.childNames.set(parent, (set = new Set()));
      set.add(member.name.slice(slash + 1));
      // Implied parent directories (archives need not list them).
      let dir = parent;
      while (dir !== '') {
        const up = dir.lastIndexOf('/');
        const upName = up < 0 ? '' : dir.slice(0, up);
        let upSet = this.childNames.get(upName);
        if (!upSet) this.childNames.set(upName, (upSet = new Set()));
        if (upSet.has(dir.slice(up + 1))) break;
        upSet.add(dir.slice(up + 1));
        dir = upName;
      }
    });
  }

  /**
   * Opens the archive at `path`, or returns undefined when `path` is a directory. Throws a CheckpointError
   * for anything that is neither a directory nor a readable archive.
   */
  static openIfArchive(path: string, options: ArchiveOptions = {}): ContainerArchive | undefined {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw new CheckpointError(`${path}: no such checkpoint directory`);
    }
    let fd: number;
    try {
      fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      throw new CheckpointError(`${path}: cannot be opened (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const stat = fstatSync(fd);
    if (stat.isDirectory()) {
      closeSync(fd);
      return undefined;
    }
    if (!stat.isFile()) {
      closeSync(fd);
      throw new CheckpointError(`${path}: not a directory or a regular file`);
    }
    const resolved: Required<ArchiveOptions> = {
      pages: options.pages ?? envChoice('CRIU_GDB_ARCHIVE_PAGES', ['eager', 'lazy'] as const) ?? 'eager',
      zstd: options.zstd ?? envChoice('CRIU_GDB_ZSTD', ['auto', 'program', 'wasm'] as const) ?? 'auto',
    };
    const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${resolved.pages}:${resolved.zstd}`;
    const cached = cache.get(key);
    if (cached && !cached.closed) {
      closeSync(fd);
      cached.refs++;
      return cached;
    }
    try {
      const format = sniff(fd, path);
      const archive = format === 'tar' ? ContainerArchive.indexPlain(path, real, fd, stat.size, resolved, key) : ContainerArchive.indexCompressed(path, real, fd, format, stat.size, resolved, key);
      cache.set(key, archive);
      return archive;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  private static indexPlain(path: string, real: string, fd: number, size: number, options: Required<ArchiveOptions>, key: string): ContainerArchive {
    const members = indexTar(fd, 0, size, path);
    return new ContainerArchive(path, real, fd, 'tar', size, members, options, key);
  }

  private static indexCompressed(path: string, real: string, fd: number, format: Compression, size: number, options: Required<ArchiveOptions>, key: string): ContainerArchive {
    const tempDir = makeTempDir();
    try {
      const rule: ExtractRule = {
        names: [...SMALL_FILES],
        prefixes: ['checkpoint/'],
        excludePrefixes: options.pages === 'lazy' ? ['checkpoint/pages-', 'checkpoint/amdgpu-pages-'] : [],
      };
      const started = performance.now();
      const result = runBudgeted(path, size, 0, 0, { archive: real, compression: format, zstd: options.zstd, tempDir, index: true, rule, ordinals: [], nested: ArchiveFiles.rootfsDiff });
      if (result.error !== undefined || !result.members) throw new ArchiveError(namedError(path, result.error ?? 'no index'));
      const archive = new ContainerArchive(path, real, fd, format, size, result.members, options, key);
      archive.bytesWritten = result.bytesWritten;
      archive.tempDir = tempDir;
      archive.nestedIndex = result.nestedError !== undefined ? new ArchiveError(`${path}: ${ArchiveFiles.rootfsDiff}: ${result.nestedError}`) : result.nestedMembers;
      for (const ordinal of result.extracted) archive.extracted.add(ordinal);
      archive.passes.push({ ms: performance.now() - started, bytes: result.bytesRead, decoder: result.decoder, extracted: result.extracted.length });
      return archive;
    } catch (error) {
      removeTempDir(tempDir);
      throw error;
    }
  }

  /** The member called `name` (normalized; the last one when the archive repeats a name). */
  member(name: string): { ordinal: number; member: TarMember } | undefined {
    const ordinal = this.byName.get(name);
    return ordinal === undefined ? undefined : { ordinal, member: this.members[ordinal]! };
  }

  /** Whether `dir` ('' for the top) is a directory of the archive, listed or implied by its members. */
  isDirectory(dir: string): boolean {
    if (dir === '') return true;
    const found = this.member(dir);
    if (found) return found.member.type === 'dir';
    return this.childNames.has(dir);
  }

  /** Names of the entries directly in directory `dir` ('' for the top). */
  children(dir: string): ReadonlySet<string> {
    return this.childNames.get(dir) ?? new Set();
  }

  /**
   * The bytes of regular member `ordinal`: in place for a plain tar; for a compressed archive, its
   * extracted copy, extracted now (with the members of `alsoExtract`) when it was not yet.
   */
  data(ordinal: number, alsoExtract: () => number[] = () => []): MemberData {
    if (this.closed) throw new CheckpointError(`${this.path}: the archive is closed`);
    const member = this.members[ordinal];
    if (!member) throw new CheckpointError(`${this.path}: no member ${ordinal}`);
    if (member.type !== 'file') throw new ImageError('unreadable', `${this.path}:${member.name}`, 0, 'is not a regular file');
    if (this.format === 'tar') return { fd: this.fd, base: member.dataOffset, size: member.size };
    let fd = this.extractedFds.get(ordinal);
    if (fd === undefined) {
      if (!this.extracted.has(ordinal)) this.extract([ordinal, ...alsoExtract().filter((o) => !this.extracted.has(o))]);
      const file = join(this.tempDir!, extractedName(ordinal));
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      const stat = fstatSync(fd);
      if (!stat.isFile() || stat.size !== member.size) {
        closeSync(fd);
        throw new ArchiveError(`${this.path}: extracted copy of ${member.name} has ${stat.size} bytes, expected ${member.size}`);
      }
      this.extractedFds.set(ordinal, fd);
    }
    return { fd, base: 0, size: member.size };
  }

  /**
   * The members of rootfs-diff.tar, indexed without extracting it: in place for a plain archive, during the
   * decompression pass for a compressed one. Undefined when there is no such member.
   */
  rootfsDiffMembers(): readonly TarMember[] | undefined {
    const name = ArchiveFiles.rootfsDiff;
    const found = this.member(name);
    if (!found || found.member.type !== 'file') return undefined;
    if (this.nestedIndex === undefined) {
      if (this.format !== 'tar') {
        // Pass 1 indexed it unless the worker was asked otherwise: read the extracted copy.
        const { fd, base, size } = this.data(found.ordinal);
        this.nestedIndex = indexTar(fd, base, size, `${this.path}:${name}`);
      } else {
        try {
          this.nestedIndex = indexTar(this.fd, found.member.dataOffset, found.member.size, `${this.path}:${name}`);
        } catch (error) {
          if (!(error instanceof ArchiveError)) throw error;
          this.nestedIndex = error;
        }
      }
    }
    if (this.nestedIndex instanceof ArchiveError) throw this.nestedIndex;
    return this.nestedIndex;
  }

  /** Reads a whole small member (metadata files), or undefined when it is absent or not a regular file. */
  readSmall(name: string, limit = 64 * 1024 * 1024): Buffer | undefined {
    const found = this.member(name);
    if (!found || found.member.type !== 'file') return undefined;
    if (found.member.size > limit) throw new ArchiveError(`${this.path}: ${name} is larger than ${limit} bytes`);
    const { fd, base, size } = this.data(found.ordinal);
    const buffer = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buffer, done, size - done, base + done);
      if (n === 0) throw new ArchiveError(`${this.path}: ${name} is truncated`);
      done += n;
    }
    return buffer;
  }

  /** Whether the member's bytes are available without another decompression pass. */
  isLocal(ordinal: number): boolean {
    return this.format === 'tar' || this.extracted.has(ordinal);
  }

  /** The private directory of extracted members, when the archive is compressed. */
  get temporaryDirectory(): string | undefined {
    return this.tempDir;
  }

  private extract(ordinals: number[]): void {
    const started = performance.now();
    const result = runBudgeted(this.path, this.fileSize, this.bytesWritten, this.extracted.size, {
      archive: this.realPath,
      compression: this.format as Compression,
      zstd: this.options.zstd,
      tempDir: this.tempDir!,
      index: false,
      rule: { names: [], prefixes: [], excludePrefixes: [] },
      ordinals,
    });
    this.bytesWritten += result.bytesWritten;
    if (result.error !== undefined) throw new ArchiveError(namedError(this.path, result.error));
    for (const ordinal of result.extracted) this.extracted.add(ordinal);
    this.passes.push({ ms: performance.now() - started, bytes: result.bytesRead, decoder: result.decoder, extracted: result.extracted.length });
    const missing = ordinals.filter((o) => !this.extracted.has(o));
    if (missing.length > 0) throw new ArchiveError(`${this.path}: ${this.members[missing[0]!]?.name ?? missing[0]} was not found when the archive was read again`);
  }

  /** Drops one reference; the last one closes the archive and removes its temporary directory. */
  close(): void {
    if (this.closed) return;
    if (--this.refs > 0) return;
    this.closed = true;
    cache.delete(this.cacheKey);
    for (const fd of this.extractedFds.values()) closeSync(fd);
    this.extractedFds.clear();
    closeSync(this.fd);
    if (this.tempDir) removeTempDir(this.tempDir);
    this.tempDir = undefined;
  }
}
