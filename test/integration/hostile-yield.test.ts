/**
 * Hostile checkpoints, issue 12 point 3 and 6 in the helper: a long search must not block the helper's
 * single thread. The checkpoint is named_threads with one more anonymous mapping of 8 GiB whose pages are
 * all present in a sparse pages file, so a search for bytes that are nowhere scans 8 GiB (tens of seconds).
 * While it runs, real gdb connected to the process socket reads memory and gets the program's own values;
 * a cancelled search ($/cancelRequest, as vscode-jsonrpc and the plugin send it) really stops; Ctrl-C in
 * gdb cancels it; and SIGKILL of gdb mid-search makes the helper exit with its directories removed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancellationTokenSource, createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { checkpointAvailability, findSymbol, imagesDir, loadTruth, REPO_ROOT, rootProcess } from '../helpers/checkpoints.js';
import { PLUGIN } from '../helpers/gdb-session.js';
import { bytesField, copyImages, lengthPrefix, RawWriter, removeScratch, scratchDir, splitSingleEntry, varintField } from '../helpers/hostile.js';

const HELPER = join(REPO_ROOT, 'dist', 'src', 'rpc', 'main.js');
const START = 0x1000_0000_0000;
const SIZE = 8 * 2 ** 30;
const NOWHERE = 'no such bytes anywhere';
const available = checkpointAvailability('named_threads').available;

/** named_threads with an 8 GiB anonymous mapping, every page present in the (sparse) pages file. */
function build(): string {
  const copy = copyImages(imagesDir('named_threads'));
  const mm = join(copy, readdirSync(copy).find((n) => /^mm-\d+\.img$/.test(n))!);
  const { header, payload } = splitSingleEntry(mm);
  const vma = bytesField(14, Buffer.concat([varintField(1, START), varintField(2, START + SIZE), varintField(3, 0), varintField(4, 0), varintField(5, 3), varintField(6, 0x22), varintField(7, 0x201), varintField(8, 0)]));
  const entry = Buffer.concat([vma, payload]);
  writeFileSync(mm, Buffer.concat([header, lengthPrefix(entry.length), entry]));
  const pagemap = join(copy, readdirSync(copy).find((n) => /^pagemap-\d+\.img$/.test(n))!);
  const out = new RawWriter().bytes(readFileSync(pagemap));
  // Last entry of the pagemap: its pages are the last of the pages file, which grows by SIZE of holes.
  out.entry((w) => w.field(1, START).field(2, 0).field(4, 4).field(5, SIZE / 4096));
  writeFileSync(pagemap, out.result());
  const pages = join(copy, readdirSync(copy).find((n) => /^pages-\d+\.img$/.test(n))!);
  truncateSync(pages, statSync(pages).size + SIZE);
  return copy;
}

/** CPU seconds (user + system) process `pid` has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Whether `pid` is gone (or a zombie waiting to be reaped). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let dir = '';
beforeAll(() => {
  if (available) dir = build();
});
afterAll(removeScratch);

const truth = available ? rootProcess(loadTruth('named_threads')) : undefined;
/** Where g_worker_count lives and what the program set it to (WORKERS in named_threads.c). */
const workerCount = truth ? { address: findSymbol(truth, 'g_worker_count').address, value: 4 } : undefined;

interface OpenResult {
  processes: Array<{ pid: number; socket: string }>;
  directory: string;
}

