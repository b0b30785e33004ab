import type { Architecture } from '../arch/architecture.js';
import { architectureFor } from '../arch/architectures.js';
import type { TargetDescription } from '../arch/target-xml.js';
import { CriuGdbError, LookupError } from '../errors.js';
import type { Registers } from '../images/registers.js';
import { PageCache } from '../model/page-cache.js';
import type { ProcessModel } from '../model/process.js';
import { ThreadLocalStorage } from '../model/tls.js';
import { encodeGPacket, encodeRegister } from './registers.js';
import { xmlAttribute } from './xml.js';

/** SIGSTOP in gdb's remote-protocol signal numbering (Linux's 19 is GDB_SIGNAL_CONT there). */
const GDB_SIGNAL_STOP = 17;

/** The registers of one thread as gdb should see them. */
interface ThreadState {
  registers: Registers;
  unavailable: ReadonlySet<string>;
}

/**
 * One checkpointed process as the remote-protocol stub serves it: threads with names, registers in the
 * layout of its target description, memory, auxv and the executable's path. Read-only.
 */
export class ProcessTarget {
  readonly description: TargetDescription;
  /** The machine of the process, chosen by its leader's core image. */
  readonly architecture: Architecture;
  private readonly threadStates = new Map<number, ThreadState>();
  private tls: ThreadLocalStorage | undefined;
  private pageCache: PageCache | undefined;

  constructor(readonly process: ProcessModel) {
    this.architecture = architectureFor(process.arch);
    const leader = this.savedRegisters(process.pid);
    this.architecture.checkThread(leader, 'this process');
    this.description = this.architecture.describe([process.liveRegisters(process.pid)?.registers ?? leader]);
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Thread ids, leader first. */
  get tids(): readonly number[] {
    return this.process.tids;
  }

  private savedRegisters(tid: number): Registers {
    const registers = this.process.core(tid).registers;
    if (!registers || registers.arch !== this.architecture.name) {
      throw new CriuGdbError(`thread ${tid} of process ${this.process.pid} has no saved ${this.architecture.name} registers (core-${tid}.img)`);
    }
    return registers;
  }

  /**
   * Registers of `tid` as a live gdb would have seen them (CRIU's syscall-restart adjustment undone). A
   * thread whose core image is missing has every register unavailable.
   */
  private threadState(tid: number): ThreadState {
    let state = this.threadStates.get(tid);
    if (!state && tid !== this.pid && !this.process.coreIfPresent(tid)) {
      const template = this.savedRegisters(this.pid);
      state = { registers: template, unavailable: new Set(this.description.registers.map((r) => r.name)) };
      this.threadStates.set(tid, state);
    }
    if (!state) {
      this.savedRegisters(tid);
      state = this.process.liveRegisters(tid)!;
      this.threadStates.set(tid, state);
    }
    return state;
  }

  /** The `g` packet reply for `tid`. */
  allRegisters(tid: number): string {
    const { registers, unavailable } = this.threadState(tid);
    return encodeGPacket(this.description, registers, unavailable);
  }

  /** The `p` packet reply for register number `regnum` of `tid`, or undefined for an unknown number. */
  oneRegister(tid: number, regnum: number): string | undefined {
    const spec = this.description.registers.find((r) => r.regnum === regnum);
    if (!spec) return undefined;
    const { registers, unavailable } = this.threadState(tid);
    return encodeRegister(spec, registers, unavailable);
  }

  /** qXfer:threads:read document: every thread with its name. */
  threadsXml(): string {
    const names = new Map(this.process.threads().map((t) => [t.tid, t.name]));
    const lines = this.tids.map((tid) => {
      const name = names.get(tid);
      return `<thread id="p${this.pid.toString(16)}.${tid.toString(16)}"${name ? ` name="${xmlAttribute(name)}"` : ''}/>`;
    });
    return `<?xml version="1.0"?>\n<threads>\n${lines.join('\n')}\n</threads>\n`;
  }

  /** The saved auxiliary vector as the target's bytes (for qXfer:auxv:read). */
  auxv(): Buffer {
    const words = this.process.mm().auxv;
    const out = Buffer.alloc(words.length * 8);
    words.forEach((word, i) => out.writeBigUInt64LE(BigInt.asUintN(64, word), i * 8));
    return out;
  }

  /** Path of the executable as the process saw it. */
  exePath(): string | undefined {
    return this.process.exe();
  }

  /** Bytes at `address` up to the first unavailable one. */
  readMemory(address: bigint, length: number): Buffer {
    this.pageCache ??= new PageCache(this.process.memory());
    return this.pageCache.readAvailable(address, length);
  }

  /**
   * Address of the thread-local variable at `offset` in the block of the module whose link map is at
   * `linkMap`, for thread `tid` (qGetTLSAddr). Throws a TlsError (one line) when it cannot be located.
   */
  threadLocalAddress(tid: number, offset: bigint, linkMap: bigint): bigint {
    if (!this.tids.includes(tid)) throw new LookupError(`process ${this.pid} has no thread ${tid}`);
    this.tls ??= new ThreadLocalStorage(this.process);
    return this.tls.address(tid, linkMap, offset);
  }

  /**
   * Signal reported in the initial stop, in gdb's own signal numbering (not Linux's): GDB_SIGNAL_STOP (17)
   * for a stopped process, else none.
   */
  stopSignal(): number {
    return this.process.state === 'stopped' ? GDB_SIGNAL_STOP : 0;
  }
}
