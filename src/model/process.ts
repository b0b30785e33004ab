import type { ProcessFacts, ThreadRegisterState } from '../arch/architecture.js';
import { architectureFor } from '../arch/architectures.js';
import { CriuGdbError, ImageError } from '../errors.js';
import { readCore, type CoreImage } from '../images/core.js';
import type { Credentials } from '../images/creds.js';
import { readFdinfo } from '../images/fdinfo.js';
import { readFs } from '../images/fs.js';
import { readIds, type TaskKobjIds } from '../images/ids.js';
import { readMountpoints, type MountEntry } from '../images/mnt.js';
import { readMm, type MmImage, type Vma } from '../images/mm.js';
import type { PstreeItem } from '../images/pstree.js';
import type { Rlimit } from '../images/rlimits.js';
import type { SigAction } from '../images/sigactions.js';
import type { SigInfo } from '../images/signals.js';
import type { TaskTimers } from '../images/timers.js';
import type { CheckpointContext } from './context.js';
import { describeFd, fileDisplayName } from './fds.js';
import { MemoryReader } from './memory.js';
import { describeMapping, regionFor } from './mappings.js';
import type { FdModel, Mapping, MappingCoverage, ProcessState, ThreadModel } from './types.js';
import { coverageOf } from './coverage.js';
import { readCreds, readRlimits, readSharedSignals, readSigactions, readThreadSignals, readTimers } from './task-details.js';

/** Longest cmdline or environment block read from memory. */
const MAX_ARGS_BYTES = 1024 * 1024;

/** One process of the checkpoint. Details are read from the images on first use. */
export class ProcessModel {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  private readonly threadIds: readonly number[];
  private readonly cores = new Map<number, CoreImage>();
  private mmImage: MmImage | undefined;
  private memoryReader: MemoryReader | undefined;
  private mappingList: Mapping[] | undefined;
  private procMappingList: Mapping[] | undefined;
  private idsImage: TaskKobjIds | null | undefined;
  private readonly live = new Map<number, ThreadRegisterState | null>();

  constructor(
    readonly checkpoint: CheckpointContext,
    item: PstreeItem,
  ) {
    this.pid = item.pid;
    this.ppid = item.ppid;
    this.pgid = item.pgid;
    this.sid = item.sid;
    this.threadIds = item.threads;
  }

  /** The core image of one thread (registers, thread name, signals). */
  core(tid: number): CoreImage {
    let core = this.cores.get(tid);
    if (!core) {
      core = readCore(this.checkpoint.dir, tid);
      this.cores.set(tid, core);
    }
    return core;
  }

  /** The core image of `tid`, or undefined (with a warning) when the checkpoint lacks it. Damage still throws. */
  coreIfPresent(tid: number): CoreImage | undefined {
    try {
      return this.core(tid);
    } catch (error) {
      if (!(error instanceof ImageError) || error.code !== 'missing') throw error;
      this.checkpoint.warn(error.message);
      return undefined;
    }
  }

  /**
   * Registers of thread `tid` as a debugger attached at dump time saw them: CRIU's syscall-restart
   * adjustment undone where the memory proves it. Undefined (with a warning) when the thread's core image
   * is missing; the leader's must be there. Throws a CriuGdbError for a thread without registers of the
   * process's architecture (x86_64 or aarch64).
   */
  liveRegisters(tid: number): ThreadRegisterState | undefined {
    let state = this.live.get(tid);
    if (state === undefined) {
      const core = tid === this.pid ? this.core(tid) : this.coreIfPresent(tid);
      state = null;
      if (core) {
        const architecture = architectureFor(this.arch, `pid ${this.pid}`);
        const registers = core.registers;
        if (!registers || registers.arch !== architecture.name) {
          throw new CriuGdbError(`thread ${tid} of pid ${this.pid} has no saved ${architecture.name} registers (core-${tid}.img)`);
        }
        state = architecture.liveRegisters(registers, (address, length) => this.codeAt(address, length), this.facts());
      }
      this.live.set(tid, state);
    }
    return state ?? undefined;
  }

  /** The saved auxiliary vector and the top of the address space, for register values that depend on them. */
  private facts(): ProcessFacts {
    const mm = this.checkpoint.tolerate(() => this.mm());
    const highestAddress = (mm?.vmas ?? []).reduce((top, vma) => (vma.end > top ? vma.end : top), 0n);
    return { auxv: mm?.auxvEntries ?? [], highestAddress };
  }

