/**
 * The ground-truth format written next to every real CRIU checkpoint the tests use
 * (test/.work/checkpoints/<name>/truth.json and test/fixtures/<name>/truth.json).
 *
 * Everything here was read from the live process tree after it had been stopped with SIGSTOP and
 * right before `criu dump` ran on it. Addresses, offsets and other 64-bit values are hex strings with a
 * `0x` prefix (see parseAddress); counts and ids are numbers.
 */

export const TRUTH_FORMAT = 1;

export interface Truth {
  format: typeof TRUTH_FORMAT;
  /** Checkpoint name, e.g. `pie_callchain` or the fixture's name. */
  name: string;
  /** ISO time the checkpoint was made. */
  createdAt: string;
  program: ProgramTruth;
  criu: CriuRunTruth;
  gdbVersion: string;
  /** `uname -r` of the machine that made the checkpoint. */
  kernel: string;
  rootPid: number;
  /** Every process of the dumped tree: the root first, then breadth-first, children by pid. */
  processes: ProcessTruth[];
  /** Present for incremental checkpoints (pre-dump then dump with a parent). */
  incremental?: IncrementalTruth;
  /** The CPU's XSAVE layout (CPUID leaf 0xD), recorded with the ptrace register truth. */
  cpu?: CpuTruth;
  /** For checkpoints made in an emulated machine (the arm64 fixtures): what that machine was. */
  guest?: GuestTruth;
}

export interface GuestTruth {
  /** `uname -m` in the guest, e.g. `aarch64`. */
  machine: string;
  /** The guest kernel's page size in bytes. */
  pageSize: number;
  /** The Debian package of the guest kernel. */
  kernelPackage: string;
  /** Seconds from the kernel's start to the guest's init script. */
  bootSeconds: number;
  /** How the guest was run. */
  emulator: string;
}

export interface CpuTruth {
  /** XCR0 of the CPU (hex). */
  xcr0: string;
  /** Offset and size of each enabled XSAVE component above SSE, by component number. */
  components: Record<string, { offset: number; size: number }>;
}

export interface ProgramTruth {
  /** Source file, relative to the repository root. */
  source: string;
  /** Path of the binary as the processes ran it (what /proc/PID/exe showed). */
  binary: string;
  /** The gcc command line (arguments after `gcc`), with paths as they were. */
  compile: string[];
  /** ELF type of the binary: `exec` (ET_EXEC, fixed address) or `dyn` (ET_DYN: PIE or static-pie). */
  elfType: 'exec' | 'dyn';
  /** True when the binary has no PT_INTERP (static or static-pie). */
  static: boolean;
  buildId: string | null;
  sha256: string;
  /** argv[1..] the program was started with. */
  args: string[];
}

export interface CriuRunTruth {
  /** First line of `criu --version`, e.g. `Version: 4.2.1`. */
  version: string;
  /** The dump command's arguments after `criu`. */
  command: string[];
  /** Images directory, relative to the checkpoint directory (`images` or, in fixtures, `checkpoint`). */
  imagesDir: string;
  durationMs: number;
  /** Lines of the dump log that contain `Error (` (every dump logs a harmless RLIMIT_NOFILE one). */
  logErrors: string[];
  /** Lines of the dump log that contain `Warn (`. */
  logWarnings: string[];
}

export interface IncrementalTruth {
  /** Pre-dump images, relative to the checkpoint directory (`pre`); images/parent links to `../pre`. */
  preDumpDir: string;
  preDumpCommand: string[];
  preDumpLogErrors: string[];
}

export interface ProcessTruth {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** /proc/PID/comm without the newline. */
  comm: string;
  /** readlink /proc/PID/exe. */
  exe: string;
  cmdline: string[];
  /** `NAME=value` strings in the order of /proc/PID/environ. */
  environ: string[];
  cwd: string;
  root: string;
  /** State letter from /proc/PID/stat when the truth was taken: `T` (stopped). */
  state: string;
  /** State letter right before SIGSTOP (usually `S`). */
  stateBeforeStop: string;
  uid: number[];
  gid: number[];
  /** SigBlk, SigIgn, SigCgt of /proc/PID/status (hex masks as printed there, with 0x). */
  signals: { blocked: string; ignored: string; caught: string };
  threads: ThreadTruth[];
  maps: MappingTruth[];
  fds: FdTruth[];
  auxv: AuxvEntry[];
  /** Files mapped by the process (unique paths that still exist), with their hashes. */
  mappedFiles: MappedFileTruth[];
  /** Load base of the main executable: 0x0 for ET_EXEC. */
  loadBase: string;
  /** Symbols of the main executable whose names occur in the program's source. */
  symbols: SymbolTruth[];
  /** Values the program itself reported (`fact PID key value` lines on its stdout). */
  facts: Record<string, string>;
  /** What the system's gdb showed attached to the process. */
  gdb: GdbTruth;
  /** What each other installed gdb showed (test/helpers/gdb-versions.ts), by major version. */
  otherGdbs?: Record<string, GdbTruth>;
}

