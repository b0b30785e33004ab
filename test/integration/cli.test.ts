/**
 * The criu-gdb command as a user runs it (the built binary, through execa), on the committed fixtures and on
 * damaged copies of them: output, --json shapes, one-line errors and exit statuses.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { ARCHIVES_DIR } from '../setup/make-archives.js';
import { commands } from '../../src/cli/commands/index.js';
import { loadedModules, moduleLogArgs } from '../helpers/module-log.js';
import { REPO_ROOT, checkpointAvailability, findSymbol, fixtureImagesDir, fixtureRootfs, loadFixtureTruth, parseAddress, rootProcess } from '../helpers/checkpoints.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const demo = fixtureImagesDir('demo');
const demoRoot = fixtureRootfs('demo');
const truth = loadFixtureTruth('demo');
const live = rootProcess(truth);
const scratch: string[] = [];
afterAll(() => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function criuGdb(...args: string[]) {
  return execa('node', [CLI, ...args], { reject: false });
}

/** The usage entries of `criu-gdb --help`: each command's usage, its wrapped lines joined. */
function helpUsages(help: string): string[] {
  const usages: string[] = [];
  for (const line of help.split('\n')) {
    if (line.startsWith('  criu-gdb ')) usages.push(line.trim());
    else if (line.startsWith('        ') && usages.length > 0) usages[usages.length - 1] += ` ${line.trim()}`;
  }
  return usages;
}

/** A copy of the demo checkpoint with `image` replaced by what `damage` makes of it. */
function damagedCopy(image: string, damage: (bytes: Buffer) => Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-cli-'));
  scratch.push(dir);
  cpSync(demo, dir, { recursive: true });
  writeFileSync(join(dir, image), damage(readFileSync(join(dir, image))));
  return dir;
}

describe('criu-gdb ps', () => {
  it('prints the tree with command lines and thread names', async () => {
    const result = await criuGdb('ps', demo);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^PID\s+PPID\s+STATE\s+THREADS\s+COMMAND$/);
    expect(lines[1]).toMatch(new RegExp(`^${live.pid}\\s+\\d+\\s+stopped\\s+3\\s+${live.cmdline.join(' ')}$`));
    for (const thread of live.threads) expect(result.stdout).toContain(`thread ${thread.tid} ${thread.name}`);
  });

  it('prints the documented JSON shape', async () => {
    const result = await criuGdb('ps', demo, '--json');
    expect(result.exitCode).toBe(0);
    const parsed: unknown = JSON.parse(result.stdout);
    expect(parsed).toEqual([
      {
        pid: live.pid,
        ppid: expect.any(Number),
        pgid: live.pgid,
        sid: live.sid,
        state: 'stopped',
        comm: live.comm,
        exe: live.exe,
        cmdline: live.cmdline,
        threads: live.threads.map((t) => ({ tid: t.tid, name: t.name })),
      },
    ]);
  });
});