  /** `length` bytes at `address` when all of them are available, for reading instructions. */
  private codeAt(address: bigint, length: number): Buffer | undefined {
    const read = this.memory().read(address, length);
    return read.unavailable.length === 0 ? read.data : undefined;
  }

  /** The leader's core, which carries the process-wide state. */
  get leaderCore(): CoreImage {
    return this.core(this.pid);
  }

  /** Run state at dump time ('unknown' when the leader's core image is missing). */
  get state(): ProcessState {
    return this.coreIfPresent(this.pid)?.task?.taskState ?? 'unknown';
  }

  /** The process name (comm); '' when the leader's core image is missing. */
  get comm(): string {
    const core = this.coreIfPresent(this.pid);
    return core?.task?.comm ?? core?.thread?.comm ?? '';
  }

  /** Architecture of the leader's registers ('unknown' when its core image is missing). */
  get arch(): string {
    return this.coreIfPresent(this.pid)?.arch ?? 'unknown';
  }

  /** Thread ids, leader first. */
  get tids(): readonly number[] {
    return this.threadIds;
  }

  /** Every thread with its name and signal state. */
  threads(): ThreadModel[] {
    return this.threadIds.map((tid) => {
      const core = this.coreIfPresent(tid);
      const isLeader = tid === this.pid;
      return {
        tid,
        name: core?.thread?.comm ?? (isLeader ? (core?.task?.comm ?? '') : ''),
        blockedSignals: core?.thread?.blkSigset ?? core?.task?.blkSigset ?? 0n,
        pendingSignals: (core?.thread?.signalsPending ?? []).map((s) => ({ signo: s.signo, code: s.code, pid: s.pid })),
      };
    });
  }

  /** Credentials of thread `tid` (default the leader): its core, or the old creds-PID.img. Undefined when neither. */
  credentials(tid: number = this.pid): Credentials | undefined {
    return readCreds(this.checkpoint.dir, this.pid, tid, this.core(tid));
  }

  /** Signals pending for the whole process: the leader's core, or the old signal-s-PID.img. */
  sharedSignals(): SigInfo[] | undefined {
    return readSharedSignals(this.checkpoint.dir, this.pid, this.leaderCore);
  }

  /** Signals pending for thread `tid` only: its core, or the old signal-p-TID.img. */
  threadSignals(tid: number): SigInfo[] | undefined {
    return readThreadSignals(this.checkpoint.dir, tid, this.core(tid));
  }

  /** Resource limits: the leader's core, or the old rlimit-PID.img. */
  rlimits(): Rlimit[] | undefined {
    return readRlimits(this.checkpoint.dir, this.pid, this.leaderCore);
  }

  /** Signal dispositions: the leader's core, or the old sigacts-PID.img. */
  sigactions(): SigAction[] | undefined {
    return readSigactions(this.checkpoint.dir, this.pid, this.leaderCore);
  }

  /** Interval and POSIX timers: the leader's core, or the old itimers and posix-timers images. */
  timers(): TaskTimers | undefined {
    return readTimers(this.checkpoint.dir, this.pid, this.leaderCore);
  }

  /** Kernel object ids (files, fs, namespaces), from ids-PID.img or the core. */
  ids(): TaskKobjIds | undefined {
    if (this.idsImage === undefined) {
      const fromImage = this.checkpoint.dir.has(`ids-${this.pid}.img`) ? readIds(this.checkpoint.dir, this.pid) : undefined;
      this.idsImage = fromImage ?? this.coreIfPresent(this.pid)?.ids ?? null;
    }
    return this.idsImage ?? undefined;
  }

  /**
   * The mounts of the process's mount namespace as CRIU dumped them (mountpoints-NSID.img, written when the
   * tree has a mount namespace of its own); undefined when the images have none.
   */
  mounts(): MountEntry[] | undefined {
    const nsId = this.ids()?.mntNsId;
    if (nsId === undefined) return undefined;
    return this.checkpoint.tolerate(() => readMountpoints(this.checkpoint.dir, nsId));
  }

  /** mm-PID.img: mappings, auxv and the argument and environment bounds. */
  mm(): MmImage {
    this.mmImage ??= readMm(this.checkpoint.dir, this.pid);
    return this.mmImage;
  }

