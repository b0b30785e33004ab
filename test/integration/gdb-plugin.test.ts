/**
 * The gdb plugin end to end, on every gdb of the version matrix (13, 16 and 18): real gdb in batch mode
 * sources gdb-plugin/criu_gdb.py, which starts the built helper (dist/src/rpc/main.js) and connects inferiors
 * to its Unix sockets. Nothing is mocked.
 * Needs `npm run build` first (npm test does it).
 */
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gdbinitCommand, gdbinitLine } from '../../src/cli/commands/gdbinit.js';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { REPO_ROOT, findSymbol, fixtureImagesDir, fixtureRootfs, imagesDir, loadFixtureTruth, loadTruth, rootProcess } from '../helpers/checkpoints.js';

const PLUGIN = join(REPO_ROOT, 'gdb-plugin', 'criu_gdb.py');
const HELPER = join(REPO_ROOT, 'dist', 'src', 'rpc', 'main.js');
const demo = fixtureImagesDir('demo');
const demoRoot = fixtureRootfs('demo');
const live = rootProcess(loadFixtureTruth('demo'));
const LOAD_DEMO = `criu-load ${demo} --root ${demoRoot}`;
const READ_ONLY = 'the checkpoint is read-only';
/** The gdb that the tests of the running describe block use (set by its beforeAll). */
let currentGdb = 'gdb';

const scratch: string[] = [];
function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}
afterAll(() => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

interface GdbOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Source the plugin with -iex (default true). */
  plugin?: boolean;
  /** Pass -nx (default true). */
  nx?: boolean;
  /** More gdb arguments, after the commands. */
  extraArgs?: readonly string[];
}

/** Runs gdb in batch mode with the plugin and `commands` as -ex arguments. */
function gdbArgs(commands: readonly string[], options: GdbOptions = {}): string[] {
  return [
    '-q',
    ...(options.nx === false ? [] : ['-nx']),
    '-batch',
    ...(options.plugin === false ? [] : ['-iex', `source ${PLUGIN}`]),
    ...commands.flatMap((command) => ['-ex', command]),
    ...(options.extraArgs ?? []),
  ];
}

async function gdb(commands: readonly string[], options: GdbOptions = {}) {
  const runtime = scratchDir('criu-gdb-xdg-');
  const result = await execa(currentGdb, gdbArgs(commands, options), {
    reject: false,
    cwd: options.cwd ?? tmpdir(),
    env: { XDG_RUNTIME_DIR: runtime, ...options.env },
    timeout: 60_000,
  });
  const all = `${result.stdout}\n${result.stderr}`;
  expect(all).not.toMatch(/Traceback|Python Exception|internal error/);
  // Every session the helper made is gone once gdb has exited.
  expect(readdirSync(runtime)).toEqual([]);
  return result;
}

