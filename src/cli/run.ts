/**
 * `criu-gdb COMMAND ...`: every command but the launcher. main.ts loads this module (and with it every
 * view) only when the words name no checkpoint to start gdb on.
 */
import { CriuGdbError, UsageError } from '../errors.js';
import { withDefaultSignals } from '../reaper.js';
import { parseArgs } from '../views/args.js';
import { escapeControls } from '../views/format.js';
import { packageVersion } from '../package.js';
import { findCommand } from './commands/index.js';
import { mainHelp, shortUsage } from './help.js';

/** Exit statuses of the CLI. */
export const ExitCode = { ok: 0, usage: 1, badInput: 2 } as const;

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit status. Output goes to
 * `out`; errors are one line on `err`: `criu-gdb: <image>: <problem>`.
 */
export function run(argv: readonly string[], out: (text: string) => void, err: (text: string) => void): number {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      // No command is a usage error like any other: the short usage goes to stderr.
      err(shortUsage());
      return ExitCode.usage;
    }
    if (name === '--help' || name === '-h') {
      out(mainHelp());
      return ExitCode.ok;
    }
    if (name === '--version') {
      out(`criu-gdb ${packageVersion()}`);
      return ExitCode.ok;
    }
    if (name === 'help') {
      const topic = rest[0];
      out(topic ? findCommand(topic).help() : mainHelp());
      return ExitCode.ok;
    }
    const command = findCommand(name);
    if (rest.includes('--help') || rest.includes('-h')) {
      out(command.help());
      return ExitCode.ok;
    }
    const args = parseArgs(rest, command.options);
    const warnings: string[] = [];
    const text = command.run(args, (warning) => warnings.push(warning));
    if (text !== '') out(text);
    // A view that prints its warnings itself (info, show, inspect) has said them already: say each once.
    for (const warning of warnings) if (!text.includes(warning) && !text.includes(escapeControls(warning))) err(`criu-gdb: warning: ${escapeControls(warning)}`);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`criu-gdb: ${escapeControls(error.message)}`);
      err("Try 'criu-gdb --help'.");
      return ExitCode.usage;
    }
    if (error instanceof CriuGdbError) {
      err(`criu-gdb: ${escapeControls(error.message)}`);
      return ExitCode.badInput;
    }
    // Anything else is a defect, but the user still gets one line, not a stack.
    err(`criu-gdb: internal error: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env['CRIU_GDB_DEBUG'] && error instanceof Error && error.stack) err(error.stack);
    return ExitCode.badInput;
  }
}

/**
 * Runs the command `argv` of the criu-gdb process, printing to stdout and `err`, and returns the exit status.
 * A command is synchronous work: Ctrl-C, SIGTERM and SIGHUP stop it at once, and the reaper removes what an
 * archive extracted.
 */
export function runCommandLine(argv: readonly string[], err: (text: string) => void): number {
  return withDefaultSignals(() => run(argv, (text) => process.stdout.write(`${text}\n`), err));
}
