#!/usr/bin/env node
/**
 * `checkpointctl-gdb`: criu-gdb as a checkpointctl plugin. checkpointctl runs every `checkpointctl-NAME`
 * on PATH as `checkpointctl NAME ARGS...` (with ARGS untouched), and lists it with the line the plugin
 * prints for `--plugin-description` when it then exits with 42. `checkpointctl gdb ARCHIVE` opens the
 * checkpoint in gdb, as `criu-gdb ARCHIVE` does.
 *
 * checkpointctl waits at most half a second for the description at each start, so that answer comes
 * before anything else is loaded.
 */

/** The line `checkpointctl --help` and `checkpointctl plugin list` show for `gdb`. */
export const PLUGIN_DESCRIPTION = 'Open a checkpoint in gdb, one inferior per process (criu-gdb)';

/** Exit status that tells checkpointctl the plugin printed its description. */
export const DESCRIPTION_EXIT = 42;

const USAGE = 'Usage: checkpointctl gdb DIR|ARCHIVE [--root PATH] [--pid N] [-- GDBARGS...]';

const argv = process.argv.slice(2);
const err = (text: string): void => void process.stderr.write(`${text}\n`);
if (argv[0] === '--plugin-description') {
  process.stdout.write(`${PLUGIN_DESCRIPTION}\n`);
  process.exitCode = DESCRIPTION_EXIT;
} else if (argv.length === 0) {
  err(USAGE);
  err("Try 'checkpointctl gdb --help'.");
  process.exitCode = 1;
} else if (argv[0] === '--help' || argv[0] === '-h') {
  const { launchCommand } = await import('./commands/launch.js');
  process.stdout.write(`${USAGE}\n\n${PLUGIN_DESCRIPTION}.\n${launchCommand.help().split('\n').slice(1).join('\n')}\n`);
} else {
  const { launchGdb } = await import('./commands/launch.js');
  process.exitCode = await launchGdb(argv, err);
}
