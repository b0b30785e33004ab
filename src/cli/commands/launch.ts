import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { CriuGdbError, UsageError } from '../../errors.js';
import { packageRoot } from '../../package.js';
import { intOption, parseArgs, stringOption, type OptionSpec } from '../../views/args.js';
import { escapeControls } from '../../views/format.js';
import { helpText } from '../../views/view.js';
import { wrapParagraphs } from '../../views/wrap.js';
import type { Command } from './command.js';
import { pluginPath } from './gdbinit.js';

const options: readonly OptionSpec[] = [
  { name: 'root', value: true, help: 'where the checkpointed files live (default /)' },
  { name: 'pid', value: true, help: 'only this process (default: every process, one inferior each)' },
];

/** CRIU's machine name of the computer criu-gdb runs on. */
const HOST_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      return dir !== '' && readdirSync(dir).includes(command);
    } catch {
      return false;
    }
  });
}

/**
 * The gdb to start: CRIU_GDB_GDB when set; else `gdb-multiarch`, when installed, for a checkpoint of another
 * architecture (`arch`, CRIU's name) than this machine's: a native gdb knows only its own. Else `gdb`
 * (criu-load then says in one line what to install).
 */
export function chooseGdb(arch: string | undefined): string {
  const chosen = process.env['CRIU_GDB_GDB'];
  if (chosen) return chosen;
  return arch !== undefined && arch !== HOST_ARCH[process.arch] && onPath('gdb-multiarch') ? 'gdb-multiarch' : 'gdb';
}

/** Usage line of the launcher, for the main help. */
export const LAUNCH_USAGE = 'DIR [--root PATH] [--pid N] [-- GDBARGS...]';

