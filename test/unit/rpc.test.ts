/**
 * The criu-gdb helper (src/rpc/main.ts) as the gdb plugin sees it: a child process speaking JSON-RPC 2.0
 * with Content-Length framing on stdio. Bad requests get JSON-RPC errors; open/view/search/close work on the
 * demo fixture with real Unix sockets; the helper cleans up and exits on EOF, signals and shutdown.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { commandList } from '../../src/rpc/handler.js';
import { loadedModules, moduleLogArgs } from '../helpers/module-log.js';
import { REPO_ROOT, findSymbol, fixtureImagesDir, fixtureRootfs, loadFixtureTruth, rootProcess } from '../helpers/checkpoints.js';

const HELPER = join(REPO_ROOT, 'src', 'rpc', 'main.ts');
/** The helper as the build compiled it, as the gdb plugin starts it. */
const BUILT_HELPER = join(REPO_ROOT, 'dist', 'src', 'rpc', 'main.js');
const demo = fixtureImagesDir('demo');
const demoRoot = fixtureRootfs('demo');
const live = rootProcess(loadFixtureTruth('demo'));

interface RpcError {
  code: number;
  message: string;
}
interface RpcMessage {
  jsonrpc: string;
  id?: number | string | null;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: RpcError;
}

const scratch: string[] = [];
function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}
afterAll(() => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** The helper under test, with a hand-written client for the framing (so malformed input can be sent). */
class RawHelper {
  readonly child: ChildProcessWithoutNullStreams;
  readonly runtimeDir = scratchDir('criu-gdb-rpc-xdg-');
  private buffer = Buffer.alloc(0);
  private readonly queue: RpcMessage[] = [];
  private waiters: Array<() => void> = [];
  private nextId = 1;
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** With a parent: the helper's stdin, a FIFO this test holds open (so the parent's death closes nothing). */
  private readonly input: number | undefined;

  /**
   * With `underParent`, the helper is started by a shell that waits for it (its parent, as gdb is), and
   * `child` is that shell; the helper's pid is then {@link helperPid}. `nodeArgs` replace the default
   * `--import tsx src/rpc/main.ts`.
   */
  constructor(env: Record<string, string> = {}, underParent = false, nodeArgs: readonly string[] = ['--import', 'tsx', HELPER]) {
    let command = [process.execPath, ...nodeArgs];
    if (underParent) {
      const fifo = join(scratchDir('criu-gdb-rpc-fifo-'), 'stdin');
      execFileSync('mkfifo', ['-m', '600', fifo]);
      // Read and write, so that opening it does not wait for the helper.
      this.input = openSync(fifo, 'r+');
      command = ['/bin/sh', '-c', '"$0" --import tsx "$1" <"$2" & echo "$!" >&2; wait', process.execPath, HELPER, fifo];
    }
    this.child = spawn(command[0]!, command.slice(1), {
      cwd: REPO_ROOT,
      env: { ...process.env, XDG_RUNTIME_DIR: this.runtimeDir, ...env },
    });
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const header = this.buffer.subarray(0, end).toString();
      const match = /^Content-Length: (\d+)$/im.exec(header);
      if (!match) throw new Error(`helper wrote a frame without Content-Length: ${header}`);
      const length = Number(match[1]);
      if (this.buffer.length < end + 4 + length) return;
      this.queue.push(JSON.parse(this.buffer.subarray(end + 4, end + 4 + length).toString()) as RpcMessage);
      this.buffer = this.buffer.subarray(end + 4 + length);
      const waiters = this.waiters;
      this.waiters = [];
      waiters.forEach((wake) => wake());
    }
  }

  /** The helper's pid: the child's, or the one its parent shell reported. */
  get helperPid(): number {
    const reported = /^(\d+)$/m.exec(this.stderr);
    return reported ? Number(reported[1]) : this.child.pid!;
  }

  sendRaw(bytes: string | Buffer): void {
    if (this.input === undefined) this.child.stdin.write(bytes);
    else writeSync(this.input, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  }

  /** Closes the helper's FIFO stdin, if it has one. */
  closeInput(): void {
    if (this.input !== undefined) closeSync(this.input);
  }

  send(message: unknown): void {
    const body = Buffer.from(JSON.stringify(message));
    this.sendRaw(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
  }

  /** The next message that is not a notification. */
  async next(): Promise<RpcMessage> {
    for (;;) {
      const index = this.queue.findIndex((m) => m.method === undefined);
      if (index >= 0) return this.queue.splice(index, 1)[0]!;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async call(method: string, params?: unknown): Promise<RpcMessage> {
    const id = this.nextId++;
    this.send(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    const reply = await this.next();
    expect(reply.id).toBe(id);
    return reply;
  }

  async result<T>(method: string, params?: unknown): Promise<T> {
    const reply = await this.call(method, params);
    if (reply.error) throw new Error(`${method} failed: ${reply.error.message}`);
    return reply.result as T;
  }

  async error(method: string, params?: unknown): Promise<RpcError> {
    const reply = await this.call(method, params);
    expect(reply.result).toBeUndefined();
    return reply.error!;
  }
}

interface OpenResult {
  processes: Array<{ pid: number; ppid: number; comm: string; exe: string | null; threads: Array<{ tid: number; name: string }>; socket: string }>;
  directory: string;
  warnings: string[];
}

const helpers: RawHelper[] = [];
function startHelper(env: Record<string, string> = {}, underParent = false, nodeArgs?: readonly string[]): RawHelper {
  const helper = new RawHelper(env, underParent, nodeArgs);
  helpers.push(helper);
  return helper;
}
afterEach(async () => {
  for (const helper of helpers.splice(0)) {
    helper.closeInput();
    if (helper.child.exitCode === null && helper.child.signalCode === null) {
      helper.child.stdin.end();
      await helper.exited;
    }
  }
});

describe('helper requests', () => {
  it('answers ping with its pid and version', async () => {
    const helper = startHelper();
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(await helper.result('ping')).toEqual({ pid: helper.child.pid, version });
  }, 20_000);

  it('turns bad requests into JSON-RPC errors and keeps serving', async () => {
    const helper = startHelper();
    expect(await helper.error('frobnicate')).toMatchObject({ code: -32601, message: "unknown method 'frobnicate'" });
    expect(await helper.error('open', [demo])).toMatchObject({ code: -32602, message: 'open: params must be an object with named members' });
    expect(await helper.error('open', {})).toMatchObject({ code: -32602, message: "open: 'path' is required (a non-empty string)" });
    expect(await helper.error('open', { path: 7 })).toMatchObject({ code: -32602, message: "open: 'path' must be a string" });
    expect(await helper.error('open', { path: demo, pid: 'one' })).toMatchObject({ code: -32602 });
    expect(await helper.error('open', { path: demo, colour: 'red' })).toMatchObject({ code: -32602, message: "open: unknown parameter 'colour'" });
    expect(await helper.error('run', { argv: ['ps'] })).toMatchObject({ code: -32002, message: 'run: no checkpoint is open (call open first)' });
    expect(await helper.error('run', { argv: ['search', 'x'] })).toMatchObject({ code: -32002 });
    expect(await helper.error('run', { argv: [] })).toMatchObject({ code: -32602, message: "run: 'argv' is required (a non-empty array of strings)" });
    expect(await helper.error('run', { argv: ['ps', 3] })).toMatchObject({ code: -32602 });

    // Malformed JSON, a message that is not a request, a batch, a header without Content-Length.
    const body = '{"jsonrpc": "2.0", "id": 9, "method": ';
    helper.sendRaw(`Content-Length: ${body.length}\r\n\r\n${body}`);
    expect(await helper.next()).toMatchObject({ id: null, error: { code: -32700 } });
    helper.send({ jsonrpc: '2.0', id: 10, method: 12 });
    expect(await helper.next()).toMatchObject({ id: 10, error: { code: -32600, message: "invalid request: 'method' must be a string" } });
    helper.send([{ jsonrpc: '2.0', id: 11, method: 'ping' }]);
    expect(await helper.next()).toMatchObject({ id: null, error: { code: -32600, message: 'batch requests are not supported' } });
    helper.sendRaw('X-Nonsense: 1\r\n\r\n');
    expect(await helper.next()).toMatchObject({ id: null, error: { code: -32700 } });

    expect(await helper.result('ping')).toMatchObject({ pid: helper.child.pid });
    expect(helper.stderr).toBe('');
  }, 20_000);

  it('reports a missing directory and a damaged image in one line, verbatim', async () => {
    const helper = startHelper();
    expect(await helper.error('open', { path: '/nonexistent/dump' })).toEqual({
      code: -32001,
      message: '/nonexistent/dump: no such checkpoint directory',
      data: { kind: 'CheckpointError' },
    });
    const damaged = scratchDir('criu-gdb-rpc-damaged-');
    cpSync(demo, damaged, { recursive: true });
    const core = join(damaged, `core-${live.pid}.img`);
    truncateSync(core, statSync(core).size - 10);
    const error = await helper.error('open', { path: damaged, root: demoRoot });
    expect(error.code).toBe(-32001);
    expect(error.message).toMatch(new RegExp(`^core-${live.pid}\\.img: entry of \\d+ bytes runs past the end of the file`));
    expect(error.message).not.toContain('\n');
    expect(await helper.error('open', { path: demo, pid: 999999 })).toMatchObject({ code: -32001, message: `no process 999999 in this checkpoint (it has ${live.pid})` });
    // Nothing is left behind by the failed opens.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readdirSync(helper.runtimeDir)).toEqual([]);
  }, 20_000);
});

/** The live mappings of at most 64 MiB, adjacent ones merged: what gdb may cache. */
function expectedCacheableRanges(): Array<[string, string]> {
  const ranges: Array<[bigint, bigint]> = [];
  const small = live.maps.map((m) => [BigInt(m.start), BigInt(m.end)] as [bigint, bigint]).filter(([start, end]) => end - start <= 64n << 20n);
  for (const [start, end] of small.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const last = ranges[ranges.length - 1];
    if (last && start <= last[1]) last[1] = end > last[1] ? end : last[1];
    else ranges.push([start, end]);
  }
  return ranges.map(([start, end]) => [`0x${start.toString(16)}`, `0x${end.toString(16)}`]);
}

describe('open, commands, run, close on the demo fixture', () => {
  it('serves each process on a private socket and answers views and searches', async () => {
    const helper = startHelper();
    const opened = await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
    expect(opened.processes).toEqual([
      {
        pid: live.pid,
        ppid: expect.any(Number),
        comm: live.comm,
        exe: live.exe,
        threads: live.threads.map((t) => ({ tid: t.tid, name: t.name })),
        // The demo fixture is an x86-64 dump: gdb's name for it.
        architecture: 'i386:x86-64',
        socket: join(opened.directory, `${live.pid}.sock`),
        cacheableRanges: expectedCacheableRanges(),
      },
    ]);
    expect(dirname(opened.directory)).toBe(helper.runtimeDir);
    expect(statSync(opened.directory).mode & 0o777).toBe(0o700);
    const socketStat = statSync(opened.processes[0]!.socket);
    expect(socketStat.isSocket()).toBe(true);
    expect(socketStat.mode & 0o777).toBe(0o600);

    // The socket speaks gdb's remote protocol: `?` gets a stop reply.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(opened.processes[0]!.socket);
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk.toString();
        if (/\$[^#]*#[0-9a-f]{2}/.test(data)) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on('error', reject);
      socket.write('$?#3f');
    });
    expect(reply).toMatch(/\$T[0-9a-f]{2}/);

    const run = (argv: string[], pid?: number) => helper.result<{ text: string; warnings: string[] }>('run', pid === undefined ? { argv } : { argv, pid });
    const ps = await run(['ps']);
    for (const thread of live.threads) expect(ps.text).toContain(`thread ${thread.tid} ${thread.name}`);
    expect(ps.warnings).toEqual([]);
    const maps = JSON.parse((await run(['maps', '--json'], live.pid)).text) as Array<{ pid: number }>;
    expect(maps.map((m) => m.pid)).toEqual([live.pid]);
    const fds = await run(['fds']);
    expect(fds.text).toContain(`pid ${live.pid} (${live.comm})`);
    const info = await run(['info']);
    expect(info.text).toMatch(/x86_64/);
    expect(await helper.error('run', { argv: ['fds'], pid: 999999 })).toMatchObject({ code: -32001, message: `no process 999999 in this checkpoint (it has ${live.pid})` });
    expect(await helper.error('run', { argv: ['fds', '--pid', '999999'] })).toMatchObject({ code: -32001, message: `no process 999999 in this checkpoint (it has ${live.pid})` });
    expect(await helper.error('run', { argv: ['environ'] })).toMatchObject({ code: -32602, message: "unknown command 'environ'" });
    expect(await helper.error('run', { argv: ['maps', '--all', '--pid', String(live.pid)] })).toMatchObject({ code: -32602, message: '--all and --pid cannot be used together' });

    const address = findSymbol(live, 'g_store_name').address;
    type Found = { matches: Array<{ pid: number; address: string; context: string; length?: number }>; truncated: boolean };
    const found = await run(['search', 'criu-gdb', 'corner', 'shop']);
    expect(found.text).toContain(`${live.pid} ${address}  ${live.exe}  |`);
    const foundJson = JSON.parse((await run(['search', '--json', 'criu-gdb corner shop'])).text) as Found;
    expect(foundJson.matches).toContainEqual(expect.objectContaining({ pid: live.pid, address }));
    const hex = JSON.parse((await run(['search', '--hex', '--json', Buffer.from('corner shop').toString('hex')], live.pid)).text) as Found;
    expect(hex.matches.map((m) => m.address)).toContain(`0x${(BigInt(address) + 9n).toString(16)}`);
    expect(await helper.error('run', { argv: ['search', '--hex', 'zz'] })).toMatchObject({ code: -32602 });
    const regex = JSON.parse((await run(['search', '--regex', '--ignore-case', '--json', 'CORNER S[A-Z]+'], live.pid)).text) as Found;
    expect(regex.matches).toContainEqual(expect.objectContaining({ address: `0x${(BigInt(address) + 9n).toString(16)}`, length: 11 }));
    const short = JSON.parse((await run(['search', '--regex', '--max-match', '4', '--json', 'CORNER S[A-Z]+', '--ignore-case'], live.pid)).text) as Found;
    expect(short.matches).toContainEqual(expect.objectContaining({ address: `0x${(BigInt(address) + 9n).toString(16)}`, length: 4 }));
    expect(await helper.error('run', { argv: ['search', '--regex', '--hex', 'x'] })).toMatchObject({ code: -32602 });
    expect(await helper.error('run', { argv: ['search', '--regex', '(unclosed'] })).toMatchObject({ code: -32602 });

    const commands = await helper.result<{ commands: Array<{ name: string; help: string; perProcess: boolean; options: Array<{ name: string }> }> }>('commands');
    expect(commands.commands.map((c) => c.name).sort()).toEqual(['diff', 'fds', 'info', 'maps', 'memory', 'ps', 'search']);
    const search = commands.commands.find((c) => c.name === 'search')!;
    expect(search.perProcess).toBe(true);
    expect(search.options.map((o) => o.name)).toEqual(expect.arrayContaining(['all', 'pid', 'max-match', 'hex', 'regex', 'json']));
    expect(search.help).toMatch(/^Find a string or hex bytes in process memory\.\n\nUsage: criu search PATTERN /);

    expect(await helper.result('close')).toEqual({ closed: true });
    expect(existsSync(opened.directory)).toBe(false);
    expect(await helper.result('close')).toEqual({ closed: false });
  }, 30_000);

  it('replaces an open checkpoint on a second open', async () => {
    const helper = startHelper();
    const first = await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
    const second = await helper.result<OpenResult>('open', { path: demo, root: demoRoot, pid: live.pid });
    expect(second.directory).not.toBe(first.directory);
    expect(existsSync(first.directory)).toBe(false);
    expect(existsSync(second.processes[0]!.socket)).toBe(true);
  }, 30_000);
});

describe('the built helper loads what a request needs', () => {
  it('opens and lists the commands without loading the views or the core export, and loads the views for the first run', async () => {
    const log = join(scratchDir('criu-gdb-rpc-modules-'), 'loaded');
    const helper = startHelper({}, false, [...moduleLogArgs(log), BUILT_HELPER]);
    const loaded = (): string[] => loadedModules(log);
    await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
    // The answer is the views' own list, as the source computes it.
    expect(await helper.result('commands')).toEqual(await commandList());
    expect(loaded()).toContain('rpc/session.js');
    expect(loaded()).not.toContain('views/index.js');
    expect(loaded().filter((module) => module.startsWith('export/'))).toEqual([]);
    const info = await helper.result<{ text: string }>('run', { argv: ['info'] });
    expect(info.text).toMatch(/x86_64|aarch64/);
    expect(loaded()).toContain('views/index.js');
  }, 30_000);
});

describe('helper lifetime', () => {
  it('removes its sockets and exits when stdin reaches EOF', async () => {
    const helper = startHelper();
    const opened = await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
    helper.child.stdin.end();
    expect(await helper.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(opened.directory)).toBe(false);
  }, 30_000);

  for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]] as const) {
    it(`removes its sockets and exits on ${signal}`, async () => {
      const helper = startHelper();
      const opened = await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
      helper.child.kill(signal);
      expect(await helper.exited).toEqual({ code: 128 + number, signal: null });
      expect(existsSync(opened.directory)).toBe(false);
    }, 30_000);
  }

  it('SIGKILL: the reaper removes its directory and its own registry, whatever characters the paths hold', async () => {
    // A temporary directory whose name has a newline, quotes, a backslash and shell syntax.
    const tmp = join(scratchDir('criu-gdb-rpc-tmp-'), `a'b"\n$(touch x)\\ c`);
    mkdirSync(tmp);
    const helper = startHelper({ TMPDIR: tmp, XDG_RUNTIME_DIR: '' });
    const opened = await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
    expect(dirname(opened.directory)).toBe(tmp);
    const ours = (): string[] => readdirSync(tmp).filter((name) => name.startsWith('criu-gdb-'));
    expect(ours()).toHaveLength(2);
    expect(ours()).toContain(basename(opened.directory));
    expect(ours().filter((name) => name.startsWith('criu-gdb-reaper-'))).toHaveLength(1);
    helper.child.kill('SIGKILL');
    expect(await helper.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const until = performance.now() + 5000;
    while (ours().length > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ours()).toEqual([]);
    // Nothing in the names ran as a command, and nothing else was removed.
    expect(existsSync(join(REPO_ROOT, 'x'))).toBe(false);
    expect(readdirSync(dirname(tmp))).toEqual([basename(tmp)]);
  }, 30_000);

  /** Is `pid` gone (no such process, or a zombie)? */
  function gone(pid: number): boolean {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return true;
    }
  }

  async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
    const until = performance.now() + ms;
    while (!condition() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    return condition();
  }

  // A tail without --pid (as in busybox) makes the reaper poll the parent instead.
  const tailWithoutPid = scratchDir('criu-gdb-rpc-tail-');
  writeFileSync(join(tailWithoutPid, 'tail'), '#!/bin/sh\necho "tail: unrecognized option" >&2\nexit 1\n', { mode: 0o755 });
  for (const [watcher, path] of [['tail --pid', process.env['PATH'] ?? ''], ['a tail without --pid', `${tailWithoutPid}:${process.env['PATH'] ?? ''}`]] as const) {
    it(`is killed, and its directory removed, when its parent is gone (watching with ${watcher})`, async () => {
      const helper = startHelper({ PATH: path }, true);
      const opened = await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
      const pid = helper.helperPid;
      expect(pid).not.toBe(helper.child.pid);
      // The test keeps the helper's stdin open: only the reaper's watch of the parent can stop it.
      helper.child.kill('SIGKILL');
      expect(await waitUntil(() => gone(pid), 5000)).toBe(true);
      expect(await waitUntil(() => !existsSync(opened.directory), 5000)).toBe(true);
    }, 30_000);
  }

  it('closes on shutdown and exits on the exit notification', async () => {
    const helper = startHelper();
    const opened = await helper.result<OpenResult>('open', { path: demo, root: demoRoot });
    expect(await helper.result('shutdown')).toBeNull();
    expect(existsSync(opened.directory)).toBe(false);
    helper.send({ jsonrpc: '2.0', method: 'exit' });
    expect(await helper.exited).toEqual({ code: 0, signal: null });
  }, 30_000);
});
