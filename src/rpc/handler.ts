/**
 * The helper's request handling: parameter validation, dispatch to the {@link Session}, and the mapping of
 * every failure to a one-line JSON-RPC error. Kept free of heavy imports so that `ping` answers fast; the
 * model, the views and the remote-protocol server are loaded on first use.
 */
import { readFileSync } from 'node:fs';
import { ResponseError } from './json-rpc.js';
import { CancelledError, CriuGdbError, UsageError } from '../errors.js';
import {
  RpcErrorCode,
  type CloseResult,
  type CommandsResult,
  type CoredumpParams,
  type CoredumpResultMessage,
  type OpenParams,
  type PingResult,
  type RunParams,
} from './protocol.js';
import type { Session } from './session.js';
import { escapeControls } from '../views/format.js';

type Params = Record<string, unknown>;

function invalid(message: string): ResponseError<undefined> {
  return new ResponseError(RpcErrorCode.invalidParams, message);
}

/** The params object of a request (absent params count as `{}`); positional params are refused. */
function paramsObject(method: string, params: unknown): Params {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) throw invalid(`${method}: params must be an object with named members`);
  return params as Params;
}

function allowOnly(method: string, params: Params, names: readonly string[]): void {
  for (const key of Object.keys(params)) if (!names.includes(key)) throw invalid(`${method}: unknown parameter '${key}'`);
}

function optionalString(method: string, params: Params, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${method}: '${name}' must be a string`);
  return value;
}

function requiredString(method: string, params: Params, name: string): string {
  const value = optionalString(method, params, name);
  if (value === undefined || value === '') throw invalid(`${method}: '${name}' is required (a non-empty string)`);
  return value;
}

function optionalInteger(method: string, params: Params, name: string, min: number, max: number): number | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${method}: '${name}' must be an integer from ${min} to ${max}`);
  }
  return value;
}

