/**
 * The npm package as a new user gets it: `npm pack`, then `npm install -g --prefix DIR` of the tarball
 * (from npm's cache when it can), then, from a read-only bind mount of that install:
 * - `criu-gdb --help`, `--version`, `gdbinit` and `demo` (gdb's backtraces of the bundled checkpoint against
 *   what gdb showed on the live process);
 * - gdb sourcing the installed plugin, `criu-load` on the installed demo checkpoint, `bt` against the truth;
 * - the plugin's advice when node is missing;
 * - `checkpointctl-gdb`, the checkpointctl plugin: its description, and gdb on a real container archive
 *   through it, directly and through a real checkpointctl when test/setup/prepare-tests.sh could build one;
 * - nothing is written into the installed package.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVES_DIR } from '../setup/make-archives.js';
import { REPO_ROOT, checkpointAvailability, loadFixtureTruth, loadTruth, type Truth } from '../helpers/checkpoints.js';
import { frameFunctions, threadBlocks } from '../helpers/gdb-session.js';

/** Where test/setup/prepare-tests.sh installs checkpointctl, and why it could not when it could not. */
const CHECKPOINTCTL = '/var/cache/criu-gdb/bin/checkpointctl';
const CHECKPOINTCTL_MISSING = '/var/cache/criu-gdb/checkpointctl.unavailable';

const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-package-'));
const prefix = join(scratch, 'prefix');
const home = join(scratch, 'home');
const installed = join(prefix, 'lib', 'node_modules', 'criu-gdb');
const bin = join(prefix, 'bin');
const gdbPath = execFileSync('sh', ['-c', 'command -v gdb'], { encoding: 'utf8' }).trim();
let tarball = '';
let readOnly: string | undefined;
let before: string[] = [];

/** Every file and directory of the install with its size and modification time. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => {
      const stat = statSync(join(dir, name));
      return `${name} ${stat.size} ${stat.mtimeMs}`;
    })
    .sort();
}

/** Runs an installed program with the install's bin first on PATH and an empty home (no ~/.gdbinit). */
function installedRun(program: string, args: readonly string[], env: Record<string, string> = {}) {
  return execa(program, args, { reject: false, timeout: 180_000, env: { HOME: home, PATH: `${bin}:${process.env['PATH'] ?? ''}`, ...env } });
}

/** Expects the threads of `output` (from `thread apply all bt`) to have the names and frames gdb showed live. */
function expectLiveBacktraces(output: string, truth: Truth): void {
  const blocks = threadBlocks(output);
  let threads = 0;
  for (const process of truth.processes) {
    for (const thread of threadBlocks(process.gdb.backtraces)) {
      const mine = blocks.find((b) => b.tid === thread.tid);
      expect(mine?.name, `thread ${thread.tid} name`).toBe(thread.name);
      expect(frameFunctions(mine?.body ?? ''), `thread ${thread.tid} frames`).toEqual(frameFunctions(thread.body));
      threads++;
    }
  }
  expect(threads).toBeGreaterThan(0);
}

