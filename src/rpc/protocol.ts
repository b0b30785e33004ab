/**
 * The JSON-RPC 2.0 protocol between the gdb plugin and the helper (`node dist/src/rpc/main.js`), carried over
 * the helper's stdin and stdout with `Content-Length` framing.
 *
 * Requests (client → helper):
 * - `ping` → {@link PingResult}
 * - `open` {@link OpenParams} → {@link OpenResult}: opens a checkpoint and serves every process on its own
 *   Unix socket in a private directory (replaces a checkpoint already open)
 * - `commands` → {@link CommandsResult}: the commands gdb offers as `criu NAME` (ps, fds, maps, info, search),
 *   with their help and options; the plugin registers them from this list
 * - `run` {@link RunParams} → {@link RunResult}: runs one of them on the open checkpoint, as the CLI would
 * - `coredump` {@link CoredumpParams} → {@link CoredumpResultMessage}: writes ELF core files of the served
 *   processes (long work: `progress` notifications are sent while it runs)
 * - `close` → {@link CloseResult}: stops the servers, removes the sockets and the directory
 * - `shutdown` → null: like close; the helper then exits on the `exit` notification, on stdin EOF, or soon after
 *
 * Notifications: `exit` (client → helper) makes the helper clean up and exit; `progress` {@link ProgressParams}
 * (helper → client) reports long work.
 *
 * Cancellation: `$/cancelRequest` {id} stops a `run` or `coredump` in progress; it then fails with
 * {@link RpcErrorCode.requestCancelled}. Long requests run in short slices, so the remote-protocol sockets
 * are answered while they run.
 *
 * Errors: every failure is a JSON-RPC error with a one-line `message`. A {@link CriuGdbError}'s message is
 * passed verbatim with code {@link RpcErrorCode.checkpoint}; bad parameters get `-32602`.
 */

/** JSON-RPC error codes the helper uses. */
export const RpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** A CriuGdbError: damaged image, missing directory, unknown pid... (the message is the error's). */
  checkpoint: -32001,
  /** `run` before `open`. */
  notOpen: -32002,
  /** The client cancelled the request (`$/cancelRequest`); its work was stopped. */
  requestCancelled: -32800,
} as const;

/** Result of `ping`. */
export interface PingResult {
  /** The helper's pid. */
  pid: number;
  /** criu-gdb's version. */
  version: string;
}

/** Parameters of `open`. */
export interface OpenParams {
  /** The CRIU images directory. */
  path: string;
  /** Where the processes' files live (default `/`). */
  root?: string | undefined;
  /** Serve only this process (default: every process). */
  pid?: number | undefined;
  /** Give gdb every file through vFile (sysroot `target:`) instead of local files. */
  remoteFiles?: boolean | undefined;
  /** Directories with a `.build-id` tree, searched for files that do not match, before debuginfod. */
  buildIdDirs?: string[] | undefined;
}

/** One served process. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  exe: string | null;
  threads: Array<{ tid: number; name: string }>;
  /** gdb's name of the process's architecture (`i386:x86-64`, `aarch64`): the gdb must support it. */
  architecture: string;
  /** Unix socket for `target remote`. */
  socket: string;
  /**
   * Address ranges gdb may cache, as [start, end) hex pairs in address order: the process's mappings
   * (adjacent ones merged) except very large ones, since gdb's cache reads byte by byte and in line-sized
   * round trips, which makes bulk reads slower. A checkpoint's memory never changes.
   */
  cacheableRanges: Array<[string, string]>;
}

/** Result of `open`. */
export interface OpenResult {
  /** In tree order (parents first). */
  processes: ProcessInfo[];
  /** The private directory holding the sockets (mode 0700; sockets 0600). */
  directory: string;
  /**
   * How gdb gets the executables and libraries: the `sysroot` the plugin sets for the session (and restores
   * after): `/` (local files, the processes' own paths), a private view directory of checked files, or
   * `target:` (vFile). `notes` are lines for the user.
   */
  files: { route: 'local' | 'view' | 'remote'; sysroot: string; notes: string[] };
  /** Non-fatal problems, one line each. */
  warnings: string[];
}

/** One command of `commands`: a view gdb offers as `criu NAME`. */
export interface CommandInfo {
  name: string;
  /** gdb's help text: the summary line, then usage, description and options. */
  help: string;
  /** Its options, for completion: the name without dashes, and whether it takes a value. */
  options: Array<{ name: string; value: boolean }>;
  /** Whether the current inferior's process is the default (the plugin then sends its pid). */
  perProcess: boolean;
  /** Whether its operands are file names, which the plugin makes absolute (gdb's `cd` does not move the helper). */
  pathOperands?: boolean;
}

/** Result of `commands`. */
export interface CommandsResult {
  commands: CommandInfo[];
}

/** Parameters of `run`. */
export interface RunParams {
  /** The command name and its arguments as the user typed them after `criu`, e.g. `["maps", "--json"]`. */
  argv: string[];
  /** The checkpoint pid of gdb's current inferior, the default of per-process commands. */
  pid?: number | undefined;
}

/** Result of `run`. */
export interface RunResult {
  /** What the command prints. */
  text: string;
  /** Non-fatal problems found while rendering, one line each. */
  warnings: string[];
}

/** Parameters of `coredump`. */
export interface CoredumpParams {
  /** Absolute path of the directory for the `core.PID` files (created when missing). */
  directory: string;
  /** Only this process (default: every process the session serves). */
  pid?: number | undefined;
}

/** One core file `coredump` wrote. Byte counts are numbers (exact below 2^53). */
export interface CoreFileRecord {
  pid: number;
  path: string;
  segments: number;
  /** Memory in the core (sum of the PT_LOAD sizes). */
  memoryBytes: number;
  /** Memory the checkpoint does not hold, left out of the core. */
  unavailableBytes: number;
  /** File size. */
  apparentBytes: number;
  /** Disk space the (sparse) file takes. */
  allocatedBytes: number;
}

/** Result of `coredump`. */
export interface CoredumpResultMessage {
  cores: CoreFileRecord[];
  /** The cores as `criu-gdb coredump` prints them. */
  text: string;
  /** Non-fatal problems found while exporting, one line each. */
  warnings: string[];
}

/** Result of `close`. */
export interface CloseResult {
  /** Whether a checkpoint was open. */
  closed: boolean;
}

/** Parameters of the `progress` notification. */
export interface ProgressParams {
  message: string;
}
