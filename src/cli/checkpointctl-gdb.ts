/**
 * What `checkpointctl gdb ARGS...` runs (through bin/checkpointctl-gdb, which answers checkpointctl's
 * `--plugin-description` itself): gdb on the checkpoint, as `criu-gdb ARGS...` starts it.
 */
import { launchCommand, launchGdb } from './commands/launch.js';

const USAGE = 'Usage: checkpointctl gdb DIR|ARCHIVE [--root PATH] [--pid N] [-- GDBARGS...]';

/** Runs the plugin with `argv` (the words after `checkpointctl gdb`) and resolves to the exit status. */
export async function runPlugin(argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  if (argv.length === 0) {
    err(USAGE);
    err("Try 'checkpointctl gdb --help'.");
    return 1;
  }
  if (argv[0] === '--help' || argv[0] === '-h') {
    out([USAGE, ...launchCommand.help().split('\n').slice(1)].join('\n'));
    return 0;
  }
  return launchGdb(argv, err);
}

process.exitCode = await runPlugin(
  process.argv.slice(2),
  (text) => void process.stdout.write(`${text}\n`),
  (text) => void process.stderr.write(`${text}\n`),
);
