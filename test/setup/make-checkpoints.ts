/**
 * Makes the real CRIU checkpoints the tests use, with ground truth from the live processes.
 *
 *   npx tsx test/setup/make-checkpoints.ts [name...]
 *
 * For each program in test/programs: compile it into test/.work/bin, run it with `setsid -f`, wait for
 * "ready", stop its whole tree with SIGSTOP, record the truth (/proc and gdb), then `criu dump` it into
 * test/.work/checkpoints/<name>/images. A checkpoint whose inputs (sources, these scripts, criu and
 * gcc versions) have not changed is kept as it is. Needs root, gcc, gdb and install-criu.sh's CRIU.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHECKPOINTS_DIR,
  type CheckpointName,
  REPO_ROOT,
  UNAVAILABLE_FILE,
  WORK_DIR,
  criuPath,
} from '../helpers/checkpoints.js';
import { gdbMatrix } from '../helpers/gdb-versions.js';
import { XSTATE_PROBE_SOURCE, capture, compileXstateProbe, criuHasDirtyTracking, criuVersion, run } from './lib/capture.js';

const SETUP_DIR = dirname(fileURLToPath(import.meta.url));
const PROGRAMS_DIR = join(REPO_ROOT, 'test', 'programs');
const BIN_DIR = join(WORK_DIR, 'bin');

interface ProgramSpec {
  name: CheckpointName;
  /** `c` (default): test/programs/NAME.c with gcc; `c++`: NAME.cpp with g++; `python`: NAME.py run by Debian's python3.11. */
  language?: 'c' | 'c++' | 'python';
  /** gdb commands whose live output the truth records, from every installed gdb. */
  gdbProbes?: string[];
  /** Extra gcc flags (the defaults are -O0 -g -Wall -Wextra; PIE is gcc's default here). */
  flags: string[];
  processes: number;
  /** Extra argv after the scratch directory. */
  extraArgs?: string[];
  /**
   * A shared library the program loads with dlopen(): test/programs/NAME.c, built with `-shared -fPIC` into
   * test/.work/bin/libNAME.so, whose path is passed after the scratch directory (before extraArgs).
   */
  library?: string;
  /** Extra gcc flags after the source (libraries to link, e.g. -ldl). */
  linkFlags?: string[];
  /** A C compiler other than gcc (`musl-gcc`); without it on PATH the checkpoint is marked unavailable. */
  compiler?: string;
  incremental?: boolean;
  /** Dump twice: `before` while running, then (after SIGUSR1 and <scratch>/ack) the stopped tree with its truth. */
  twoDumps?: boolean;
}

const PROGRAMS: readonly ProgramSpec[] = [
  { name: 'pie_callchain', flags: [], processes: 1, extraArgs: ['alpha', 'two words'] },
  { name: 'static_prog', flags: ['-static', '-no-pie'], processes: 1 },
  { name: 'named_threads', flags: ['-pthread'], processes: 1 },
  { name: 'fork_tree', flags: [], processes: 4 },
  { name: 'avx_regs', flags: [], processes: 1 },
  { name: 'resources', flags: [], processes: 1 },
  { name: 'incremental', flags: [], processes: 1, incremental: true },
  { name: 'diff_subject', flags: ['-pthread'], processes: 1, twoDumps: true },
  { name: 'cxx_values', language: 'c++', flags: [], processes: 1, gdbProbes: ['p g_vec', 'p g_str', 'p g_shared', 'p g_map', 'info sharedlibrary'] },
  { name: 'guard_memfd', flags: [], processes: 1 },
  { name: 'mount_ns', flags: [], processes: 1 },
  { name: 'py_stack', language: 'python', flags: [], processes: 1, gdbProbes: ['py-bt', 'info sharedlibrary'] },
  {
    name: 'tls_values',
    flags: ['-pthread'],
    linkFlags: ['-ldl'],
    library: 'tls_values_lib',
    processes: 1,
    gdbProbes: [
      'thread apply all -c p errno',
      'thread apply all -c p tls_counter',
      'thread apply all -c p tls_array',
      'thread apply all -c p tls_record',
      'thread apply all -c p tls_name',
      'thread apply all -c p lib_tls_value',
      'thread apply all -c p lib_tls_label',
      'info sharedlibrary',
    ],
  },
  { name: 'tls_musl', compiler: 'musl-gcc', flags: ['-pthread'], processes: 1, gdbProbes: ['thread apply all -c p tls_musl_value'] },
];