function optionalBoolean(method: string, params: Params, name: string): boolean | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${method}: '${name}' must be true or false`);
  return value;
}

const MAX_PID = 2 ** 31 - 1;

/** Validates `open` params. */
export function parseOpenParams(params: unknown): OpenParams {
  const p = paramsObject('open', params);
  allowOnly('open', p, ['path', 'root', 'pid', 'remoteFiles', 'buildIdDirs']);
  const dirs = p['buildIdDirs'];
  if (dirs !== undefined && dirs !== null && (!Array.isArray(dirs) || !dirs.every((dir): dir is string => typeof dir === 'string' && dir.startsWith('/')))) {
    throw invalid("open: 'buildIdDirs' must be an array of absolute paths");
  }
  return {
    path: requiredString('open', p, 'path'),
    root: optionalString('open', p, 'root'),
    pid: optionalInteger('open', p, 'pid', 1, MAX_PID),
    remoteFiles: optionalBoolean('open', p, 'remoteFiles'),
    buildIdDirs: Array.isArray(dirs) ? dirs : undefined,
  };
}

/** Validates `run` params. */
export function parseRunParams(params: unknown): RunParams {
  const p = paramsObject('run', params);
  allowOnly('run', p, ['argv', 'pid']);
  const argv = p['argv'];
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((word): word is string => typeof word === 'string')) {
    throw invalid("run: 'argv' is required (a non-empty array of strings)");
  }
  return { argv, pid: optionalInteger('run', p, 'pid', 1, MAX_PID) };
}

/** Validates `coredump` params: the directory must be absolute (the helper's working directory is not gdb's). */
export function parseCoredumpParams(params: unknown): CoredumpParams {
  const p = paramsObject('coredump', params);
  allowOnly('coredump', p, ['directory', 'pid']);
  const directory = requiredString('coredump', p, 'directory');
  if (!directory.startsWith('/')) throw invalid("coredump: 'directory' must be an absolute path");
  return { directory, pid: optionalInteger('coredump', p, 'pid', 1, MAX_PID) };
}

/** A failure as a one-line JSON-RPC error: CriuGdbError messages verbatim. */
export function toResponseError(error: unknown): ResponseError<{ kind: string } | undefined> {
  if (error instanceof ResponseError) return error as ResponseError<undefined>;
  if (error instanceof CancelledError) return new ResponseError(RpcErrorCode.requestCancelled, 'cancelled', { kind: error.name });
  if (error instanceof CriuGdbError) {
    return new ResponseError(error instanceof UsageError ? RpcErrorCode.invalidParams : RpcErrorCode.checkpoint, oneLine(error.message), { kind: error.name });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ResponseError(RpcErrorCode.internal, `internal error: ${oneLine(message)}`);
}

function oneLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return escapeControls(line.trim());
}

/**
 * The one place where the lines the helper sends gdb to print as they are get made safe for a terminal:
 * warnings and notes carry names from the images (paths, thread names), so their control characters are
 * escaped (`\x1b`). Error messages are escaped by {@link toResponseError}; the text of views is escaped by
 * the views (and JSON is kept exact).
 */
export function escapedForGdb<T>(result: T): T {
  if (typeof result !== 'object' || result === null) return result;
  const record = result as Record<string, unknown>;
  const escaped: Record<string, unknown> = { ...record };
  if (Array.isArray(record['warnings'])) escaped['warnings'] = record['warnings'].map((line) => (typeof line === 'string' ? escapeControls(line) : line));
  const files = record['files'];
  if (typeof files === 'object' && files !== null && Array.isArray((files as { notes?: unknown }).notes)) {
    escaped['files'] = { ...files, notes: (files as { notes: unknown[] }).notes.map((line) => (typeof line === 'string' ? escapeControls(line) : line)) };
  }
  return escaped as T;
}

/**
 * The commands gdb offers as `criu NAME`, from the views (loaded on first use). The build also writes this
 * list to dist/gdb-commands.json, so that sourcing the plugin need not start a helper to ask for it, and the
 * built helper answers `commands` from there ({@link builtCommandList}).
 */
export async function commandList(): Promise<CommandsResult> {
  const [{ gdbViews }, { gdbHelp }] = await Promise.all([import('../views/index.js'), import('../views/view.js')]);
  return {
    commands: gdbViews.map((view) => ({
      name: view.name,
      help: gdbHelp(view),
      options: view.options.map(({ name, value }) => ({ name, value })),
      perProcess: view.perProcess,
      ...(view.pathOperands ? { pathOperands: true } : {}),
    })),
  };
}

/** Where the build writes {@link commandList}'s answer: dist/gdb-commands.json, beside the compiled dist/src/. */
const BUILT_COMMAND_LIST = new URL('../../gdb-commands.json', import.meta.url);

let builtList: CommandsResult | undefined;

/**
 * {@link commandList}'s answer as the build wrote it, so that answering `commands` loads no view; absent when
 * this helper was not built (it runs from src/) or the file cannot be read.
 */
export function builtCommandList(): CommandsResult | undefined {
  if (builtList) return builtList;
  try {
    const parsed: unknown = JSON.parse(readFileSync(BUILT_COMMAND_LIST, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'commands' in parsed && Array.isArray(parsed.commands)) builtList = parsed as CommandsResult;
  } catch {
    // Not built: the views say it.
  }
  return builtList;
}

/** What the handler needs from its host (main.ts, or a test). */
export interface HelperHost {
  /** Sends a `progress` notification. */
  progress(message: string): Promise<void>;
  /** Called after `shutdown` has been answered. */
  shutdownRequested(): void;
  /** criu-gdb's version, for `ping`. */
  version: string;
}

/** Dispatches the helper's requests; owns the current session. */
export class HelperHandler {
  private session: Session | undefined;
  private opening: Promise<unknown> = Promise.resolve();
  /** Cancels the open in progress (its downloads too), when there is one. */
  private openInProgress: AbortController | undefined;

  constructor(private readonly host: HelperHost) {}

  /** The open session, if any. */
  get current(): Session | undefined {
    return this.session;
  }

  /** Handles one request; throws a ResponseError on failure. `signal` cancels a long request (run, coredump). */
  async request(method: string, params: unknown, signal?: AbortSignal): Promise<unknown> {
    try {
      switch (method) {
        case 'ping': {
          paramsObject('ping', params);
          const result: PingResult = { pid: process.pid, version: this.host.version };
          return result;
        }
        case 'open':
          return escapedForGdb(await this.open(parseOpenParams(params)));
        case 'commands':
          paramsObject('commands', params);
          return builtCommandList() ?? (await commandList());
        case 'run': {
          const run = parseRunParams(params);
          return escapedForGdb(await this.requireSession('run').run(run, signal));
        }
        case 'coredump':
          return escapedForGdb(await this.coredump(parseCoredumpParams(params), signal));
        case 'close': {
          paramsObject('close', params);
          const result: CloseResult = { closed: await this.close() };
          return result;
        }
        case 'shutdown':
          paramsObject('shutdown', params);
          await this.close();
          setImmediate(() => this.host.shutdownRequested());
          return null;
        default:
          throw new ResponseError(RpcErrorCode.methodNotFound, `unknown method '${method}'`);
      }
    } catch (error) {
      throw toResponseError(error);
    }
  }

  private requireSession(method: string): Session {
    if (!this.session) throw new ResponseError(RpcErrorCode.notOpen, `${method}: no checkpoint is open (call open first)`);
    return this.session;
  }

  /** Writes the cores of the served processes (or of `params.pid`), reporting progress about once a second. */
  private async coredump(params: CoredumpParams, signal?: AbortSignal): Promise<CoredumpResultMessage> {
    const session = this.requireSession('coredump');
    const served = session.processes.map((p) => p.pid);
    if (params.pid !== undefined && !served.includes(params.pid)) {
      throw new ResponseError(RpcErrorCode.invalidParams, `coredump: pid ${params.pid} is not served by this session (it serves ${served.join(', ')})`);
    }
    const { exportCores, formatReports } = await import('../export/coredump.js');
    const checkpoint = session.checkpoint;
    const knownWarnings = checkpoint.warnings.length;
    let lastReport = Date.now();
    const reports = await exportCores(checkpoint, { outDir: params.directory, pids: params.pid === undefined ? served : [params.pid] }, async (progress) => {
      if (Date.now() - lastReport < 1000) return;
      lastReport = Date.now();
      const percent = progress.total > 0n ? Number((progress.done * 100n) / progress.total) : 100;
      await this.host.progress(`core.${progress.pid} (${progress.index}/${progress.count}): ${percent}%`);
    }, signal);
    return {
      cores: reports.map((r) => ({
        pid: r.pid,
        path: r.path,
        segments: r.segments,
        memoryBytes: Number(r.memoryBytes),
        unavailableBytes: Number(r.unavailableBytes),
        apparentBytes: Number(r.apparentBytes),
        allocatedBytes: Number(r.allocatedBytes),
      })),
      text: escapeControls(formatReports(reports), '\n'),
      warnings: checkpoint.warnings.slice(knownWarnings),
    };
  }

  private async open(params: OpenParams): Promise<unknown> {
    // Opens are serialized, so a second open waits for the first and then replaces it.
    const run = this.opening.then(async () => {
      await this.close();
      const { Session } = await import('./session.js');
      const abort = new AbortController();
      this.openInProgress = abort;
      try {
        this.session = await Session.open(params, (message) => this.host.progress(message), abort.signal);
      } finally {
        if (this.openInProgress === abort) this.openInProgress = undefined;
      }
      return this.session.result();
    });
    this.opening = run.catch(() => undefined);
    return run;
  }

  /** Closes the session, if one is open; returns whether one was. */
  async close(): Promise<boolean> {
    // `close`, `shutdown` and the helper's exit stop an open in progress (Ctrl-C in gdb stops the helper).
    this.openInProgress?.abort();
    const session = this.session;
    this.session = undefined;
    if (!session) return false;
    await session.close();
    return true;
  }

  /** Synchronous last-resort cleanup: removes the socket directory. */
  removeNow(): void {
    this.session?.removeNow();
  }
}