  /** Every VMA of mm-PID.img as a mapping, in its order: the /proc/PID/maps lines plus CRIU's guard entries. */
  mappings(): Mapping[] {
    this.mappingList ??= this.mm().vmas.map((vma) => describeMapping(this.checkpoint, this.mm(), vma));
    return this.mappingList;
  }

  /**
   * The memory map as /proc/PID/maps shows it: without CRIU's guard entries (MADV_GUARD_INSTALL), which lie
   * inside real mappings and are no mapping of their own.
   */
  procMappings(): Mapping[] {
    this.procMappingList ??= this.mappings().filter((mapping) => mapping.kind !== 'guard');
    return this.procMappingList;
  }

  /** The process's memory, exactly as CRIU would restore it. */
  memory(): MemoryReader {
    if (!this.memoryReader) {
      const regions = this.mm().vmas.map((vma: Vma) => regionFor(this.checkpoint, vma));
      this.memoryReader = new MemoryReader(this.checkpoint.dir, `pagemap-${this.pid}.img`, regions, this.checkpoint.pageSize, (problem) => this.checkpoint.warn(problem));
    }
    return this.memoryReader;
  }

  /** Where each page of `mapping` comes from. */
  coverage(mapping: Mapping): MappingCoverage {
    const memory = this.memory();
    const region = memory.regionAt(mapping.start);
    return coverageOf(region ? memory.regionSpans(region, mapping.start, mapping.end) : memory.spans(mapping.start, mapping.end), memory.pageBytes);
  }

  /** Path of the executable, when the images name it. */
  exe(): string | undefined {
    const id = this.checkpoint.tolerate(() => this.mm().exeFileId);
    if (id === undefined) return undefined;
    const file = this.checkpoint.files().get(id);
    return file ? fileDisplayName(file) : undefined;
  }

  /** argv, read from the process memory; undefined when those pages are unavailable. */
  cmdline(): string[] | undefined {
    const mm = this.checkpoint.tolerate(() => this.mm());
    return mm ? this.readStrings(mm.argStart, mm.argEnd, 'cmdline') : undefined;
  }

  /** The environment, read from the process memory; undefined when those pages are unavailable. */
  environ(): string[] | undefined {
    const mm = this.checkpoint.tolerate(() => this.mm());
    return mm ? this.readStrings(mm.envStart, mm.envEnd, 'environ') : undefined;
  }

  private readStrings(start: bigint, end: bigint, what: string): string[] | undefined {
    if (end <= start) return [];
    const length = end - start > BigInt(MAX_ARGS_BYTES) ? MAX_ARGS_BYTES : Number(end - start);
    const read = this.memory().read(start, length);
    if (read.unavailable.length > 0) {
      this.checkpoint.warn(`pid ${this.pid}: ${what} is unavailable (${read.unavailable[0]!.reason})`);
      return undefined;
    }
    const text = read.data.toString('utf8');
    const parts = text.split('\0');
    if (parts[parts.length - 1] === '') parts.pop();
    return parts;
  }

  /** Current and root directories. */
  dirs(): { cwd?: string | undefined; root?: string | undefined } {
    const fs = this.checkpoint.tolerate(() => readFs(this.checkpoint.dir, this.pid));
    if (!fs) return {};
    const files = this.checkpoint.files();
    const name = (id: number): string | undefined => {
      const file = files.get(id);
      return file ? fileDisplayName(file) : undefined;
    };
    return { cwd: name(fs.cwdId), root: name(fs.rootId) };
  }

  /** Open file descriptors, sorted by number. */
  fds(): FdModel[] {
    const ids = this.ids();
    // Images from before ids-PID.img named the fd table after the pid.
    const filesId = ids?.filesId ?? this.pid;
    if (!ids && !this.checkpoint.dir.has(`fdinfo-${filesId}.img`)) {
      throw new ImageError('missing', `ids-${this.pid}.img`, 0, 'image is missing, so the open files of this process are unknown');
    }
    const entries = readFdinfo(this.checkpoint.dir, filesId);
    const files = this.checkpoint.files();
    return entries
      .map((entry) => {
        const file = files.get(entry.id);
        if (!file) throw new ImageError('bad-value', `fdinfo-${filesId}.img`, 0, `fd ${entry.fd} refers to unknown file id ${entry.id}`);
        return describeFd(entry, file);
      })
      .sort((a, b) => a.fd - b.fd);
  }

  /** Releases cached state. */
  close(): void {
    this.memoryReader = undefined;
  }
}
