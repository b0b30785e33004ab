/**
 * One open checkpoint in the helper: the model, one remote-protocol server per process, and the private
 * directory that holds their sockets.
 */
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { CheckpointError, CriuGdbError } from '../errors.js';
import { forgetOnDeath, removeOnDeath } from '../reaper.js';
import { Checkpoint } from '../model/checkpoint.js';
import { debuginfodSettings, prepareFileRoute, type FileRoute } from '../model/file-route.js';
import { serveProcess, type ProcessServer } from '../rsp/server.js';
import { gdbArchitectureOf } from '../rsp/target-description.js';
import { treeOrder } from '../views/ps.js';
import { runStepsAsync } from '../steps.js';
import type { OpenParams, OpenResult, ProcessInfo, RunParams, RunResult } from './protocol.js';

/** Longest Unix socket path (sun_path is 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 107;

function usableDirectory(path: string | undefined): path is string {
  if (!path || !isAbsolute(path)) return false;
  try {
    if (!statSync(path).isDirectory()) return false;
    accessSync(path, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the private socket directory (mode 0700): under $XDG_RUNTIME_DIR when it is set and usable, else
 * under the system temporary directory, in either case only where the socket paths fit in sun_path.
 */
export function makeSessionDirectory(longestName: string): string {
  const candidates = [process.env['XDG_RUNTIME_DIR'], tmpdir(), '/tmp'];
  const problems: string[] = [];
  for (const base of candidates) {
    if (!usableDirectory(base)) continue;
    // mkdtemp appends 6 characters to the prefix.
    if (join(base, 'criu-gdb-XXXXXX', longestName).length > MAX_SOCKET_PATH) {
      problems.push(`${base}: path too long for a Unix socket`);
      continue;
    }
    try {
      const dir = mkdtempSync(join(base, 'criu-gdb-'));
      chmodSync(dir, 0o700);
      removeOnDeath(dir);
      return dir;
    } catch (error) {
      problems.push(`${base}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new CriuGdbError(`cannot create a private socket directory (${problems.join('; ') || 'no usable temporary directory'})`);
}

/** An open checkpoint with its servers. */
export class Session {
  private closed = false;

  private constructor(
    readonly checkpoint: Checkpoint,
    /** The private directory of the sockets. */
    readonly directory: string,
    private readonly servers: ProcessServer[],
    readonly processes: ProcessInfo[],
    /** How gdb gets the files. */
    readonly files: FileRoute,
    private readonly cancel: AbortController,
  ) {}

  /**
   * Opens `params.path` and serves every process (or `params.pid`). On failure everything started so far
   * is stopped and removed before the error is thrown. `signal` cancels the open (downloads included).
   */
  static async open(params: OpenParams, progress: (message: string) => Promise<void>, signal?: AbortSignal): Promise<Session> {
    const checkpoint = Checkpoint.open(params.path, { root: params.root });
    let directory: string | undefined;
    const servers: ProcessServer[] = [];
    const cancel = new AbortController();
    const onAbort = (): void => cancel.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const selected = params.pid === undefined ? treeOrder(checkpoint).map((o) => o.process) : [checkpoint.process(params.pid)];
      directory = makeSessionDirectory(`${selected.reduce((most, p) => Math.max(most, p.pid), 0)}.sock`);
      // Before any memory is read: a file found by build-id also serves the pages of its mappings.
      checkpoint.mappedFiles();
      const files = await prepareFileRoute(checkpoint, directory, {
        remote: params.remoteFiles,
        debuginfod: debuginfodSettings(process.env, params.buildIdDirs ?? []),
        signal: cancel.signal,
        progress: (message) => void progress(message),
      });
      const processes: ProcessInfo[] = [];
      for (const [index, process] of selected.entries()) {
        if (process.state === 'dead' || process.state === 'zombie') {
          checkpoint.warn(`pid ${process.pid} is a zombie: it has no threads or memory to debug`);
          continue;
        }
        if (selected.length > 1) await progress(`serving pid ${process.pid} (${index + 1}/${selected.length})`);
        // A damaged pagemap is told now, in the open's warnings, rather than when gdb first reads memory.
        checkpoint.tolerate(() => process.memory().checkPagemap());
        const socket = join(directory, `${process.pid}.sock`);
        const server = await serveProcess(checkpoint, process.pid, socket);
        servers.push(server);
        chmodSync(socket, 0o600);
        processes.push({
          pid: process.pid,
          ppid: process.ppid,
          comm: process.comm,
          exe: checkpoint.tolerate(() => process.exe()) ?? null,
          threads: process.threads().map(({ tid, name }) => ({ tid, name })),
          architecture: gdbArchitectureOf(process.arch),
          socket,
          cacheableRanges: cacheableRanges(process.mappings()),
        });
      }
      if (processes.length === 0) throw new CheckpointError(`${params.path}: no process of this checkpoint can be debugged (${checkpoint.warnings.join('; ')})`);
      if (cancel.signal.aborted) throw new CriuGdbError(`${params.path}: open cancelled`);
      return new Session(checkpoint, directory, servers, processes, files, cancel);
    } catch (error) {
      cancel.abort();
      await Promise.allSettled(servers.map((s) => s.close()));
      if (directory) {
        rmSync(directory, { recursive: true, force: true });
        forgetOnDeath(directory);
      }
      checkpoint.close();
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** What `open` returns. */
  result(): OpenResult {
    return { processes: this.processes, directory: this.directory, files: this.files, warnings: [...this.checkpoint.warnings] };
  }

  /**
   * Runs a `criu NAME ...` command on this session's own open checkpoint, as the CLI runs it on a fresh one;
   * `params.pid` is the default process of per-process views. Returns the text and the warnings raised
   * while rendering. Long views (search) run in short slices, so that gdb's remote-protocol requests are
   * answered meanwhile; `signal` stops them (a CancelledError). The views are loaded on the first run.
   */
  async run(params: RunParams, signal?: AbortSignal): Promise<RunResult> {
    const [{ parseArgs }, { findView, gdbViews }, { viewOperands }] = await Promise.all([
      import('../views/args.js'),
      import('../views/index.js'),
      import('../views/view.js'),
    ]);
    const [name = '', ...argv] = params.argv;
    const view = findView(name, gdbViews);
    const args = parseArgs(argv, view.options);
    const known = new Set(this.checkpoint.warnings);
    const defaultPid = view.perProcess ? params.pid : undefined;
    const text = await runStepsAsync(view.renderSteps(this.checkpoint, { operands: viewOperands(view, args.positionals, true), args, defaultPid }), { signal });
    return { text, warnings: this.checkpoint.warnings.filter((warning) => !known.has(warning)) };
  }

  /** Stops the servers, removes the sockets and the directory, closes the checkpoint. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancel.abort();
    await Promise.allSettled(this.servers.map((s) => s.close()));
    this.removeNow();
    this.checkpoint.close();
  }

  /** Removes the directory and its sockets at once, synchronously (for process exit). */
  removeNow(): void {
    try {
      rmSync(this.directory, { recursive: true, force: true });
      forgetOnDeath(this.directory);
    } catch {
      // Nothing more can be done while exiting.
    }
  }
}

/** Mappings larger than this are left out of gdb's cache: bulk reads are where they are read, and the cache slows those. */
export const LARGEST_CACHED_MAPPING = 64n * 1024n * 1024n;

/** The ranges of the mappings up to {@link LARGEST_CACHED_MAPPING}, adjacent ones merged, in address order, as hex pairs. */
function cacheableRanges(mappings: ReadonlyArray<{ start: bigint; end: bigint }>): Array<[string, string]> {
  const sorted = mappings.filter((m) => m.end - m.start <= LARGEST_CACHED_MAPPING).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const merged: Array<{ start: bigint; end: bigint }> = [];
  for (const { start, end } of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last.end) last.end = end > last.end ? end : last.end;
    else merged.push({ start, end });
  }
  return merged.map(({ start, end }) => [`0x${start.toString(16)}`, `0x${end.toString(16)}`]);
}