describe.skipIf(!available)('a long search in the helper yields and can be cancelled', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  let connection: MessageConnection | undefined;
  afterAll(() => {
    connection?.dispose();
    child?.kill('SIGKILL');
  });

  it('gdb is answered while the search runs; a cancelled search stops and the helper still answers', { timeout: 120_000 }, async () => {
    const runtime = scratchDir('xdg');
    child = spawn(process.execPath, [HELPER], { env: { ...process.env, XDG_RUNTIME_DIR: runtime, TMPDIR: scratchDir('tmp') } });
    connection = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    connection.listen();
    const helperPid = child.pid!;
    const opened = await connection.sendRequest<OpenResult>('open', { path: dir });
    const socket = opened.processes[0]!.socket;

    const gdbArgs = ['-nx', '-batch', '-ex', `target remote ${socket}`, '-ex', `x/dw ${workerCount!.address}`, '-ex', 'info threads'];
    const idleStart = performance.now();
    await execa('gdb', gdbArgs, { reject: false, timeout: 60_000, env: { HOME: REPO_ROOT } });
    const idleGdbSeconds = (performance.now() - idleStart) / 1000;

    const cancel = new CancellationTokenSource();
    let settled = false;
    const search = connection.sendRequest('run', { argv: ['search', NOWHERE] }, cancel.token).finally(() => (settled = true));
    search.catch(() => undefined);
    // Busy: the search has used half a second of CPU.
    const before = cpuSeconds(helperPid);
    expect(await waitFor(() => cpuSeconds(helperPid) - before >= 0.5, 30_000)).toBe(true);
    expect(settled).toBe(false);

    const sent = performance.now();
    const gdb = await execa('gdb', gdbArgs, {
      reject: false,
      timeout: 60_000,
      env: { HOME: REPO_ROOT },
    });
    const gdbSeconds = (performance.now() - sent) / 1000;
    console.log(`gdb answered in ${gdbSeconds.toFixed(2)} s while the search ran (${idleGdbSeconds.toFixed(2)} s with the helper idle)`);
    expect(gdb.stderr).not.toMatch(/Invalid hex digit|Remote connection closed|Ignoring packet error|timed out/);
    expect(gdb.stdout).toMatch(new RegExp(`^0x0*${workerCount!.address.replace(/^0x0*/, '')}[^:]*:\\s+${workerCount!.value}$`, 'm'));
    expect(gdb.stdout).toMatch(new RegExp(`Thread ${truth!.pid}\\.${truth!.pid} `));
    expect(gdbSeconds).toBeLessThan(20);
    // The search was still running all that time.
    expect(settled).toBe(false);

    const cancelled = performance.now();
    cancel.cancel();
    const error = await search.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    const cancelSeconds = (performance.now() - cancelled) / 1000;
    console.log(`cancelled search answered in ${cancelSeconds.toFixed(3)} s`);
    expect(error).toBeInstanceOf(ResponseError);
    expect((error as ResponseError<unknown>).code).toBe(-32800);
    expect(cancelSeconds).toBeLessThan(2);
    // The work stopped: the helper idles.
    const idleFrom = cpuSeconds(helperPid);
    await sleep(1500);
    const idleCpu = cpuSeconds(helperPid) - idleFrom;
    console.log(`helper CPU in the 1.5 s after the cancel: ${idleCpu.toFixed(2)} s`);
    expect(idleCpu).toBeLessThan(0.3);
    expect(await connection.sendRequest('ping')).toMatchObject({ pid: helperPid });
    const peakMiB = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${helperPid}/status`, 'utf8'))?.[1]) / 1024;
    console.log(`helper peak RSS through the search, gdb's reads and the cancel: ${peakMiB.toFixed(0)} MiB`);
    expect(peakMiB).toBeLessThan(1024);
    const ps = await connection.sendRequest<{ text: string }>('run', { argv: ['ps'] });
    expect(ps.text).toMatch(/named_threads/);
    await connection.sendRequest('shutdown');
    connection.sendNotification('exit');
    expect(await waitFor(() => gone(helperPid), 5000)).toBe(true);
    expect(readdirSync(runtime)).toEqual([]);
  });
});

describe.skipIf(!available)('a long coredump in the helper can be cancelled', () => {
  it('stops, answers -32800 and leaves no partial core', { timeout: 120_000 }, async () => {
    const child = spawn(process.execPath, [HELPER], { env: { ...process.env, XDG_RUNTIME_DIR: scratchDir('xdg'), TMPDIR: scratchDir('tmp') } });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    connection.listen();
    try {
      await connection.sendRequest('open', { path: dir });
      const out = scratchDir('cores');
      const cancel = new CancellationTokenSource();
      let settled = false;
      const dump = connection.sendRequest('coredump', { directory: out }, cancel.token).finally(() => (settled = true));
      dump.catch(() => undefined);
      const from = cpuSeconds(child.pid!);
      expect(await waitFor(() => cpuSeconds(child.pid!) - from >= 0.5, 30_000)).toBe(true);
      expect(settled).toBe(false);
      expect(await connection.sendRequest('ping')).toMatchObject({ pid: child.pid });
      const cancelled = performance.now();
      cancel.cancel();
      const error = await dump.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      console.log(`cancelled coredump answered in ${((performance.now() - cancelled) / 1000).toFixed(3)} s`);
      expect((error as ResponseError<unknown>).code).toBe(-32800);
      expect(readdirSync(out)).toEqual([]);
      const idleFrom = cpuSeconds(child.pid!);
      await sleep(1500);
      expect(cpuSeconds(child.pid!) - idleFrom).toBeLessThan(0.3);
    } finally {
      connection.dispose();
      child.kill('SIGKILL');
    }
  });
});