beforeAll(async () => {
  mkdirSync(home);
  const pack = await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', scratch], { cwd: REPO_ROOT, reject: false });
  if (pack.exitCode !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  tarball = join(scratch, pack.stdout.trim().split('\n').pop()!);
  // From npm's cache alone when it has the dependencies, else asking the registry only for what it lacks.
  const install = (mode: string) => execa('npm', ['install', '--global', '--prefix', prefix, mode, '--no-audit', '--no-fund', tarball], { reject: false });
  let result = await install('--offline');
  if (result.exitCode !== 0) result = await install('--prefer-offline');
  if (result.exitCode !== 0) throw new Error(`npm install of the tarball failed: ${result.stderr}`);
  before = snapshot(installed);
  let mounted = false;
  try {
    execFileSync('mount', ['--bind', prefix, prefix], { stdio: 'pipe' });
    mounted = true;
    execFileSync('mount', ['-o', 'remount,bind,ro', prefix], { stdio: 'pipe' });
    readOnly = prefix;
  } catch (error) {
    if (mounted) execFileSync('umount', [prefix]);
    console.warn(`the package tests run on a writable install (a read-only bind mount failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}); they still check that nothing is written`);
  }
}, 300_000);

afterAll(() => {
  if (readOnly) execFileSync('umount', [readOnly]);
  rmSync(scratch, { recursive: true, force: true });
});

describe('the packed and installed package', { timeout: 180_000 }, () => {
  it('holds the compiled schema, the demo checkpoint and the plugin, and no source maps', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const file of ['dist/schema.json', 'dist/gdb-commands.json', 'test/fixtures/demo/checkpoint/pstree.img', 'test/fixtures/demo/rootfs/opt/criu-gdb-demo/demo', 'gdb-plugin/criu_gdb.py', 'bin/checkpointctl-gdb']) {
      expect(files).toContain(`package/${file}`);
    }
    expect(files.filter((file) => file.endsWith('.map') || file.includes('__pycache__'))).toEqual([]);
    const scripts = files.filter((file) => file.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(50);
    for (const file of scripts) expect(readFileSync(join(installed, file.slice('package/'.length)), 'utf8'), file).not.toContain('sourceMappingURL');
    if (readOnly) expect(readFileSync('/proc/self/mountinfo', 'utf8')).toMatch(new RegExp(` ${readOnly.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ro[,\\s]`));
  });

  it('criu-gdb --help, --version and gdbinit', async () => {
    const help = await installedRun('criu-gdb', ['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('  criu-gdb ps DIR [--json]');
    const version = await installedRun('criu-gdb', ['--version']);
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout).toBe(`criu-gdb ${manifest.version}`);
    const gdbinit = await installedRun('criu-gdb', ['gdbinit']);
    expect(gdbinit.exitCode).toBe(0);
    expect(gdbinit.stdout).toBe(`source ${join(installed, 'gdb-plugin', 'criu_gdb.py')}`);
  });

  it('criu-gdb demo opens the bundled checkpoint in gdb: the live threads and frames', async () => {
    const demo = await installedRun('criu-gdb', ['demo']);
    expect(demo.stderr).toBe('');
    expect(demo.exitCode).toBe(0);
    expect(demo.stdout).toContain(`criu-gdb ps ${join(installed, 'test', 'fixtures', 'demo', 'checkpoint')}`);
    expectLiveBacktraces(demo.stdout, loadFixtureTruth('demo'));
  });

  it('gdb sources the installed plugin and criu-load opens the installed demo checkpoint', async () => {
    const demo = join(installed, 'test', 'fixtures', 'demo');
    const truth = loadFixtureTruth('demo');
    const leader = truth.processes[0]!;
    const gdb = await installedRun(gdbPath, ['-nx', '-batch', '-ex', 'set pagination off', '-ex', `source ${join(installed, 'gdb-plugin', 'criu_gdb.py')}`, '-ex', `criu-load ${join(demo, 'checkpoint')} --root ${join(demo, 'rootfs')}`, '-ex', 'thread apply all bt']);
    expect(gdb.stderr).toBe('');
    expect(gdb.exitCode).toBe(0);
    expectLiveBacktraces(gdb.stdout, truth);
    expect(gdb.stdout).toContain(`"${leader.comm}"`);
  });

  it('the plugin tells how to give it node when node is not on PATH', async () => {
    const gdb = await installedRun(gdbPath, ['-nx', '-batch', '-ex', `source ${join(installed, 'gdb-plugin', 'criu_gdb.py')}`, '-ex', `criu-load ${join(installed, 'test', 'fixtures', 'demo', 'checkpoint')}`], { PATH: join(scratch, 'no-bin') });
    expect(gdb.stderr).toBe('criu-gdb needs Node.js 20 or newer: node is not on PATH (install it, or set CRIU_GDB_NODE to the node program)');
  });

  it('checkpointctl-gdb answers --plugin-description with one line and exit status 42', async () => {
    const description = await installedRun('checkpointctl-gdb', ['--plugin-description']);
    expect(description.exitCode).toBe(42);
    expect(description.stdout).toBe('Open a checkpoint in gdb, one inferior per process (criu-gdb)');
    const bare = await installedRun('checkpointctl-gdb', []);
    expect(bare.exitCode).toBe(1);
    expect(bare.stderr.split('\n')[0]).toBe('Usage: checkpointctl gdb DIR|ARCHIVE [--root PATH] [--pid N] [-- GDBARGS...]');
    const noNode = await installedRun(join(bin, 'checkpointctl-gdb'), [join(installed, 'test', 'fixtures', 'demo', 'checkpoint')], { PATH: join(scratch, 'no-bin') });
    expect(noNode.exitCode).toBe(2);
    expect(noNode.stderr).toBe('checkpointctl-gdb: criu-gdb needs Node.js 20 or newer: node is not on PATH (install it, or set CRIU_GDB_NODE to the node program)');
  });

  const archiveSubject = checkpointAvailability('fork_tree');
  const archive = join(ARCHIVES_DIR, 'fork_tree', 'fork_tree.tar.zst');
  const baseRoot = join(ARCHIVES_DIR, 'fork_tree', 'base-rootfs');
  const gdbArgs = ['--', '-batch', '-iex', 'set pagination off', '-ex', 'thread apply all bt'];

  it.skipIf(!archiveSubject.available)('checkpointctl-gdb ARCHIVE opens the container checkpoint in gdb: the live backtraces', async () => {
    const result = await installedRun('checkpointctl-gdb', [archive, '--root', baseRoot, ...gdbArgs]);
    expect(result.exitCode).toBe(0);
    expectLiveBacktraces(result.stdout, loadTruth('fork_tree'));
  });

  const checkpointctl = existsSync(CHECKPOINTCTL);
  if (!checkpointctl) {
    const why = existsSync(CHECKPOINTCTL_MISSING) ? readFileSync(CHECKPOINTCTL_MISSING, 'utf8').trim() : 'test/setup/prepare-tests.sh has not tried to build it';
    console.warn(`skipping the tests through a real checkpointctl: ${CHECKPOINTCTL} is not installed (${why})`);
  }

  it.skipIf(!checkpointctl)('checkpointctl lists the gdb plugin with its description', async () => {
    const help = await installedRun(CHECKPOINTCTL, ['--help']);
    expect(help.stdout).toMatch(/^\s+gdb\s+Open a checkpoint in gdb, one inferior per process \(criu-gdb\)$/m);
    const list = await installedRun(CHECKPOINTCTL, ['plugin', 'list']);
    expect(list.stdout).toMatch(/^\s+gdb\s+Open a checkpoint in gdb, one inferior per process \(criu-gdb\)$/m);
    expect(list.stdout).toContain(join(bin, 'checkpointctl-gdb'));
  });

  it.skipIf(!checkpointctl || !archiveSubject.available)('checkpointctl gdb ARCHIVE opens the container checkpoint in gdb: the live backtraces', async () => {
    const result = await installedRun(CHECKPOINTCTL, ['gdb', archive, '--root', baseRoot, ...gdbArgs]);
    expect(result.exitCode).toBe(0);
    expectLiveBacktraces(result.stdout, loadTruth('fork_tree'));
  });

  it('wrote nothing into the installed package', () => {
    expect(snapshot(installed)).toEqual(before);
  });
});