describe('criu-gdb maps, fds, info, read', { timeout: 60_000 }, () => {
  it('maps lists every mapping with where its pages are', async () => {
    const result = await criuGdb('maps', demo, '--root', demoRoot, '--json');
    const [view] = JSON.parse(result.stdout) as Array<{ pid: number; mappings: Array<{ start: string; name: string; kind: string; pages: Record<string, number>; unavailable?: string }> }>;
    expect(view!.pid).toBe(live.pid);
    const heap = view!.mappings.find((m) => m.name === '[heap]');
    expect(heap?.kind).toBe('heap');
    expect(heap!.pages['present']).toBeGreaterThan(0);
    const vvar = view!.mappings.find((m) => m.name === '[vvar]');
    expect(vvar?.unavailable).toBe('the kernel vvar area is never dumped');
    const text = await criuGdb('maps', demo, '--root', demoRoot);
    expect(text.stdout).toMatch(/^pid \d+ \(demo\)\nADDRESS\s+PERMS\s+OFFSET\s+KIND\s+PRESENT\s+PARENT\s+LAZY\s+ZERO\s+FILE\s+MISSING\s+NAME/);
    expect(text.stdout).toContain('/opt/criu-gdb-demo/demo');
  });

  it('fds shows the names /proc/PID/fd showed, with cwd', async () => {
    const result = await criuGdb('fds', demo);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`cwd ${live.cwd}`);
    for (const fd of live.fds) expect(result.stdout).toMatch(new RegExp(`^${fd.fd}\\s+\\S+\\s+\\S+\\s+${fd.target.replace(/[[\]]/g, '\\$&')}`, 'm'));
  });

  it('info summarizes architecture, processes and threads', async () => {
    const result = await criuGdb('info', demo, '--json');
    const summary = JSON.parse(result.stdout) as { architecture: string; processes: number; threads: number; memory: { pages: { present: number } } };
    expect(summary.architecture).toBe('x86_64');
    expect(summary.processes).toBe(1);
    expect(summary.threads).toBe(3);
    expect(summary.memory.pages.present).toBeGreaterThan(0);
  });

  it('read dumps a global by address', async () => {
    const symbol = findSymbol(live, 'g_store_name');
    const result = await criuGdb('read', demo, '--root', demoRoot, symbol.address, '32');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('|criu-gdb corner |');
    expect(result.stdout).toContain('|shop');
    const json = await criuGdb('read', demo, '--root', demoRoot, '--json', symbol.address, '20');
    expect(Buffer.from((JSON.parse(json.stdout) as { hex: string }).hex, 'hex').toString()).toBe('criu-gdb corner shop');
  });

  it('read marks unavailable bytes with ?? and says why', async () => {
    const vvar = live.maps.find((m) => m.name === '[vvar]')!;
    const start = parseAddress(vvar.start) - 8n;
    const result = await criuGdb('read', demo, `0x${start.toString(16)}`, '16');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/\?\? \?\? \?\? \?\?/);
    expect(result.stdout).toContain(`unavailable ${vvar.start}-0x${(parseAddress(vvar.start) + 8n).toString(16)}: the kernel vvar area is never dumped`);
  });

  it('read --json writes ?? in "hex" for the bytes the checkpoint does not hold, never 00', async () => {
    const vvar = live.maps.find((m) => m.name === '[vvar]')!;
    const start = parseAddress(vvar.start) - 8n;
    const result = await criuGdb('read', demo, '--json', `0x${start.toString(16)}`, '16');
    expect(result.exitCode).toBe(0);
    const json = JSON.parse(result.stdout) as { hex: string; length: number; unavailable: { start: string; end: string }[] };
    expect(json.length).toBe(16);
    expect(json.hex).toHaveLength(32);
    // The 8 bytes before [vvar] are held (hex digits), the 8 in it are not (??).
    expect(json.hex.slice(0, 16)).toMatch(/^[0-9a-f]{16}$/);
    expect(json.hex.slice(16)).toBe('??'.repeat(8));
    expect(json.unavailable).toEqual([expect.objectContaining({ start: vvar.start })]);
  });
});