export interface ThreadTruth {
  tid: number;
  /** /proc/PID/task/TID/comm without the newline (the thread name). */
  name: string;
  /** State letter at truth time (`T`). */
  state: string;
  /** /proc/PID/task/TID/syscall as read while stopped: `nr arg1 .. arg6 sp pc` (hex), or `running`. */
  syscall: string;
  /**
   * From gdb (`info registers general fs_base gs_base orig_rax` in this thread): register name -> raw value
   * (hex), e.g. rax, rip, eflags, k0 (with AVX-512), fs_base, orig_rax.
   */
  registers: Record<string, string>;
  /** The thread's XSAVE area read with ptrace and decoded with CPUID's offsets (see helpers/registers.ts). */
  xstate?: XstateTruth;
  /**
   * aarch64: the registers ptrace gave (NT_PRSTATUS x0-x30, sp, pc, pstate; NT_FPREGSET v0-v31 as 16 bytes in
   * memory order, fpsr, fpcr; NT_ARM_TLS tpidr and tpidr2), name -> hex.
   */
  ptraceRegisters?: Record<string, string>;
}

export interface XstateTruth {
  /** XCR0 as the kernel wrote it into the area (hex). */
  xcr0: string;
  /** XSTATE_BV of the area (hex): components not in their initial state. */
  xstateBv: string;
  /** xmmN, ymmN, zmmN, kN and pkru as little-endian hex bytes (memory order). */
  registers: Record<string, string>;
}

export interface MappingTruth {
  start: string;
  end: string;
  /** e.g. `r-xp`. */
  perms: string;
  offset: string;
  /** `major:minor` as printed in maps. */
  dev: string;
  inode: number;
  /** Path or pseudo name (`[heap]`, `[stack]`, `[vdso]`, `/memfd:x (deleted)`), empty for anonymous. */
  name: string;
  memory: MemoryTruth;
}

/** A half-open address range [start, end). */
export interface AddressRange {
  start: string;
  end: string;
}

/**
 * What is known of a mapping's contents, read from /proc/PID/mem.
 * `bytes`: the contents are in `file` (relative to the directory holding truth.json), sparse where zero.
 * `sha256`: only the hash is kept (fixtures, to stay small).
 * In both, pages listed in `unreadable` could not be read (they are zeros in the file and the hash).
 */
export type MemoryTruth =
  | { kind: 'bytes'; file: string; size: number; sha256: string; unreadable: AddressRange[] }
  | { kind: 'sha256'; size: number; sha256: string; unreadable: AddressRange[] }
  | { kind: 'unreadable'; reason: string }
  | { kind: 'skipped'; reason: string };

export interface FdTruth {
  fd: number;
  /** readlink /proc/PID/fd/N, e.g. `/dev/null`, `pipe:[1234]`, `socket:[5678]`, `anon_inode:[eventfd]`. */
  target: string;
  /** `pos` from fdinfo. */
  pos: number;
  /** `flags` from fdinfo (octal string as printed there). */
  flags: string;
  /** The whole /proc/PID/fdinfo/N text. */
  fdinfo: string;
}

export interface AuxvEntry {
  type: number;
  /** AT_* name when known, else `AT_<type>`. */
  name: string;
  value: string;
}

export interface MappedFileTruth {
  path: string;
  size: number;
  sha256: string;
  buildId: string | null;
}

export interface SymbolTruth {
  name: string;
  /** nm's type letter (T, t, D, d, B, b, R, r, ...). */
  type: string;
  /** Run-time address: link address plus load base. */
  address: string;
  linkAddress: string;
  /** Size from nm (0 when nm gave none). */
  size: number;
  /** Hex bytes at the run-time address for data symbols (types D d B b R r) of 1..4096 bytes. */
  bytes?: string;
}

export interface GdbTruth {
  /** gdb's arguments after `gdb`. */
  command: string[];
  /** Output of `info threads`. */
  infoThreads: string;
  /** Output of `thread apply all bt`. */
  backtraces: string;
  /** Output of `thread apply all bt full` (with locals). */
  backtracesFull: string;
  /** Output of `info all-registers` for gdb's current thread (the thread-group leader). */
  allRegisters: string;
  /** Everything gdb printed on stderr. */
  stderr: string;
  /** First line of `gdb --version`. */
  version?: string;
  /** Output of the program's extra gdb commands (e.g. `p g_vec`, `py-bt`), by command. */
  probes?: Record<string, string>;
  /** For gdbs other than the system's: each thread's `info registers general fs_base gs_base orig_rax`, by tid. */
  threadRegisters?: Record<string, Record<string, string>>;
}

/** Parses a truth hex string (`0x...`) or a bare hex string into a bigint. */
export function parseAddress(value: string): bigint {
  const text = value.startsWith('0x') || value.startsWith('0X') ? value.slice(2) : value;
  if (!/^[0-9a-fA-F]+$/.test(text)) throw new Error(`not a hex address: ${JSON.stringify(value)}`);
  return BigInt(`0x${text}`);
}

/** Formats an address the way truth files do: `0x` and lowercase hex. */
export function formatAddress(value: bigint | number): string {
  return `0x${BigInt(value).toString(16)}`;
}
