/** The text of `criu-gdb --help`, wrapped to fit an 80-column terminal. */
import { commands } from './commands/index.js';
import { HELP_WIDTH, wrapWords } from '../views/wrap.js';

/** The short usage: what to type, and where to look next. */
export function shortUsage(): string {
  return [
    'Usage: criu-gdb COMMAND DIR|ARCHIVE [ARGS...]',
    '       criu-gdb DIR|ARCHIVE [--root PATH] [--pid N] [-- GDBARGS...]',
    "Try 'criu-gdb --help' for the commands.",
  ].join('\n');
}

/** Text of `criu-gdb --help`: every command's usage and summary, wrapped to {@link HELP_WIDTH} columns. */
export function mainHelp(): string {
  const entries = commands.flatMap((command) => [
    ...wrapWords(`criu-gdb ${command.usage}`, HELP_WIDTH, '  ', '        '),
    ...wrapWords(command.summary, HELP_WIDTH, '      ', '      '),
  ]);
  const notes = [
    'DIR is a CRIU images directory; ARCHIVE a container checkpoint archive (tar, tar.gz or tar.zst).',
    'The commands whose usage shows [--json] print JSON with it.',
    "Run 'criu-gdb help COMMAND' for a command's options.",
    'Exit status: 0 on success, 1 for a usage error, 2 for a bad checkpoint or input.',
  ].flatMap((note) => wrapWords(note, HELP_WIDTH, '', ''));
  return ['criu-gdb: look inside CRIU checkpoints', '', 'Usage:', ...entries, '', 'Options:', '  --help      this text', '  --version   the version of criu-gdb', '', ...notes].join('\n');
}