/** Whether a process exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const version of gdbMatrix()) {
  warnIfUnavailable(version);
  describe.skipIf(!version.available)(`the plugin on ${version.label}`, () => {
    beforeAll(() => {
      currentGdb = version.command;
    });

    describe('criu-load on the demo fixture', () => {
      it('builds the helper first', () => {
        expect(existsSync(HELPER), `${HELPER} is missing: run npm run build`).toBe(true);
      });

      it('connects one inferior, with symbols, threads and memory', async () => {
        const address = findSymbol(live, 'g_store_name').address;
        const result = await gdb([LOAD_DEMO, 'info inferiors', 'info threads', 'bt', 'x/s &g_store_name', `x/s ${address}`]);
        expect(result.exitCode).toBe(0);
        expect(result.stderr).toBe('');
        expect(result.stdout).toContain(`inferior 1: pid ${live.pid} (${live.comm}), ${live.threads.length} threads`);
        expect(result.stdout).toMatch(new RegExp(`^\\* 1\\s+process ${live.pid}\\s+\\d+ \\(remote \\S+/${live.pid}\\.sock\\)`, 'm'));
        for (const thread of live.threads) expect(result.stdout).toContain(`"${thread.name}"`);
        expect(result.stdout).toMatch(/in wait_for_customers \(opening_hour=9\) at test\/fixtures\/demo\/src\/demo\.c:\d+/);
        expect(result.stdout).toContain('<g_store_name>:\t"criu-gdb corner shop"');
      }, 60_000);

      it('works when sourced from another directory, and twice', async () => {
        const result = await gdb([`source ${PLUGIN}`, LOAD_DEMO, 'info inferiors'], { cwd: '/' });
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toMatch(new RegExp(`process ${live.pid}`));
      }, 60_000);

      it('loads with `set debug remote 1`, whose captured packets are not UTF-8', async () => {
        const result = await gdb(['set debug remote 1', LOAD_DEMO, 'set debug remote 0', 'info inferiors', 'x/s &g_store_name']);
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toMatch(new RegExp(`^\\* 1\\s+process ${live.pid}\\s`, 'm'));
        expect(result.stdout).toContain('<g_store_name>:\t"criu-gdb corner shop"');
      }, 60_000);

      it('loads when a Python script sources it: gdb -x script.py, and gdb.execute from Python', async () => {
        const dir = scratchDir('criu-gdb-loader-');
        const loader = join(dir, 'loader.py');
        writeFileSync(loader, `import gdb\ngdb.execute("source ${PLUGIN}")\ngdb.execute("${LOAD_DEMO}")\ngdb.execute("info inferiors")\n`);
        for (const args of [['-x', loader], ['-ex', `python exec(open("${loader}").read())`]]) {
          const result = await gdb([], { plugin: false, cwd: dir, extraArgs: args });
          expect(result.stderr).not.toMatch(/ModuleNotFoundError|No module named/);
          expect(result.stdout).toMatch(new RegExp(`^\\* 1\\s+process ${live.pid}\\s`, 'm'));
        }
      }, 60_000);

      it('has criu ps, fds, maps, info and search, and help criu lists them', async () => {
        const address = findSymbol(live, 'g_store_name').address;
        const result = await gdb([
          'help criu',
          LOAD_DEMO,
          'echo ==ps\\n',
          'criu ps',
          'echo ==fds\\n',
          'criu fds',
          'echo ==maps\\n',
          'criu maps --json',
          'echo ==info\\n',
          'criu info',
          'echo ==search\\n',
          'criu search criu-gdb corner shop',
          `criu search --hex "${Buffer.from('corner').toString('hex')}"`,
          `x/s ${address}`,
          'echo ==status\\n',
          'criu',
        ]);
        expect(result.exitCode).toBe(0);
        expect(result.stderr).toBe('');
        const section = (name: string): string => result.stdout.split(`==${name}\n`)[1]!.split('\n==')[0]!;
        for (const sub of ['diff', 'fds', 'info', 'load', 'maps', 'memory', 'ps', 'search', 'unload']) expect(result.stdout).toMatch(new RegExp(`^criu ${sub} -- `, 'm'));
        expect(result.stdout).toContain('criu-load DIR [--root PATH] [--pid N]');
        expect(section('ps')).toMatch(new RegExp(`^${live.pid}\\s+\\d+\\s+stopped\\s+3\\s+${live.cmdline.join(' ')}$`, 'm'));
        for (const thread of live.threads) expect(section('ps')).toContain(`thread ${thread.tid} ${thread.name}`);
        expect(section('fds')).toContain(`pid ${live.pid} (${live.comm})`);
        expect((JSON.parse(section('maps')) as Array<{ pid: number }>).map((m) => m.pid)).toEqual([live.pid]);
        expect(section('info')).toMatch(/x86_64/);
        expect(section('search')).toContain(`${live.pid} ${address}  ${live.exe}  |`);
        expect(section('search')).toContain(`${live.pid} 0x${(BigInt(address) + 9n).toString(16)}  ${live.exe}  |`);
        expect(section('search')).toContain('"criu-gdb corner shop"');
        expect(section('status')).toContain(`inferior 1: pid ${live.pid}`);
      }, 60_000);

      it('completes file names for DIR and --root, and option names', async () => {
        const result = await gdb(['complete criu-load test/fixtures/de', 'complete criu-load --r', `complete criu-load ${demo} --root test/fixtures/demo/ro`], { cwd: REPO_ROOT });
        expect(result.stdout.split('\n')).toEqual(expect.arrayContaining(['criu-load test/fixtures/demo/', 'criu-load --root', `criu-load ${demo} --root test/fixtures/demo/rootfs/`]));
      }, 60_000);
    });

    describe('read-only', () => {
      const commands = ['continue', 'c', 'step', 'next', 'stepi', 'nexti', 'finish', 'until', 'advance 1', 'jump 1', 'run', 'start', 'signal SIGINT', 'kill'];

      it(`refuses every command that would run the process with "${READ_ONLY}"`, async () => {
        const result = await gdb([LOAD_DEMO, ...commands, 'info inferiors']);
        expect(result.exitCode).toBe(0);
        const lines = result.stderr.split('\n');
        expect(lines).toHaveLength(commands.length);
        commands.forEach((command, i) => {
          expect(lines[i]).toBe(`${READ_ONLY}: '${{ c: 'continue' }[command] ?? command.split(' ')[0]}' is refused for pid ${live.pid} (criu-unload ends the session)`);
        });
        // Still connected and stopped where it was.
        expect(result.stdout).toMatch(new RegExp(`^\\* 1\\s+process ${live.pid}`, 'm'));
      }, 60_000);

      it("keeps the user's own hooks, after the check", async () => {
        const result = await gdb([
          'python gdb.execute("define hook-next\\necho user hook\\\\n\\nend")',
          LOAD_DEMO,
          'next',
          'criu-unload',
          'next',
          'show user hook-next',
        ]);
        expect(result.stderr.split('\n')).toEqual([
          `${READ_ONLY}: 'next' is refused for pid ${live.pid} (criu-unload ends the session)`,
          'The program is not being run.',
        ]);
        expect(result.stdout).toContain('user hook\nUser command "hook-next":\n  if $_criu_check_writable("next")\n  end\n  echo user hook\\n\n');
      }, 60_000);

      it('leaves other inferiors alone, and everything after criu-unload', async () => {
        const result = await gdb([LOAD_DEMO, 'add-inferior -no-connection', 'inferior 2', 'file /bin/true', 'run', 'criu-unload', 'inferior 1', 'file /bin/true', 'run']);
        expect(result.stderr).not.toContain(READ_ONLY);
        // Resuming any inferior makes gdb insert breakpoints in every live inferior, the checkpoint's too:
        // the stub must accept Z0 (there is nothing to run, so nothing needs writing).
        expect(result.stderr).not.toContain('Cannot insert breakpoint');
        expect(result.stdout).toMatch(/\[Inferior 2 \(process \d+\) exited normally\]/);
        expect(result.stdout).toMatch(/\[Inferior 1 \(process \d+\) exited normally\]/);
      }, 60_000);
    });

    describe('errors are one line and gdb stays usable', () => {
      it('reports a missing directory and bad usage, then runs the next command (exit 0)', async () => {
        const result = await gdb(['criu-load /nonexistent/dump', 'criu-load', `criu-load ${demo} --pid nine`, `criu-load ${demo} --root /nonexistent/root`, 'criu ps', 'criu-unload', 'echo still here\\n']);
        expect(result.exitCode).toBe(0);
        expect(result.stderr.split('\n')).toEqual([
          '/nonexistent/dump: no such checkpoint directory',
          'usage: criu-load DIR [--root PATH] [--pid N] [--build-id-dir PATH] [--remote-files]',
          '--pid needs a number, not nine',
          '--root /nonexistent/root: no such directory',
          'no checkpoint is loaded (use criu-load DIR)',
          'no checkpoint is loaded',
        ]);
        expect(result.stdout).toBe('still here');
      }, 60_000);

      it("passes a damaged image's message verbatim and leaves nothing behind", async () => {
        const damaged = scratchDir('criu-gdb-damaged-');
        cpSync(demo, damaged, { recursive: true });
        const core = join(damaged, `core-${live.pid}.img`);
        truncateSync(core, statSync(core).size - 10);
        const result = await gdb([`criu-load ${damaged} --root ${demoRoot}`, 'info inferiors', LOAD_DEMO, 'info inferiors']);
        expect(result.exitCode).toBe(0);
        expect(result.stderr).toMatch(new RegExp(`^core-${live.pid}\\.img: entry of \\d+ bytes runs past the end of the file \\(\\d+ bytes left\\) \\(at offset 8\\)$`));
        // The failed load left inferior 1 empty; the next load works.
        expect(result.stdout).toMatch(/^\* 1\s+<null>\s*$/m);
        expect(result.stdout).toMatch(new RegExp(`^\\* 1\\s+process ${live.pid}`, 'm'));
      }, 60_000);

      it('prints the warnings the helper raises while rendering a view, once, as the CLI does', async () => {
        const partial = scratchDir('criu-gdb-no-fs-');
        cpSync(demo, partial, { recursive: true });
        rmSync(join(partial, `fs-${live.pid}.img`));
        const result = await gdb([`criu-load ${partial} --root ${demoRoot}`, 'echo ==first\\n', 'criu fds', 'echo ==second\\n', 'criu fds']);
        expect(result.exitCode).toBe(0);
        const [, first = '', second = ''] = result.stdout.split(/^==(?:first|second)$/m);
        const warning = `warning: fs-${live.pid}.img: image is missing`;
        expect(first.split('\n')).toContain(warning);
        expect(second).not.toContain(warning);
        expect(first).toContain(`pid ${live.pid} (${live.comm})  cwd ?  root ?`);
        const cli = await execa('node', [join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'), 'fds', partial, '--root', demoRoot], { reject: false });
        expect(cli.stderr).toBe(`criu-gdb: ${warning}`);
      }, 60_000);

      it('refuses gdb older than 13', async () => {
        const result = await gdb(['python gdb.VERSION = "12.1"', LOAD_DEMO]);
        expect(result.stderr).toBe('criu-load needs gdb 13 or newer (this is gdb 12.1)');
      }, 60_000);

      it('says so when the helper cannot start, crashes at start-up or does not answer', async () => {
        const bin = scratchDir('criu-gdb-fake-node-');
        const crash = join(bin, 'crash');
        writeFileSync(crash, '#!/bin/sh\necho "something went wrong" >&2\necho "fatal: cannot go on" >&2\nexit 3\n');
        const hang = join(bin, 'hang');
        writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
        chmodSync(crash, 0o755);
        chmodSync(hang, 0o755);
        const missing = await gdb([LOAD_DEMO], { env: { CRIU_GDB_NODE: join(bin, 'no-such-node') } });
        expect(missing.stderr).toBe(`cannot start the criu-gdb helper (${join(bin, 'no-such-node')}): No such file or directory`);
        const crashed = await gdb([LOAD_DEMO, 'info inferiors'], { env: { CRIU_GDB_NODE: crash } });
        expect(crashed.stderr).toBe('criu-gdb helper exited: fatal: cannot go on');
        expect(crashed.stdout).toMatch(/^\* 1\s+<null>\s*$/m);
        const started = Date.now();
        const hung = await gdb([LOAD_DEMO, 'echo usable\\n'], { env: { CRIU_GDB_NODE: hang, CRIU_GDB_TIMEOUT: '1' } });
        expect(hung.stderr).toBe("criu-gdb helper did not answer 'open' within 1 seconds");
        expect(hung.stdout).toBe('usable');
        expect(Date.now() - started).toBeLessThan(15_000);
      }, 60_000);

      it('says to run npm install when the helper is not built', async () => {
        const project = scratchDir('criu-gdb-unbuilt-');
        cpSync(join(REPO_ROOT, 'gdb-plugin'), join(project, 'gdb-plugin'), { recursive: true });
        // A checkout (it has tsconfig.json) that was never built.
        cpSync(join(REPO_ROOT, 'tsconfig.json'), join(project, 'tsconfig.json'));
        const result = await gdb([`source ${join(project, 'gdb-plugin', 'criu_gdb.py')}`, LOAD_DEMO], { plugin: false });
        expect(result.stderr).toBe(`the criu-gdb helper is not built: run npm install in ${project}`);
      }, 60_000);

      it('reports a helper killed mid-session and recovers with criu-unload and criu-load', async () => {
        const result = await gdb([
          LOAD_DEMO,
          'python import criu_gdb_plugin.session as criu_session, os, signal, time; os.kill(criu_session.current.helper.pid, signal.SIGKILL); time.sleep(0.3)',
          'criu ps',
          'info inferiors',
          'criu-unload',
          LOAD_DEMO,
          'criu ps',
        ]);
        expect(result.exitCode).toBe(0);
        expect(result.stderr.split('\n')[0]).toBe('criu-gdb helper exited: killed by SIGKILL (criu-unload cleans up; criu-load starts again)');
        expect(result.stdout).toContain(`criu-unload: closed ${demo}`);
        expect(result.stdout).toMatch(new RegExp(`^${live.pid}\\s+\\d+\\s+stopped`, 'm'));
      }, 60_000);
    });

    describe('sessions', () => {
      it('makes a 0700 directory and 0600 sockets; criu-unload removes them and waits for the helper', async () => {
        const result = await gdb([
          LOAD_DEMO,
          'python import criu_gdb_plugin.session as criu_session, os; s = criu_session.current; d = s.directory; h = s.helper',
          'python print("MODES", oct(os.stat(d).st_mode & 0o777), [oct(os.stat(os.path.join(d, f)).st_mode & 0o777) for f in sorted(os.listdir(d))])',
          'python print("UNDER_XDG", os.path.dirname(d) == os.environ["XDG_RUNTIME_DIR"])',
          'criu-unload',
          'python print("AFTER", os.path.exists(d), h.process.returncode)',
          'info inferiors',
          'criu-load ' + demo + ' --root ' + demoRoot,
          'python print("RELOADED", os.path.exists(criu_session.current.directory), criu_session.current.directory != d)',
        ]);
        expect(result.exitCode).toBe(0);
        // The socket (0600), and the private view of the checked files under --root (a 0700 directory, 'root').
        expect(result.stdout).toContain("MODES 0o700 ['0o600', '0o700']");
        expect(result.stdout).toContain('UNDER_XDG True');
        expect(result.stdout).toContain('AFTER False 0');
        expect(result.stdout).toMatch(/^\* 1\s+<null>\s*$/m);
        expect(result.stdout).toContain('RELOADED True True');
      }, 60_000);

      it('replaces the previous checkpoint on a second criu-load, stopping the old helper', async () => {
        const result = await gdb([
          LOAD_DEMO,
          'python import criu_gdb_plugin.session as criu_session, os; old = criu_session.current.helper; d = criu_session.current.directory',
          LOAD_DEMO,
          'python print("OLD", old.process.returncode, os.path.exists(d))',
          'info inferiors',
        ]);
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toContain('OLD 0 False');
        // One inferior, reused: the first load's was released.
        expect(result.stdout.match(new RegExp(`^[* ] \\d+\\s+process ${live.pid}\\s`, 'gm'))).toHaveLength(1);
        expect(result.stdout).not.toMatch(/^\s+2\s/m);
      }, 60_000);

      it('the helper exits and removes its directory when gdb is killed', async () => {
        const runtime = scratchDir('criu-gdb-xdg-');
        const child: ResultPromise = execa(currentGdb, gdbArgs([LOAD_DEMO, 'python import criu_gdb_plugin.session as criu_session; s = criu_session.current; print("READY", s.helper.pid, s.directory, flush=True)', 'python import time; time.sleep(60)']), {
          reject: false,
          cwd: tmpdir(),
          env: { XDG_RUNTIME_DIR: runtime },
        });
        let output = '';
        child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
        await waitFor(() => /READY \d+ \S+/.test(output), 'criu-load');
        const [, pid, directory] = /READY (\d+) (\S+)/.exec(output)!;
        expect(running(Number(pid))).toBe(true);
        expect(existsSync(join(directory!, `${live.pid}.sock`))).toBe(true);
        child.kill('SIGKILL');
        await child;
        await waitFor(() => !running(Number(pid)), 'the helper to exit');
        // The helper removes it, or the reaper just after the helper's death when it killed the helper first.
        await waitFor(() => !existsSync(directory!), 'the directory to be removed', 5000);
      }, 60_000);

      it('loads every process of a process tree into its own inferior, and unloads them', async () => {
        const truth = loadTruth('fork_tree');
        const images = imagesDir('fork_tree');
        const result = await gdb([`criu-load ${images}`, 'info inferiors', 'inferior 3', 'bt', 'criu fds', 'criu-unload', 'info inferiors']);
        expect(result.exitCode).toBe(0);
        // gdb reports libc sources it cannot find on stderr (gdb 16 and later as a warning); nothing else may be there.
        expect(result.stderr.split('\n').filter((line) => line !== '' && !/^(warning: )?\d+\s.*: No such file or directory\.?$/.test(line))).toEqual([]);
        for (const process of truth.processes) expect(result.stdout).toMatch(new RegExp(`^inferior \\d+: pid ${process.pid} \\(${process.comm}\\), 1 thread$`, 'm'));
        for (const process of truth.processes) expect(result.stdout).toMatch(new RegExp(`^[* ] \\d+\\s+process ${process.pid}\\s`, 'm'));
        expect(result.stdout).toMatch(/in main \(\) at \S*fork_tree\.c:\d+/);
        const third = /^inferior 3: pid (\d+)/m.exec(result.stdout)![1];
        expect(result.stdout).toContain(`pid ${third} (`);
        const after = result.stdout.slice(result.stdout.indexOf('criu-unload: closed'));
        expect(after).toMatch(/^\* 1\s+<null>\s*$/m);
        expect(after).not.toMatch(/^\s+2\s/m);
      }, 60_000);
    });

    describe('launcher and gdbinit', () => {
      it('criu-gdb DIR -- GDBARGS starts gdb with the checkpoint loaded', async () => {
        const launch = join(REPO_ROOT, 'dist', 'src', 'cli', 'commands', 'launch.js');
        const script = `import(${JSON.stringify(launch)}).then((m) => m.launchGdb(process.argv.slice(1), (t) => process.stderr.write(t + '\\n'))).then((code) => { process.exitCode = code; })`;
        const result = await execa(process.execPath, ['-e', script, demo, '--root', demoRoot, '--', '-nx', '-batch', '-ex', 'info inferiors', '-ex', 'bt 1'], {
          reject: false,
          cwd: tmpdir(),
          env: { XDG_RUNTIME_DIR: scratchDir('criu-gdb-xdg-'), CRIU_GDB_GDB: currentGdb },
          timeout: 60_000,
        });
        expect(result.stderr).toBe('');
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toContain(`inferior 1: pid ${live.pid} (${live.comm}), 3 threads`);
        expect(result.stdout).toMatch(new RegExp(`^\\* 1\\s+process ${live.pid}`, 'm'));
        expect(result.stdout).toContain('in pause ()');
      }, 60_000);

      it('the launcher starts the helper before gdb and the plugin uses it; nothing gdb runs inherits it; a second load starts its own', async () => {
        const runtime = scratchDir('criu-gdb-xdg-');
        // In gdb: the first session's helper (pid, parent, how it is held), what a shell started by gdb
        // inherits on descriptors 3-5, the variable as gdb's programs see it, then a reload's helper.
        const probe = [
          'python import os; from criu_gdb_plugin import session as s',
          "python h = s.current.helper; print('@@first', h.pid, open('/proc/%d/stat' % h.pid).read().rsplit(')', 1)[1].split()[1], os.getppid(), os.getpid(), type(h.process).__name__)",
          'shell for fd in 3 4 5; do [ -e /proc/$$/fd/$fd ] && echo "@@inherited $fd"; done; echo "@@variable ${CRIU_GDB_HELPER:-unset}"',
          'criu-unload',
          `criu-load ${demo} --root ${demoRoot}`,
          "python h = s.current.helper; print('@@second', h.pid, open('/proc/%d/stat' % h.pid).read().rsplit(')', 1)[1].split()[1], os.getpid(), type(h.process).__name__)",
          'bt 1',
        ];
        const result = await execa('node', [join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'), demo, '--root', demoRoot, '--', '-nx', '-batch', ...probe.flatMap((c) => ['-ex', c])], {
          reject: false,
          cwd: tmpdir(),
          env: { XDG_RUNTIME_DIR: runtime, CRIU_GDB_GDB: currentGdb },
          timeout: 60_000,
        });
        expect(result.stderr).toBe('');
        expect(result.exitCode).toBe(0);
        const first = /^@@first (\d+) (\d+) (\d+) (\d+) (\w+)$/m.exec(result.stdout);
        const second = /^@@second (\d+) (\d+) (\d+) (\w+)$/m.exec(result.stdout);
        expect(first, result.stdout).not.toBeNull();
        expect(second, result.stdout).not.toBeNull();
        const [, firstPid, firstParent, gdbParent, , firstKind] = first!;
        const [, secondPid, secondParent, gdbPid, secondKind] = second!;
        // The first helper is the launcher's child (gdb's parent); the reload's is gdb's own.
        expect([firstParent, firstKind]).toEqual([gdbParent, 'LauncherProcess']);
        expect([secondParent, secondKind]).toEqual([gdbPid, 'Popen']);
        expect(secondPid).not.toBe(firstPid);
        expect(result.stdout).not.toContain('@@inherited');
        expect(result.stdout).toContain('@@variable unset');
        expect(result.stdout).toContain('in pause ()');
        // Both helpers are gone, and so are their sessions.
        expect(running(Number(firstPid))).toBe(false);
        expect(running(Number(secondPid))).toBe(false);
        expect(readdirSync(runtime)).toEqual([]);
      }, 60_000);

      it('gdbinit prints the source line; --install adds it to $HOME/.gdbinit once, and gdb then has criu-load', async () => {
        const home = scratchDir('criu-gdb-home-');
        const saved = process.env['HOME'];
        process.env['HOME'] = home;
        try {
          const line = `source ${PLUGIN}`;
          expect(gdbinitLine()).toBe(line);
          expect(gdbinitCommand.run({ positionals: [], options: new Map() })).toBe(line);
          writeFileSync(join(home, '.gdbinit'), 'set pagination off');
          const install = { positionals: [], options: new Map<string, string | true>([['install', true]]) };
          expect(gdbinitCommand.run(install)).toBe(`added to ${join(home, '.gdbinit')}: ${line}`);
          expect(gdbinitCommand.run(install)).toBe(`${join(home, '.gdbinit')} already loads the plugin`);
          expect(readFileSync(join(home, '.gdbinit'), 'utf8')).toBe(`set pagination off\n${line}\n`);
        } finally {
          if (saved === undefined) delete process.env['HOME'];
          else process.env['HOME'] = saved;
        }
        // A real gdb with that HOME loads the plugin; sourcing it again (as the launcher does) is harmless.
        const result = await gdb(['help criu-load', LOAD_DEMO, 'info inferiors'], { env: { HOME: home }, nx: false });
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toContain('Open a CRIU checkpoint');
        expect(result.stdout).toMatch(new RegExp(`^\\* 1\\s+process ${live.pid}`, 'm'));
      }, 60_000);
    });
  });
}
