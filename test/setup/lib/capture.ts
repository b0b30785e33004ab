/**
 * Runs a test program, records the ground truth of its stopped process tree (from /proc and from gdb
 * attached to each stopped process), and checkpoints the tree with a real `criu dump`.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gdbMatrix } from '../../helpers/gdb-versions.js';
import type { CpuTruth, GdbTruth, ProcessTruth, SymbolTruth, ThreadTruth, Truth, XstateTruth } from '../../helpers/truth.js';
import { TRUTH_FORMAT, formatAddress } from '../../helpers/truth.js';
import {
  type MapsLine,
  isAlive,
  listTids,
  mappedFiles,
  parseMaps,
  processTree,
  readAuxv,
  readElfInfo,
  readFds,
  readMappings,
  readNulList,
  readProcessMemory,
  readStat,
  readText,
  sha256File,
  statusField,
  threadStates,
} from './proc.js';

export interface IncrementalSpec {
  /** Pre-dump directory, relative to the checkpoint directory (`pre`). */
  preDumpDir: string;
  /** Called after the pre-dump, while the program runs: make it change its memory and wait until it did. */
  change: (rootPid: number) => Promise<void>;
}

export interface BeforeSpec {
  /** Images of the first dump, relative to the checkpoint directory (`before`). */
  dir: string;
  /** Called after the first dump (`criu dump --leave-running`): make the program change and wait until it did. */
  change: (rootPid: number) => Promise<void>;
}

export interface CaptureSpec {
  name: string;
  /** Repository-relative path of the program's main source (recorded in the truth). */
  source: string;
  /** Source files whose identifiers select the symbols recorded from nm. */
  symbolSources: string[];
  binary: string;
  compile: string[];
  args: string[];
  cwd: string;
  env: Record<string, string>;
  stdoutPath: string;
  stderrPath: string;
  /** Number of processes the tree must have once ready. */
  expectedProcesses: number;
  /** Checkpoint directory: truth.json goes here. */
  outDir: string;
  /** Images directory relative to outDir. */
  imagesDir: string;
  /** Where mapping contents go, relative to outDir (`truth-mem`). */
  memDir: string;
  /** Which mappings keep their bytes (the others keep only a sha256). */
  keepBytes: (line: MapsLine) => boolean;
  criu: string;
  /** More gdb commands whose live output the truth records (GdbTruth.probes). */
  gdbProbes?: string[];
  /** The compiled test/setup/ptrace-xstate.c, for register truth that does not depend on gdb. */
  xstateProbe?: string;
  incremental?: IncrementalSpec;
  /** Dump the running tree once first (the truth is the second, stopped dump's). */
  before?: BeforeSpec;
}

const READY_TIMEOUT_MS = 15_000;
const SETTLE_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const GONE_TIMEOUT_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | null | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Processes whose executable is `binary` (to clean up after a program that never became ready). */
function processesRunning(binary: string, firstArg: string | undefined): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) !== binary) continue;
      // An interpreter such as /usr/bin/python3.11 runs other programs too: only ours, by its first argument.
      if (firstArg === undefined || readNulList(`/proc/${entry}/cmdline`)[1] === firstArg) out.push(Number(entry));
    } catch {
      // not ours to read, or gone
    }
  }
  return out;
}

function killTree(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Runs a command synchronously; throws with its output on failure. */
export function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}:\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

