/**
 * The JSON-RPC 2.0 protocol between the gdb plugin and the helper (`node dist/src/rpc/main.js`), carried over
 * the helper's stdin and stdout with `Content-Length` framing.
 *
 * Requests (client → helper):
 * - `ping` → {@link PingResult}
 * - `open` {@link OpenParams} → {@link OpenResult}: opens a checkpoint and serves every process on its own
 *   Unix socket in a private directory (replaces a checkpoint already open)
 * - `view` {@link ViewParams} → {@link ViewResult}: the text (or JSON text) of `criu-gdb ps|fds|maps|info`
 * - `search` {@link SearchParams} → {@link SearchResultMessage}
 * - `coredump` {@link CoredumpParams} → {@link CoredumpResultMessage}: writes ELF core files of the served
 *   processes (long work: `progress` notifications are sent while it runs)
 * - `close` → {@link CloseResult}: stops the servers, removes the sockets and the directory
 * - `shutdown` → null: like close; the helper then exits on the `exit` notification, on stdin EOF, or soon after
 *
 * Notifications: `exit` (client → helper) makes the helper clean up and exit; `progress` {@link ProgressParams}
 * (helper → client) reports long work.
 *
 * Errors: every failure is a JSON-RPC error with a one-line `message`. A {@link CriuGdbError}'s message is
 * passed verbatim with code {@link RpcErrorCode.checkpoint}; bad parameters get `-32602`.
 */
import type { SearchMatchRecord } from '../cli/commands/search.js';

/** JSON-RPC error codes the helper uses. */
export const RpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** A CriuGdbError: damaged image, missing directory, unknown pid... (the message is the error's). */
  checkpoint: -32001,
  /** `view`/`search` before `open`. */
  notOpen: -32002,
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
}

/** One served process. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  exe: string | null;
  threads: Array<{ tid: number; name: string }>;
  /** Unix socket for `target remote`. */
  socket: string;
}

/** Result of `open`. */
export interface OpenResult {
  /** In tree order (parents first). */
  processes: ProcessInfo[];
  /** The private directory holding the sockets (mode 0700; sockets 0600). */
  directory: string;
  /** Non-fatal problems, one line each. */
  warnings: string[];
}

/** The views `view` renders. */
export const VIEW_NAMES = ['ps', 'fds', 'maps', 'info'] as const;
/** A view name. */
export type ViewName = (typeof VIEW_NAMES)[number];

/** Parameters of `view`. */
export interface ViewParams {
  name: ViewName;
  /** For `fds` and `maps`: only this process (default: every process). */
  pid?: number | undefined;
  /** JSON text instead of the table. */
  json?: boolean | undefined;
}

/** Result of `view`. */
export interface ViewResult {
  text: string;
}

/** Parameters of `search`. */
export interface SearchParams {
  /** The string to find (UTF-8), hex bytes when `hex` is true, or a regular expression when `regex` is. */
  pattern: string;
  hex?: boolean | undefined;
  /** The pattern is a regular expression over the bytes (see compileByteRegex). */
  regex?: boolean | undefined;
  /** With `regex`: letters match in either case. */
  ignoreCase?: boolean | undefined;
  /** Only this process (default: every process). */
  pid?: number | undefined;
  /** Most matches (default 100). */
  limit?: number | undefined;
  /** Bytes of context on each side (default 16). */
  context?: number | undefined;
}

/** Result of `search`. */
export interface SearchResultMessage {
  matches: SearchMatchRecord[];
  /** Whether the limit stopped the search. */
  truncated: boolean;
  /** The matches as `criu-gdb search` prints them. */
  text: string;
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
