/**
 * What criu-gdb knows about one machine architecture, chosen by the checkpoint's core image (CoreEntry.mtype):
 * the register file as gdb numbers it (target description), the value of each register from the saved
 * thread state, how CRIU's dump changed the registers of a thread stopped in a system call, and what an ELF
 * core of it is called. The stub, the exporter and the model ask this interface instead of naming a machine.
 */
import { CriuGdbError } from '../errors.js';
import type { Registers } from '../images/registers.js';
import type { RegisterSpec, TargetDescription } from './target-xml.js';

/** Reads `length` bytes of the thread's memory at `address`, undefined where any is unavailable. */
export type CodeReader = (address: bigint, length: number) => Buffer | undefined;

/** What undoing CRIU's syscall-restart adjustment changed (see each architecture's syscall-restart module). */
export interface SyscallRestart {
  /** The syscall number. */
  nr: number;
  /** The syscall's name, when the architecture's table lists it. */
  name?: string;
  /**
   * `rewound`: CRIU had moved the pc back onto the syscall instruction and put the call number back;
   * `eintr`: CRIU had replaced -ERESTART_RESTARTBLOCK with -EINTR.
   */
  adjustment: 'rewound' | 'eintr';
  /** The -ERESTART* code put back in the result register, when known. */
  code?: number;
}

/** A thread's registers as a debugger attached at dump time saw them. */
export interface ThreadRegisterState<R extends Registers = Registers> {
  registers: R;
  /** Names of registers whose live value cannot be known (served as unavailable). */
  unavailable: ReadonlySet<string>;
  /** Set when a syscall-restart adjustment was undone. */
  restart?: SyscallRestart;
}

/** What the process (not the thread) says that register values can depend on. */
export interface ProcessFacts {
  /** The saved auxiliary vector, as (type, value) pairs. */
  auxv: ReadonlyArray<{ type: bigint; value: bigint }>;
  /** One past the highest address any mapping of the process covers. */
  highestAddress: bigint;
}

/** One architecture criu-gdb serves and exports. */
export interface Architecture {
  /** CRIU's name (core image `mtype`): `x86_64`, `aarch64`. */
  readonly name: Registers['arch'];
  /** gdb's name for it (`set architecture`, target.xml `<architecture>`). */
  readonly gdbArchitecture: string;
  /** e_machine of its ELF cores. */
  readonly elfMachine: number;
  /** Registers sent with every stop reply: frame pointer, stack pointer, pc (what gdbserver expedites). */
  readonly expedited: readonly string[];
  /** Throws a CriuGdbError when this thread's registers cannot be served (wrong machine, 32-bit task). */
  checkThread(registers: Registers, label: string): void;
  /** The target description of a process whose threads have these registers. */
  describe(threads: readonly Registers[]): TargetDescription;
  /** Little-endian bytes of register `spec`, undefined when the images do not hold it. */
  registerValue(spec: RegisterSpec, registers: Registers): Buffer | undefined;
  /**
   * Registers of a thread as a debugger attached at dump time saw them (CRIU's adjustment undone, values
   * the process facts give added). Describe these, not the saved ones.
   */
  liveRegisters(registers: Registers, codeAt: CodeReader, process: ProcessFacts): ThreadRegisterState;
}

/** "a"/"an" before an architecture's name. */
export function article(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/** Refuses registers of another machine than `want`. */
export function assertArch<A extends Registers['arch']>(registers: Registers, want: A, label: string): asserts registers is Extract<Registers, { arch: A }> {
  if (registers.arch !== want) throw new CriuGdbError(`${label} has ${article(registers.arch)} ${registers.arch} thread among ${want} threads`);
}