/** The helper started by gdb `gdbPid`, once it is there. */
async function helperOf(gdbPid: number): Promise<number | undefined> {
  let found: number | undefined;
  await waitFor(() => {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === gdbPid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('rpc/main.js')) found = Number(name);
      } catch {
        // gone meanwhile
      }
    }
    return found !== undefined;
  }, 30_000);
  return found;
}

describe.skipIf(!available)('real gdb and a long search', () => {
  /** gdb -batch with the plugin: criu-load, then `commands`, in private runtime and temporary directories. */
  function startGdb(commands: string[]): { gdb: ReturnType<typeof execa>; runtime: string; tmp: string } {
    const runtime = scratchDir('xdg');
    const tmp = scratchDir('tmp');
    mkdirSync(tmp, { recursive: true });
    const args = ['-nx', '-batch', '-iex', 'set pagination off', '-iex', `source ${PLUGIN}`, '-ex', `criu-load ${dir}`];
    for (const command of commands) args.push('-ex', command);
    const gdb = execa('gdb', args, { reject: false, timeout: 120_000, env: { HOME: REPO_ROOT, XDG_RUNTIME_DIR: runtime, TMPDIR: tmp, CRIU_GDB_TIMEOUT: '600' } });
    return { gdb, runtime, tmp };
  }

  /** Waits until the helper of `gdb` has served the checkpoint and then spent `seconds` of CPU searching. */
  async function searching(gdbPid: number, runtime: string, seconds: number): Promise<number> {
    const helper = await helperOf(gdbPid);
    expect(helper).toBeDefined();
    expect(await waitFor(() => readdirSync(runtime).some((n) => n.startsWith('criu-gdb-')), 30_000)).toBe(true);
    const from = cpuSeconds(helper!);
    expect(await waitFor(() => cpuSeconds(helper!) - from >= seconds, 30_000)).toBe(true);
    return helper!;
  }

  it('SIGKILL of gdb mid-search: the helper exits promptly and its socket and temporary directories are gone', { timeout: 120_000 }, async () => {
    const { gdb, runtime, tmp } = startGdb([`criu search ${NOWHERE}`]);
    const helper = await searching(gdb.pid!, runtime, 1);
    const killed = performance.now();
    gdb.kill('SIGKILL');
    await gdb;
    expect(await waitFor(() => gone(helper), 5000)).toBe(true);
    const seconds = (performance.now() - killed) / 1000;
    console.log(`helper gone ${seconds.toFixed(2)} s after gdb was killed`);
    expect(seconds).toBeLessThan(3);
    expect(await waitFor(() => readdirSync(runtime).length === 0 && readdirSync(tmp).length === 0, 5000)).toBe(true);
  });

  it('Ctrl-C in gdb cancels the search: the helper stops working and answers the next commands', { timeout: 120_000 }, async () => {
    const { gdb, runtime } = startGdb([`criu search ${NOWHERE}`, 'criu ps', `x/dw ${workerCount!.address}`, "python print('@@IDLE')", 'shell sleep 3']);
    let stdout = '';
    gdb.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const helper = await searching(gdb.pid!, runtime, 1);
    gdb.kill('SIGINT');
    // gdb goes on with the next commands, which the helper answers, then waits in `shell sleep`.
    expect(await waitFor(() => stdout.includes('@@IDLE'), 30_000)).toBe(true);
    const from = cpuSeconds(helper);
    await sleep(1500);
    const idleCpu = cpuSeconds(helper) - from;
    console.log(`helper CPU in 1.5 s after Ctrl-C: ${idleCpu.toFixed(2)} s`);
    const result = await gdb;
    expect(result.stderr).toMatch(/interrupted/);
    expect(stdout).toMatch(/named_threads/);
    expect(stdout).toMatch(new RegExp(`:\\s+${workerCount!.value}$`, 'm'));
    expect(idleCpu).toBeLessThan(0.3);
  });
});