/** Debian's interpreter, whose gdb extension (py-bt) comes with python3.11-dbg. */
const PYTHON = '/usr/bin/python3.11';

function sourceFile(spec: ProgramSpec): string {
  const extension = spec.language === 'c++' ? 'cpp' : spec.language === 'python' ? 'py' : 'c';
  return join(PROGRAMS_DIR, `${spec.name}.${extension}`);
}

/** A small, fixed environment so environ truth does not depend on who runs the tests. */
function programEnv(name: string): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C',
    CRIU_GDB_PROGRAM: name,
    CRIU_GDB_MARKER: 'environ-marker-1234',
  };
}

function log(message: string): void {
  process.stdout.write(`make-checkpoints: ${message}\n`);
}

function sha256(parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(part);
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** The source of the program's dlopen()ed library, if it has one. */
function librarySource(spec: ProgramSpec): string | undefined {
  return spec.library === undefined ? undefined : join(PROGRAMS_DIR, `${spec.library}.c`);
}

/** Everything a checkpoint depends on, hashed. */
function inputsHash(spec: ProgramSpec, toolVersions: string): string {
  const library = librarySource(spec);
  const files = [
    sourceFile(spec),
    ...(library === undefined ? [] : [library]),
    join(PROGRAMS_DIR, 'common.h'),
    join(SETUP_DIR, 'make-checkpoints.ts'),
    join(SETUP_DIR, 'lib', 'capture.ts'),
    join(SETUP_DIR, 'lib', 'proc.ts'),
    join(REPO_ROOT, 'test', 'helpers', 'truth.ts'),
    XSTATE_PROBE_SOURCE,
  ];
  return sha256([JSON.stringify(spec), toolVersions, ...files.map((f) => readFileSync(f))]);
}

/** The gdbs whose live view the truth records: a newly installed one remakes the checkpoints. */
function gdbVersions(): string {
  return gdbMatrix()
    .filter((g) => g.available)
    .map((g) => g.label)
    .join(', ');
}

interface Stamp {
  hash: string;
  madeAt: string;
}

function readStamp(dir: string): Stamp | null {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(dir, 'stamp.json'), 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'hash' in parsed && typeof parsed.hash === 'string') {
      return { hash: parsed.hash, madeAt: 'madeAt' in parsed && typeof parsed.madeAt === 'string' ? parsed.madeAt : '' };
    }
  } catch {
    // no stamp
  }
  return null;
}

function upToDate(dir: string, hash: string): boolean {
  if (readStamp(dir)?.hash !== hash) return false;
  if (existsSync(join(dir, UNAVAILABLE_FILE))) return true;
  return existsSync(join(dir, 'truth.json')) && existsSync(join(dir, 'images', 'inventory.img'));
}

function writeStamp(dir: string, hash: string): void {
  const stamp: Stamp = { hash, madeAt: new Date().toISOString() };
  writeFileSync(join(dir, 'stamp.json'), `${JSON.stringify(stamp, null, 1)}\n`);
}

/** Builds the program; a Python program is run by the interpreter, with its script as first argument. */
function compile(spec: ProgramSpec): { binary: string; args: string[]; scriptArgs: string[] } {
  const source = sourceFile(spec);
  if (spec.language === 'python') return { binary: PYTHON, args: [], scriptArgs: [source] };
  const binary = join(BIN_DIR, spec.name);
  const args = ['-O0', '-g', '-Wall', '-Wextra', ...spec.flags, '-o', binary, source, ...(spec.linkFlags ?? [])];
  run(spec.compiler ?? (spec.language === 'c++' ? 'g++' : 'gcc'), args);
  return { binary, args, scriptArgs: [] };
}

/** Builds the program's dlopen()ed library, if it has one; returns its path. */
function compileLibrary(spec: ProgramSpec): string | undefined {
  const source = librarySource(spec);
  if (source === undefined || spec.library === undefined) return undefined;
  const library = join(BIN_DIR, `lib${spec.library}.so`);
  run('gcc', ['-O0', '-g', '-Wall', '-Wextra', '-shared', '-fPIC', '-o', library, source]);
  return library;
}

/** Whether `command` is an executable on PATH. */
function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, command)));
}