describe('errors and exit statuses', { timeout: 60_000 }, () => {
  it('exits 1 with a usage line for an unknown option or command', async () => {
    const option = await criuGdb('ps', demo, '--frobnicate');
    expect(option.exitCode).toBe(1);
    expect(option.stderr.split('\n')[0]).toBe('criu-gdb: unknown option --frobnicate');
    const command = await criuGdb('frobnicate');
    expect(command.exitCode).toBe(1);
    expect(command.stderr).toContain("criu-gdb: unknown command 'frobnicate'");
  });

  it('exits 2 for a directory that does not exist', async () => {
    const result = await criuGdb('ps', '/nonexistent/dump');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe('criu-gdb: /nonexistent/dump: no such checkpoint directory');
  });

  it('names the damaged image in one line and exits 2', async () => {
    const core = `core-${live.pid}.img`;
    const truncated = damagedCopy(core, (bytes) => bytes.subarray(0, bytes.length - 10));
    const result = await criuGdb('ps', truncated);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^criu-gdb: ${core}: entry of \\d+ bytes runs past the end of the file \\(\\d+ bytes left\\) \\(at offset 8\\)$`));
    const wrongMagic = damagedCopy('pstree.img', (bytes) => Buffer.concat([bytes.subarray(0, 4), Buffer.from([1, 2, 3, 4]), bytes.subarray(8)]));
    const magic = await criuGdb('info', wrongMagic);
    expect(magic.exitCode).toBe(2);
    expect(magic.stderr).toBe('criu-gdb: pstree.img: has magic 0x04030201, expected 0x50273030 (at offset 4)');
  });

  it('prints help for every command', async () => {
    const main = await criuGdb('--help');
    expect(main.exitCode).toBe(0);
    for (const name of ['info', 'ps', 'maps', 'fds', 'read']) {
      expect(main.stdout).toContain(`criu-gdb ${name} `);
      const help = await criuGdb('help', name);
      expect(help.stdout).toMatch(new RegExp(`^Usage: criu-gdb ${name} `));
      expect(help.stdout).toContain('--json');
    }
  });
});

describe('usage, version, help and one-line errors', { timeout: 60_000 }, () => {
  const packageVersion = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it('bare criu-gdb is a usage error: the short usage on stderr, nothing on stdout, exit 1', async () => {
    const result = await criuGdb();
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe('Usage: criu-gdb COMMAND DIR|ARCHIVE [ARGS...]');
    expect(result.stderr).toContain("Try 'criu-gdb --help'");
  });

  it('--version prints the version of package.json', async () => {
    const result = await criuGdb('--version');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(`criu-gdb ${packageVersion}`);
  });

  it('--help fits 80 columns and lists every command', async () => {
    const result = await criuGdb('--help');
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.filter((line) => line.length > 80)).toEqual([]);
    const usages = helpUsages(result.stdout);
    for (const name of ['info', 'ps', 'maps', 'fds', 'read', 'search', 'show', 'inspect', 'coredump', 'gdbinit', 'demo']) {
      expect(usages.some((usage) => usage.startsWith(`criu-gdb ${name} `) || usage === `criu-gdb ${name}`)).toBe(true);
    }
    expect(usages).toContain('criu-gdb DIR [--root PATH] [--pid N] [-- GDBARGS...]');
    // Every command's own help fits too.
    for (const name of ['coredump', 'gdbinit', 'demo', 'gdb', 'info', 'ps', 'maps', 'fds', 'read', 'search', 'show', 'inspect', 'memory', 'diff', 'list']) {
      const help = await criuGdb('help', name);
      expect(help.stdout.split('\n').filter((line) => line.length > 80), name).toEqual([]);
    }
  });

  it('--json is accepted by exactly the commands whose usage in --help shows it', async () => {
    const help = (await criuGdb('--help')).stdout;
    expect(help).not.toMatch(/every command takes --json/i);
    const usages = helpUsages(help);
    expect(usages.length).toBeGreaterThanOrEqual(12);
    const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-cli-json-'));
    for (const usage of usages) {
      const words = usage.split(' ');
      const name = words[1]!;
      // Each command is run on the demo with --json; only "unknown option --json" tells that it is refused.
      const argv = name === 'DIR' ? [demo, '--json', '--', '-batch'] : name === 'gdbinit' || name === 'demo' ? [name, '--json'] : [name, demo, ...(name === 'read' ? ['0x1000', '1'] : name === 'search' ? ['x'] : name === 'coredump' ? ['-o', scratch] : []), '--json'];
      const result = await execa('node', [CLI, ...argv], { reject: false, env: { HOME: scratch }, timeout: 60_000 });
      const refused = result.stderr.includes('unknown option --json');
      expect({ usage, refused }).toEqual({ usage, refused: !usage.includes('[--json]') });
    }
    rmSync(scratch, { recursive: true, force: true });
  }, 120_000);

  it('the launcher refuses what is not a checkpoint in one line, exit 2, without starting gdb', async () => {
    const notCheckpoint = mkdtempSync(join(tmpdir(), 'criu-gdb-cli-'));
    scratch.push(notCheckpoint);
    const file = join(notCheckpoint, 'notes.txt');
    writeFileSync(file, 'not a checkpoint\n');
    for (const [path, reason] of [
      [notCheckpoint, `criu-gdb: ${notCheckpoint}: not a CRIU checkpoint (no inventory.img or pstree.img)`],
      [file, `criu-gdb: ${file}: not a checkpoint directory or a checkpoint archive (tar, tar.gz or tar.zst): not a tar archive`],
      [join(notCheckpoint, 'missing'), `criu-gdb: ${join(notCheckpoint, 'missing')}: no such checkpoint directory`],
    ] as const) {
      const result = await execa('node', [CLI, path], { reject: false, input: 'info inferiors\n', timeout: 60_000 });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toBe(reason);
      expect(result.stdout).toBe('');
    }
  });

  it('the launcher starts gdb without loading the other commands or the views; a command loads them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-cli-'));
    scratch.push(dir);
    // `true` stands in for gdb: what is measured is what the launcher loads before it starts gdb.
    const launchLog = join(dir, 'launch');
    const launched = await execa('node', [...moduleLogArgs(launchLog), CLI, demo, '--root', demoRoot, '--', '-batch'], { reject: false, env: { CRIU_GDB_GDB: 'true' } });
    expect(launched.exitCode).toBe(0);
    const launcher = loadedModules(launchLog);
    expect(launcher).toContain('cli/commands/launch.js');
    expect(launcher.filter((module) => module.startsWith('views/') && !['views/args.js', 'views/format.js', 'views/view.js', 'views/wrap.js'].includes(module))).toEqual([]);
    expect(launcher.filter((module) => module.startsWith('export/') || ['cli/run.js', 'cli/commands/index.js'].includes(module))).toEqual([]);
    // The launcher takes a word with a slash for a path without asking which commands there are.
    expect(commands.filter((command) => command.name.includes('/'))).toEqual([]);
    const commandLog = join(dir, 'command');
    const listed = await execa('node', [...moduleLogArgs(commandLog), CLI, 'ps', demo, '--root', demoRoot], { reject: false });
    expect(listed.exitCode).toBe(0);
    expect(loadedModules(commandLog)).toEqual(expect.arrayContaining(['cli/run.js', 'cli/commands/index.js', 'views/index.js']));
  });

  it('a bad --regex names the pattern and the reason, not JavaScript internals', async () => {
    const result = await criuGdb('search', demo, '[', '--regex');
    expect(result.exitCode).toBe(1);
    expect(result.stderr.split('\n')[0]).toBe("criu-gdb: not a valid regular expression '[': unterminated character class");
    expect(result.stderr).not.toContain('/[/');
  });

  const archiveAvailability = checkpointAvailability('fork_tree');
  it.skipIf(!archiveAvailability.available)('a container checkpoint without --root says its warning once', async () => {
    const archive = join(ARCHIVES_DIR, 'fork_tree', 'fork_tree.tar');
    const warning = "container checkpoint opened without --root: the container image's files are looked up under / of this machine";
    for (const command of ['ps', 'info', 'show', 'inspect', 'maps']) {
      const result = await criuGdb(command, archive);
      expect(result.exitCode).toBe(0);
      expect({ command, count: `${result.stdout}\n${result.stderr}`.split(warning).length - 1 }).toEqual({ command, count: 1 });
    }
  });
});
