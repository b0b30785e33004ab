/**
 * Regenerates the committed checkpoint fixtures in test/fixtures (not run by `npm test`):
 *
 *   npx tsx test/setup/make-fixtures.ts [demo|pie-threads...]
 *
 * demo         test/fixtures/demo/src/demo.c, static-pie with debug info, run as /opt/criu-gdb-demo/demo
 * pie-threads  test/programs/named_threads.c, dynamically linked PIE, run as /opt/criu-gdb-pie-threads/named_threads
 * avx512-zen4  test/programs/avx_regs.c, static-pie, run as /opt/criu-gdb-avx512/avx_regs on a CPU whose XSAVE
 *              layout is not Intel's (AMD Zen 4: AVX-512 components at 832/896/1408), so that every machine
 *              tests that layout; made with every gdb of the version matrix installed
 *
 * Each program is built, copied into its /opt directory, run from there, stopped, recorded (truth.json)
 * and dumped with real CRIU; then /opt/... is removed. Layout of test/fixtures/<name>/:
 *   src/              the sources the binary was built from
 *   rootfs/opt/...    the binary and the files its descriptors pointed to, so `--root rootfs` resolves them
 *   checkpoint/       the CRIU images (without dump.log)
 *   truth.json        ground truth; mappings keep bytes (truth-mem/) only when small and not file-backed
 * Needs root, gcc, gdb and install-criu.sh's CRIU.
 */
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { FIXTURES_DIR, type FixtureName, REPO_ROOT, WORK_DIR, criuPath } from '../helpers/checkpoints.js';
import { capture, compileXstateProbe, run } from './lib/capture.js';
import type { MapsLine } from './lib/proc.js';

interface FixtureSpec {
  name: FixtureName;
  /** Sources, repository-relative; the first is compiled. Copied into src/ (unless already there). */
  sources: string[];
  flags: string[];
  /** Where the binary runs from (removed afterwards). */
  optDir: string;
  binaryName: string;
  processes: number;
}

const FIXTURES: readonly FixtureSpec[] = [
  {
    name: 'demo',
    sources: ['test/fixtures/demo/src/demo.c'],
    flags: ['-static-pie', '-pthread'],
    optDir: '/opt/criu-gdb-demo',
    binaryName: 'demo',
    processes: 1,
  },
  {
    name: 'pie-threads',
    sources: ['test/programs/named_threads.c', 'test/programs/common.h'],
    flags: ['-pthread'],
    optDir: '/opt/criu-gdb-pie-threads',
    binaryName: 'named_threads',
    processes: 1,
  },
  {
    name: 'avx512-zen4',
    sources: ['test/programs/avx_regs.c', 'test/programs/common.h'],
    flags: ['-static-pie'],
    optDir: '/opt/criu-gdb-avx512',
    binaryName: 'avx_regs',
    processes: 1,
  },
];

/** Largest mapping whose bytes a fixture keeps. */
const FIXTURE_MAX_MAPPING_BYTES = 64 * 1024;

function log(message: string): void {
  process.stdout.write(`make-fixtures: ${message}\n`);
}

/** Fixtures keep bytes of small mappings that are not plain views of a file (those are in rootfs or the system). */
function keepFixtureBytes(line: MapsLine): boolean {
  const size = Number(line.end - line.start);
  if (size > FIXTURE_MAX_MAPPING_BYTES) return false;
  const fileBacked = line.name.startsWith('/') && line.inode !== 0;
  return !fileBacked || line.perms.includes('w');
}

function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(path);
    else if (entry.isFile()) total += statSync(path).blocks * 512;
  }
  return total;
}

async function makeFixture(spec: FixtureSpec, criu: string): Promise<void> {
  const fixtureDir = join(FIXTURES_DIR, spec.name);
  const srcDir = join(fixtureDir, 'src');
  mkdirSync(srcDir, { recursive: true });
  for (const source of spec.sources) {
    const target = join(srcDir, basename(source));
    if (join(REPO_ROOT, source) !== target) copyFileSync(join(REPO_ROOT, source), target);
  }
  const mainSource = relative(REPO_ROOT, join(srcDir, basename(spec.sources[0] ?? '')));

  const staging = join(WORK_DIR, 'fixtures-staging', spec.name);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const built = join(staging, spec.binaryName);
  // Built from the repository root with relative paths, so the debug info names
  // test/fixtures/<name>/src/... and gdb finds the sources when run from the repository.
  const compileArgs = ['-O0', '-g', '-Wall', '-Wextra', `-fdebug-prefix-map=${REPO_ROOT}=.`, ...spec.flags, '-o', built, mainSource];
  run('gcc', compileArgs, { cwd: REPO_ROOT });

  rmSync(spec.optDir, { recursive: true, force: true });
  mkdirSync(spec.optDir, { recursive: true });
  const binary = join(spec.optDir, spec.binaryName);
  try {
    copyFileSync(built, binary);
    chmodSync(binary, 0o755);
    const outDir = join(staging, 'out');
    mkdirSync(outDir, { recursive: true });
    const truth = await capture({
      name: spec.name,
      source: mainSource,
      symbolSources: [join(REPO_ROOT, mainSource)],
      binary,
      compile: compileArgs.map((a) => (a === built ? binary : a)),
      args: [],
      cwd: spec.optDir,
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C',
        CRIU_GDB_PROGRAM: spec.name,
      },
      stdoutPath: join(spec.optDir, `${spec.binaryName}.out`),
      stderrPath: join(spec.optDir, `${spec.binaryName}.err`),
      expectedProcesses: spec.processes,
      outDir,
      imagesDir: 'checkpoint',
      memDir: 'truth-mem',
      keepBytes: keepFixtureBytes,
      criu,
      xstateProbe: compileXstateProbe(join(staging, 'bin')),
    });
    rmSync(join(outDir, 'checkpoint', 'dump.log'), { force: true });

    // Replace the generated parts of the fixture; src/ stays.
    for (const part of ['checkpoint', 'rootfs', 'truth-mem', 'truth.json']) {
      rmSync(join(fixtureDir, part), { recursive: true, force: true });
    }
    cpSync(join(outDir, 'checkpoint'), join(fixtureDir, 'checkpoint'), { recursive: true });
    if (existsSync(join(outDir, 'truth-mem'))) cpSync(join(outDir, 'truth-mem'), join(fixtureDir, 'truth-mem'), { recursive: true });
    copyFileSync(join(outDir, 'truth.json'), join(fixtureDir, 'truth.json'));
    const rootfsOpt = join(fixtureDir, 'rootfs', spec.optDir);
    mkdirSync(dirname(rootfsOpt), { recursive: true });
    cpSync(spec.optDir, rootfsOpt, { recursive: true });
    log(
      `${spec.name}: pid ${truth.rootPid}, ${truth.processes[0]?.threads.length ?? 0} threads, ` +
        `fixture ${(treeBytes(fixtureDir) / 1024).toFixed(0)} KiB on disk ` +
        `(checkpoint ${(treeBytes(join(fixtureDir, 'checkpoint')) / 1024).toFixed(0)} KiB, ` +
        `rootfs ${(treeBytes(join(fixtureDir, 'rootfs')) / 1024).toFixed(0)} KiB)`,
    );
  } finally {
    rmSync(spec.optDir, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('must run as root (criu dump needs it)');
  const wanted = process.argv.slice(2);
  const criu = criuPath();
  for (const spec of FIXTURES) {
    if (wanted.length > 0 && !wanted.includes(spec.name)) continue;
    await makeFixture(spec, criu);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`make-fixtures: error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