async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function makeCheckpoint(spec: ProgramSpec, criu: string, hash: string, dirtyTracking: boolean): Promise<void> {
  const dir = join(CHECKPOINTS_DIR, spec.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  if (spec.incremental && !dirtyTracking) {
    const reason =
      'the kernel has no soft-dirty page tracking (CONFIG_MEM_SOFT_DIRTY; `criu check --feature mem_dirty_track` fails), ' +
      'so `criu pre-dump` aborts and `criu dump --track-mem --prev-images-dir` is refused';
    writeFileSync(join(dir, UNAVAILABLE_FILE), `${JSON.stringify({ reason }, null, 1)}\n`);
    writeStamp(dir, hash);
    log(`${spec.name}: NOT MADE: ${reason}`);
    return;
  }

  if (spec.compiler !== undefined && !onPath(spec.compiler)) {
    const reason = `${spec.compiler} is not installed (test/setup/prepare-tests.sh installs it with musl-tools)`;
    writeFileSync(join(dir, UNAVAILABLE_FILE), `${JSON.stringify({ reason }, null, 1)}\n`);
    writeStamp(dir, hash);
    log(`${spec.name}: NOT MADE: ${reason}`);
    return;
  }

  const { binary, args: compileArgs, scriptArgs } = compile(spec);
  const library = compileLibrary(spec);
  const scratch = join(dir, 'scratch');
  mkdirSync(scratch, { recursive: true });
  const started = Date.now();
  const truth = await capture({
    name: spec.name,
    source: relative(REPO_ROOT, sourceFile(spec)),
    symbolSources: [sourceFile(spec)],
    binary,
    compile: compileArgs,
    args: [...scriptArgs, scratch, ...(library === undefined ? [] : [library]), ...(spec.extraArgs ?? [])],
    cwd: scratch,
    env: programEnv(spec.name),
    stdoutPath: join(dir, 'stdout.txt'),
    stderrPath: join(dir, 'stderr.txt'),
    expectedProcesses: spec.processes,
    outDir: dir,
    imagesDir: 'images',
    memDir: 'truth-mem',
    keepBytes: () => true,
    criu,
    xstateProbe: compileXstateProbe(BIN_DIR),
    ...(spec.gdbProbes ? { gdbProbes: spec.gdbProbes } : {}),
    incremental: spec.incremental
      ? {
          preDumpDir: 'pre',
          change: async (rootPid: number) => {
            process.kill(rootPid, 'SIGUSR1');
            await waitForFile(join(scratch, 'ack'), 10_000);
          },
        }
      : undefined,
    before: spec.twoDumps
      ? {
          dir: 'before',
          change: async (rootPid: number) => {
            process.kill(rootPid, 'SIGUSR1');
            await waitForFile(join(scratch, 'ack'), 10_000);
          },
        }
      : undefined,
  });
  writeStamp(dir, hash);
  const imageBytes = dirBytes(join(dir, 'images'));
  log(
    `${spec.name}: made in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
      `(${truth.processes.length} process(es), ${truth.processes.reduce((n, p) => n + p.threads.length, 0)} thread(s), ` +
      `images ${(imageBytes / 1024).toFixed(0)} KiB, criu dump ${truth.criu.durationMs} ms)`,
  );
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile()) total += readFileSync(join(dir, entry.name)).length;
  }
  return total;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('must run as root (criu dump needs it)');
  const wanted = process.argv.slice(2);
  for (const name of wanted) {
    if (!PROGRAMS.some((spec) => spec.name === name)) throw new Error(`unknown checkpoint ${name}`);
  }
  const criu = criuPath();
  const toolVersions = [criuVersion(criu), run('gcc', ['--version']).split('\n')[0] ?? '', gdbVersions()].join('\n');
  const dirtyTracking = criuHasDirtyTracking(criu);
  mkdirSync(BIN_DIR, { recursive: true });
  mkdirSync(CHECKPOINTS_DIR, { recursive: true });
  const started = Date.now();
  let made = 0;
  for (const spec of PROGRAMS) {
    if (wanted.length > 0 && !wanted.includes(spec.name)) continue;
    const hash = inputsHash(spec, `${toolVersions}\ndirty-tracking=${dirtyTracking}`);
    const dir = join(CHECKPOINTS_DIR, spec.name);
    if (upToDate(dir, hash)) continue;
    await makeCheckpoint(spec, criu, hash, dirtyTracking);
    made++;
  }
  log(`${made} checkpoint(s) made, the others were up to date (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().catch((e: unknown) => {
  process.stderr.write(`make-checkpoints: error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