/** Quotes a word for gdb's argument parser (`gdb.string_to_argv`) when it needs it. */
export function gdbQuote(word: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(word) ? word : `"${word.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * The gdb command line that opens checkpoint `dir`: `-q -iex "source PLUGIN" -ex "criu-load DIR ..."`
 * followed by `extra` (e.g. `-batch -ex bt`).
 */
export function gdbCommandLine(dir: string, root: string | undefined, pid: number | undefined, extra: readonly string[]): string[] {
  let load = `criu-load ${gdbQuote(resolve(dir))}`;
  if (root !== undefined) load += ` --root ${gdbQuote(resolve(root))}`;
  if (pid !== undefined) load += ` --pid ${pid}`;
  return ['-q', '-iex', `source ${pluginPath()}`, '-ex', load, ...extra];
}

/**
 * Whether `argv` asks for the launcher: `criu-gdb gdb ...`, or a first word that names no command and is a
 * directory or looks like a path (so a mistyped command is still reported as an unknown command).
 * `commandNames` is asked only for a word without a slash (no command has one in its name), so that
 * `criu-gdb ./dump` loads no command's modules.
 */
export async function isLaunch(argv: readonly string[], commandNames: () => Promise<readonly string[]>): Promise<boolean> {
  const first = argv[0];
  if (first === undefined || first.startsWith('-')) return false;
  if (first === 'gdb' || first.includes('/')) return true;
  if (first === 'help' || (await commandNames()).includes(first)) return false;
  try {
    const stat = statSync(first);
    return stat.isDirectory() || stat.isFile();
  } catch {
    return false;
  }
}

/** A helper started for gdb's plugin before gdb, and the anonymous file of its stderr. */
interface EarlyHelper {
  child: ChildProcess;
  stderr: number;
}

/** What tells the plugin that gdb's descriptors 3, 4 and 5 are the helper's stdin, stdout and stderr. */
const EARLY_HELPER_VARIABLE = 'CRIU_GDB_HELPER';

/**
 * Starts the helper (`node dist/src/rpc/main.js`) now, so that node starts and loads while gdb does; the
 * plugin's criu-load takes it over instead of starting its own. Undefined without a built helper.
 */
function startEarlyHelper(): EarlyHelper | undefined {
  const main = join(packageRoot(), 'dist', 'src', 'rpc', 'main.js');
  if (!existsSync(main)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-helper-'));
  let stderr: number;
  try {
    stderr = openSync(join(dir, 'stderr'), 'w+', 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A session of its own, as the plugin starts it: Ctrl-C in gdb must not reach the helper.
  const child = spawn(process.execPath, [main], { stdio: ['pipe', 'pipe', stderr], detached: true });
  child.on('error', () => undefined);
  return { child, stderr };
}

/** Closes this process's ends of the early helper's pipes and its stderr file. */
function closeOurEnds(helper: EarlyHelper): void {
  helper.child.stdin?.destroy();
  helper.child.stdout?.destroy();
  closeSync(helper.stderr);
}

/** Stops an early helper gdb never got: its stdin closes, and it is told to end. */
function dropEarlyHelper(helper: EarlyHelper | undefined): void {
  if (!helper) return;
  closeOurEnds(helper);
  helper.child.kill('SIGTERM');
  helper.child.unref();
}

/** Resolves when the early helper has exited, or kills it after `ms` (it exits when gdb closes its stdin). */
function awaitEarlyHelper(helper: EarlyHelper, ms: number): Promise<void> {
  const { child } = helper;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done();
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
  });
}

/**
 * Starts gdb on the checkpoint with inherited stdio and resolves to gdb's exit status. `argv` is the CLI's
 * arguments (a leading `gdb` is skipped). While gdb runs, Ctrl-C belongs to gdb: this process ignores it.
 * The helper is started first and handed to gdb (descriptors 3-5), so that its start overlaps gdb's.
 */
export async function launchGdb(argv: readonly string[], err: (text: string) => void): Promise<number> {
  const words = argv[0] === 'gdb' ? argv.slice(1) : [...argv];
  const split = words.indexOf('--');
  const own = split < 0 ? words : words.slice(0, split);
  const extra = split < 0 ? [] : words.slice(split + 1);
  if (own.includes('--help') || own.includes('-h')) {
    process.stdout.write(`${launchCommand.help()}\n`);
    return 0;
  }
  const helper = startEarlyHelper();
  let gdbArgs: string[];
  let gdb: string;
  try {
    const args = parseArgs(own, options);
    const [dir, ...rest] = args.positionals;
    if (dir === undefined) throw new UsageError('missing checkpoint directory');
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0] ?? ''} (gdb's own arguments go after --)`);
    const root = stringOption(args, 'root');
    // Loaded only now that the helper is starting: the model's modules take about 75 ms to load.
    const { assertCheckpoint } = await import('./launch-check.js');
    gdb = chooseGdb(assertCheckpoint(dir, root));
    gdbArgs = gdbCommandLine(dir, root, intOption(args, 'pid'), extra);
  } catch (error) {
    dropEarlyHelper(helper);
    if (error instanceof UsageError) {
      err(`criu-gdb: ${error.message}`);
      err("Try 'criu-gdb --help'.");
      return 1;
    }
    if (error instanceof CriuGdbError) {
      err(`criu-gdb: ${escapeControls(error.message)}`);
      return 2;
    }
    throw error;
  }
  const ignore = (): void => {};
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];
  for (const signal of signals) process.on(signal, ignore);
  try {
    const status = await new Promise<number>((done) => {
      const handed = helper?.child.pid !== undefined && helper.child.stdin && helper.child.stdout ? helper : undefined;
      const stdio: StdioOptions = handed ? ['inherit', 'inherit', 'inherit', handed.child.stdin!, handed.child.stdout!, handed.stderr] : 'inherit';
      const env = handed ? { ...process.env, [EARLY_HELPER_VARIABLE]: String(handed.child.pid) } : process.env;
      const child = spawn(gdb, gdbArgs, { stdio, env });
      // gdb holds the helper's pipes now; with this process's copies closed, the helper sees gdb's end.
      if (handed) closeOurEnds(handed);
      else dropEarlyHelper(helper);
      child.on('error', (error: NodeJS.ErrnoException) => {
        err(error.code === 'ENOENT' ? `criu-gdb: ${gdb} not found (install gdb 13 or newer)` : `criu-gdb: cannot start ${gdb}: ${error.message}`);
        done(2);
      });
      child.on('exit', (code, signal) => {
        done(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 0));
      });
    });
    if (helper) await awaitEarlyHelper(helper, 3000);
    return status;
  } finally {
    for (const signal of signals) process.off(signal, ignore);
  }
}

/** `criu-gdb DIR` (or `criu-gdb gdb DIR`): gdb with the checkpoint loaded. Run through {@link launchGdb}. */
export const launchCommand: Command = {
  name: 'gdb',
  usage: LAUNCH_USAGE,
  summary: 'start gdb with the checkpoint loaded, one inferior per process',
  options,
  help: () =>
    helpText(
      `criu-gdb ${LAUNCH_USAGE}`,
      wrapParagraphs([
        "Starts gdb with criu-gdb's plugin and runs 'criu-load DIR' in it: every process of the checkpoint",
        'becomes an inferior, read-only. Arguments after -- go to gdb, e.g.',
        '  criu-gdb ./dump -- -batch -ex "thread apply all bt"',
        "Also written 'criu-gdb gdb DIR ...'. Set CRIU_GDB_GDB to use another gdb; a checkpoint of another",
        "architecture than this machine's (arm64 on x86-64) starts gdb-multiarch when it is installed.",
      ].join('\n')),
      options,
    ),
  run() {
    throw new UsageError("the launcher runs asynchronously: call launchGdb (criu-gdb's main does)");
  },
};