export function criuVersion(criu: string): string {
  const out = spawnSync(criu, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${out.stdout}${out.stderr}`.split('\n')[0]?.trim() ?? '';
}

export function gdbVersion(gdb = 'gdb'): string {
  return run(gdb, ['--version']).split('\n')[0]?.trim() ?? '';
}

/** test/setup/ptrace-xstate.c: register truth that does not depend on gdb. */
export const XSTATE_PROBE_SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', 'ptrace-xstate.c');

/** Compiles the ptrace probe into `binDir` (again when its source is newer); returns its path. */
export function compileXstateProbe(binDir: string): string {
  const binary = join(binDir, 'ptrace-xstate');
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(XSTATE_PROBE_SOURCE).mtimeMs) {
    mkdirSync(binDir, { recursive: true });
    run('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, XSTATE_PROBE_SOURCE]);
  }
  return binary;
}

interface XstateProbeOutput {
  cpu: CpuTruth;
  threads: Map<number, XstateTruth>;
}

/** Reads the XSAVE area of stopped threads with ptrace (test/setup/ptrace-xstate.c); they stay stopped. */
function probeXstate(probe: string, tids: number[]): XstateProbeOutput {
  const parsed = JSON.parse(run(probe, tids.map(String))) as {
    cpuXcr0: string;
    components: Record<string, { offset: number; size: number }>;
    threads: Array<{ tid: number; xcr0: string; xstateBv: string; registers: Record<string, string> }>;
  };
  const threads = new Map<number, XstateTruth>();
  for (const t of parsed.threads) threads.set(t.tid, { xcr0: t.xcr0, xstateBv: t.xstateBv, registers: t.registers });
  return { cpu: { xcr0: parsed.cpuXcr0, components: parsed.components }, threads };
}

/** `fact PID key value` lines of the program's stdout, by pid. */
export function parseFacts(stdout: string): Map<number, Record<string, string>> {
  const facts = new Map<number, Record<string, string>>();
  for (const line of stdout.split('\n')) {
    const m = /^fact (\d+) (\S+) ?(.*)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const pid = Number(m[1]);
    const record = facts.get(pid) ?? {};
    record[m[2]] = m[3] ?? '';
    facts.set(pid, record);
  }
  return facts;
}

function readyPid(stdout: string): number | null {
  const m = /^ready (\d+)$/m.exec(stdout);
  return m && m[1] !== undefined ? Number(m[1]) : null;
}

/** A defined symbol of a binary, as `nm -S` lists it. */
export interface NmSymbol {
  link: bigint;
  size: number;
  type: string;
  name: string;
}

/** The code and data symbols of `binary` whose names appear in `sources` (paths), listed by `nm` (or a cross nm). */
export function nmSymbols(binary: string, sources: string[], nm = 'nm'): NmSymbol[] {
  const identifiers = new Set<string>();
  for (const source of sources) {
    for (const m of readFileSync(source, 'utf8').matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) identifiers.add(m[0]);
  }
  const out: NmSymbol[] = [];
  for (const line of run(nm, ['--defined-only', '-S', binary]).split('\n')) {
    const m = /^([0-9a-f]+)(?: ([0-9a-f]+))? (\w) (\S+)$/.exec(line);
    if (!m || m[1] === undefined || m[3] === undefined || m[4] === undefined) continue;
    if (!identifiers.has(m[4]) || !'TtDdBbRr'.includes(m[3])) continue;
    out.push({ link: BigInt(`0x${m[1]}`), size: m[2] === undefined ? 0 : parseInt(m[2], 16), type: m[3], name: m[4] });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function loadBase(exe: string, maps: MapsLine[]): bigint {
  const elf = readElfInfo(exe);
  if (!elf || elf.type !== 'dyn') return 0n;
  const first = maps.find((m) => m.name === exe && m.offset === 0n);
  if (!first) throw new Error(`no offset-0 mapping of ${exe}`);
  return first.start - (elf.firstLoadVaddr ?? 0n);
}

const GDB_SECTIONS = ['info-threads', 'backtraces', 'backtraces-full', 'all-registers', 'thread-registers'] as const;
type GdbSection = (typeof GDB_SECTIONS)[number];

interface GdbResult {
  truth: GdbTruth;
  registers: Map<number, Record<string, string>>;
}

function runGdb(pid: number, probes: readonly string[], gdb = 'gdb'): GdbResult {
  const commands: Record<GdbSection, string> = {
    'info-threads': 'info threads',
    backtraces: 'thread apply all bt',
    'backtraces-full': 'thread apply all bt full',
    'all-registers': 'info all-registers',
    'thread-registers': 'thread apply all info registers general fs_base gs_base orig_rax',
  };
  const args = ['-nx', '-batch', '-iex', 'set debuginfod enabled off', '-iex', 'set pagination off', '-iex', 'set width 0'];
  args.push('-p', String(pid));
  for (const section of GDB_SECTIONS) args.push('-ex', `echo @@criu-gdb:${section}\\n`, '-ex', commands[section]);
  probes.forEach((probe, i) => args.push('-ex', `echo @@criu-gdb:probe-${i}\\n`, '-ex', probe));
  args.push('-ex', 'echo @@criu-gdb:end\\n');
  const result = spawnSync(gdb, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new Error(`${gdb} -p ${pid}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${gdb} -p ${pid} exited with ${result.status}: ${result.stderr}`);
  const sections = new Map<string, string>();
  const parts = result.stdout.split(/^@@criu-gdb:(\S+)\n/m);
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const key = parts[i];
    const body = parts[i + 1];
    if (key !== undefined && body !== undefined) sections.set(key, body.replace(/\[Inferior 1 \(process \d+\) detached\]\n?$/, ''));
  }
  const section = (key: GdbSection): string => {
    const text = sections.get(key);
    if (text === undefined) throw new Error(`${gdb} -p ${pid}: no output for ${key}\n${result.stdout}\n${result.stderr}`);
    return text;
  };
  const registers = new Map<number, Record<string, string>>();
  const threadParts = section('thread-registers').split(/^\nThread \d+ \(.*?(?:LWP|process) (\d+)\b.*\):\n/m);
  for (let i = 1; i + 1 < threadParts.length; i += 2) {
    const tid = Number(threadParts[i]);
    const regs: Record<string, string> = {};
    for (const line of (threadParts[i + 1] ?? '').split('\n')) {
      const m = /^(\w+)\s+(0x[0-9a-f]+)/.exec(line);
      if (m && m[1] !== undefined && m[2] !== undefined) regs[m[1]] = m[2];
    }
    registers.set(tid, regs);
  }
  return {
    truth: {
      command: args,
      infoThreads: section('info-threads'),
      backtraces: section('backtraces'),
      backtracesFull: section('backtraces-full'),
      allRegisters: section('all-registers'),
      stderr: result.stderr,
      version: gdbVersion(gdb),
      ...(probes.length > 0 ? { probes: Object.fromEntries(probes.map((probe, i) => [probe, sections.get(`probe-${i}`) ?? ''])) } : {}),
    },
    registers,
  };
}

function logLines(path: string, marker: string): string[] {
  return readIfExists(path)
    .split('\n')
    .filter((line) => line.includes(marker));
}

interface ProcessSnapshot {
  pid: number;
  stateBeforeStop: string;
}

function collectProcess(
  spec: CaptureSpec,
  snap: ProcessSnapshot,
  facts: Record<string, string>,
  symbolCache: Map<string, NmSymbol[]>,
): Omit<ProcessTruth, 'gdb'> {
  const { pid } = snap;
  // First, before anything reads the memory.
  const rollup = smapsRollup(pid);
  const stat = readStat(`/proc/${pid}/stat`);
  if (!stat) throw new Error(`process ${pid} vanished`);
  const status = readText(`/proc/${pid}/status`);
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const maps = parseMaps(readText(`/proc/${pid}/maps`));
  const threads: ThreadTruth[] = listTids(pid).map((tid) => {
    const tstat = readStat(`/proc/${pid}/task/${tid}/stat`);
    return {
      tid,
      name: readText(`/proc/${pid}/task/${tid}/comm`).replace(/\n$/, ''),
      state: tstat?.state ?? '?',
      syscall: readText(`/proc/${pid}/task/${tid}/syscall`).trim(),
      registers: {},
    };
  });
  const base = loadBase(exe, maps);
  let nm = symbolCache.get(exe);
  if (!nm) {
    nm = nmSymbols(exe, spec.symbolSources);
    symbolCache.set(exe, nm);
  }
  const symbols: SymbolTruth[] = nm.map((s) => {
    const address = s.link + base;
    const sym: SymbolTruth = {
      name: s.name,
      type: s.type,
      address: formatAddress(address),
      linkAddress: formatAddress(s.link),
      size: s.size,
    };
    if ('DdBbRr'.includes(s.type) && s.size > 0 && s.size <= 4096) {
      const bytes = readProcessMemory(pid, address, s.size);
      if (bytes) sym.bytes = bytes.toString('hex');
    }
    return sym;
  });
  const hexMask = (name: string): string => `0x${statusField(status, name)}`;
  const ids = (name: string): number[] => statusField(status, name).split(/\s+/).map(Number);
  return {
    pid,
    ppid: stat.ppid,
    pgid: stat.pgid,
    sid: stat.sid,
    comm: readText(`/proc/${pid}/comm`).replace(/\n$/, ''),
    exe,
    cmdline: readNulList(`/proc/${pid}/cmdline`),
    environ: readNulList(`/proc/${pid}/environ`),
    cwd: readlinkSync(`/proc/${pid}/cwd`),
    root: readlinkSync(`/proc/${pid}/root`),
    state: stat.state,
    stateBeforeStop: snap.stateBeforeStop,
    uid: ids('Uid'),
    gid: ids('Gid'),
    signals: { blocked: hexMask('SigBlk'), ignored: hexMask('SigIgn'), caught: hexMask('SigCgt') },
    threads,
    maps: readMappings(pid, maps, {
      baseDir: spec.outDir,
      memDir: spec.memDir,
      keepBytes: spec.keepBytes,
    }),
    fds: readFds(pid),
    auxv: readAuxv(pid),
    mappedFiles: mappedFiles(maps),
    loadBase: formatAddress(base),
    symbols,
    facts,
    smapsRollup: rollup,
  };
}

/** /proc/PID/smaps_rollup as bytes by field name. */
function smapsRollup(pid: number): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const line of readText(`/proc/${pid}/smaps_rollup`).split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m && m[1] !== undefined && m[2] !== undefined) fields[m[1]] = Number(m[2]) * 1024;
  }
  return fields;
}

function allThreadsIn(pids: number[], states: string): boolean {
  return pids.every((pid) => {
    const st = threadStates(pid);
    return st.length > 0 && st.every((s) => states.includes(s));
  });
}

function describeStates(pids: number[]): string {
  return pids.map((pid) => `${pid}: ${threadStates(pid).join('')}`).join(', ');
}

function tracerPid(pid: number): number {
  return Number(statusField(readText(`/proc/${pid}/status`), 'TracerPid'));
}

function criuDump(spec: CaptureSpec, args: string[], logPath: string): number {
  const started = Date.now();
  const result = spawnSync(spec.criu, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const duration = Date.now() - started;
  const log = readIfExists(logPath);
  const lastLine = log.trimEnd().split('\n').pop() ?? '';
  if (result.error || result.status !== 0 || !/finished successfully/.test(lastLine)) {
    const errors = log.split('\n').filter((l) => l.includes('Error (')).join('\n');
    throw new Error(
      `criu ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr}${errors}\nlog: ${logPath}`,
    );
  }
  return duration;
}

const CLOSE_FDS_AND_EXEC =
  'for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done; exec "$@"';

/** Runs the program, takes its ground truth and dumps it. Writes <outDir>/truth.json and returns the truth. */
export async function capture(spec: CaptureSpec): Promise<Truth> {
  mkdirSync(spec.outDir, { recursive: true });
  mkdirSync(join(spec.outDir, spec.memDir), { recursive: true });
  const imagesAbs = join(spec.outDir, spec.imagesDir);
  mkdirSync(imagesAbs, { recursive: true });

  const out = openSync(spec.stdoutPath, 'w');
  const err = openSync(spec.stderrPath, 'w');
  let started: ReturnType<typeof spawnSync>;
  try {
    // bash closes every descriptor above 2 that this process inherited from its own environment
    // (so the checkpoint does not depend on who ran the tests), then execs the program in place.
    started = spawnSync('setsid', ['-f', 'bash', '-c', CLOSE_FDS_AND_EXEC, 'criu-gdb-launch', spec.binary, ...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', out, err],
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  if (started.error || started.status !== 0) throw new Error(`setsid -f ${spec.binary}: ${started.error?.message ?? started.status}`);

  let tree: number[] = [];
  const knownPids = new Set<number>();
  try {
    const root = await waitFor(`"ready" from ${spec.name}`, READY_TIMEOUT_MS, () => {
      const pid = readyPid(readIfExists(spec.stdoutPath));
      if (pid === null) {
        const stderr = readIfExists(spec.stderrPath);
        if (stderr !== '') throw new Error(`${spec.name} failed to start:\n${stderr}`);
      }
      return pid;
    });
    knownPids.add(root);
    tree = await waitFor(`${spec.expectedProcesses} processes in ${spec.name}'s tree`, SETTLE_TIMEOUT_MS, () => {
      const t = processTree(root);
      t.forEach((p) => knownPids.add(p));
      return t.length === spec.expectedProcesses ? t : null;
    });
    const settle = async (): Promise<void> => {
      try {
        await waitFor('every thread to block', SETTLE_TIMEOUT_MS, () => allThreadsIn(tree, 'S'));
      } catch (e) {
        throw new Error(`${e instanceof Error ? e.message : String(e)}: ${describeStates(tree)}`);
      }
    };
    await settle();

    let preDumpCommand: string[] = [];
    if (spec.incremental) {
      const preAbs = join(spec.outDir, spec.incremental.preDumpDir);
      mkdirSync(preAbs, { recursive: true });
      preDumpCommand = ['pre-dump', '-t', String(root), '-D', preAbs, '-o', 'pre-dump.log', '-v4', '--track-mem'];
      criuDump(spec, preDumpCommand, join(preAbs, 'pre-dump.log'));
      await spec.incremental.change(root);
      await settle();
    }

    let beforeCommand: string[] = [];
    if (spec.before) {
      const beforeAbs = join(spec.outDir, spec.before.dir);
      mkdirSync(beforeAbs, { recursive: true });
      beforeCommand = ['dump', '-t', String(root), '-D', beforeAbs, '-o', 'dump.log', '-v4', '--leave-running'];
      criuDump(spec, beforeCommand, join(beforeAbs, 'dump.log'));
      await spec.before.change(root);
      await settle();
    }

    const snaps: ProcessSnapshot[] = tree.map((pid) => ({ pid, stateBeforeStop: readStat(`/proc/${pid}/stat`)?.state ?? '?' }));
    for (const pid of tree) process.kill(pid, 'SIGSTOP');
    try {
      await waitFor('every thread to stop', STOP_TIMEOUT_MS, () => allThreadsIn(tree, 'T'));
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}: ${describeStates(tree)}`);
    }

    const facts = parseFacts(readIfExists(spec.stdoutPath));
    const symbolCache = new Map<string, NmSymbol[]>();
    const partial = tree.map((pid, i) => {
      const snap = snaps[i];
      if (!snap) throw new Error('internal: no snapshot');
      return collectProcess(spec, snap, facts.get(pid) ?? {}, symbolCache);
    });

    // Every tracer (the ptrace probe, each gdb) must leave the process stopped, untraced and dumpable. A thread
    // that a tracer detached from passes through R on its way back into the group stop, so allow a moment.
    const expectStoppedUntraced = async (pid: number, tracer: string): Promise<void> => {
      try {
        await waitFor(`${pid} to be back in its group stop`, STOP_TIMEOUT_MS, () => tracerPid(pid) === 0 && allThreadsIn([pid], 'T'));
      } catch {
        throw new Error(`after ${tracer} detached, ${pid} is not stopped and untraced: ${describeStates([pid])}, TracerPid ${tracerPid(pid)}`);
      }
    };
    let cpu: CpuTruth | undefined;
    const otherGdbs = gdbMatrix().filter((g) => g.available && g.command !== 'gdb');
    const processes: ProcessTruth[] = [];
    for (const p of partial) {
      if (spec.xstateProbe) {
        const probed = probeXstate(spec.xstateProbe, p.threads.map((t) => t.tid));
        cpu = probed.cpu;
        for (const t of p.threads) {
          const xstate = probed.threads.get(t.tid);
          if (xstate) t.xstate = xstate;
        }
        await expectStoppedUntraced(p.pid, 'the ptrace probe');
      }
      const gdb = runGdb(p.pid, spec.gdbProbes ?? []);
      for (const t of p.threads) t.registers = gdb.registers.get(t.tid) ?? {};
      await expectStoppedUntraced(p.pid, 'gdb');
      if (gdb.registers.size !== p.threads.length) {
        throw new Error(`gdb showed registers of ${gdb.registers.size} threads of ${p.pid}, /proc has ${p.threads.length}`);
      }
      const others: Record<string, GdbTruth> = {};
      for (const other of otherGdbs) {
        const result = runGdb(p.pid, spec.gdbProbes ?? [], other.command);
        await expectStoppedUntraced(p.pid, other.label);
        others[String(other.major)] = { ...result.truth, threadRegisters: Object.fromEntries([...result.registers].map(([tid, regs]) => [String(tid), regs])) };
      }
      processes.push({ ...p, gdb: gdb.truth, ...(otherGdbs.length > 0 ? { otherGdbs: others } : {}) });
    }

    const dumpCommand = ['dump', '-t', String(root), '-D', imagesAbs, '-o', 'dump.log', '-v4'];
    if (spec.incremental) dumpCommand.push('--prev-images-dir', `../${spec.incremental.preDumpDir}`, '--track-mem');
    const logPath = join(imagesAbs, 'dump.log');
    const durationMs = criuDump(spec, dumpCommand, logPath);
    await waitFor(`${spec.name}'s processes to be gone after the dump`, GONE_TIMEOUT_MS, () => tree.every((pid) => !isAlive(pid)));

    const elf = readElfInfo(spec.binary);
    const truth: Truth = {
      format: TRUTH_FORMAT,
      name: spec.name,
      createdAt: new Date().toISOString(),
      program: {
        source: spec.source,
        binary: processes[0]?.exe ?? spec.binary,
        compile: spec.compile,
        elfType: elf?.type === 'exec' ? 'exec' : 'dyn',
        static: !(elf?.hasInterp ?? false),
        buildId: elf?.buildId ?? null,
        sha256: sha256File(spec.binary),
        args: spec.args,
      },
      criu: {
        version: criuVersion(spec.criu),
        command: dumpCommand,
        imagesDir: spec.imagesDir,
        durationMs,
        logErrors: logLines(logPath, 'Error ('),
        logWarnings: logLines(logPath, 'Warn  ('),
      },
      gdbVersion: gdbVersion(),
      kernel: run('uname', ['-r']).trim(),
      rootPid: root,
      processes,
      ...(cpu ? { cpu } : {}),
    };
    if (spec.incremental) {
      const preLog = join(spec.outDir, spec.incremental.preDumpDir, 'pre-dump.log');
      truth.incremental = {
        preDumpDir: spec.incremental.preDumpDir,
        preDumpCommand,
        preDumpLogErrors: logLines(preLog, 'Error ('),
      };
    }
    if (spec.before) truth.before = { imagesDir: spec.before.dir, command: beforeCommand };
    writeFileSync(join(spec.outDir, 'truth.json'), `${JSON.stringify(truth, null, 1)}\n`);
    return truth;
  } catch (e) {
    for (const pid of tree) knownPids.add(pid);
    for (const pid of processesRunning(spec.binary, spec.args[0])) knownPids.add(pid);
    killTree(knownPids);
    throw e;
  }
}

/** True if `criu check --feature mem_dirty_track` passes (needed for pre-dump / --track-mem). */
export function criuHasDirtyTracking(criu: string): boolean {
  const result = spawnSync(criu, ['check', '--feature', 'mem_dirty_track'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return result.status === 0;
}
