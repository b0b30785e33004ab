import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CriuGdbError } from '../../errors.js';
import { packageRoot } from '../../package.js';
import { infoView } from '../../views/info.js';
import { psView } from '../../views/ps.js';
import { wrapParagraphs } from '../../views/wrap.js';
import { viewCommand, type Command } from './command.js';
import { gdbCommandLine } from './launch.js';

/** Directory of the bundled sample checkpoint (test/fixtures/demo). */
export function demoDirectory(): string {
  const demo = join(packageRoot(), 'test', 'fixtures', 'demo');
  if (!existsSync(join(demo, 'checkpoint', 'pstree.img'))) throw new CriuGdbError('the bundled sample checkpoint (test/fixtures/demo) is not here');
  return demo;
}

/** Runs gdb in batch mode on the demo and returns what it printed, or undefined when gdb is not installed. */
function gdbBacktrace(checkpoint: string, root: string): string | undefined {
  const args = gdbCommandLine(checkpoint, root, undefined, ['-nx', '-batch', '-ex', 'info threads', '-ex', 'thread apply all bt']);
  const result = spawnSync('gdb', args, { encoding: 'utf8', timeout: 60_000 });
  if (result.error) {
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CriuGdbError(`gdb could not run: ${result.error.message}`);
  }
  if (result.status !== 0) throw new CriuGdbError(`gdb failed: ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`);
  return result.stdout.trimEnd();
}

/** `criu-gdb demo`: opens the bundled sample checkpoint in gdb and prints every thread's backtrace. */
export const demoCommand: Command = {
  name: 'demo',
  usage: 'demo',
  summary: 'open the bundled sample checkpoint in gdb and print its backtraces',
  options: [],
  help: () =>
    wrapParagraphs(
      "Usage: criu-gdb demo\n\nOpens the sample checkpoint bundled in test/fixtures/demo (a real CRIU dump of a small static program with three named threads) in gdb through criu-load, and prints every thread's backtrace. Without gdb it prints what the reader sees instead.",
    ),
  run() {
    const demo = demoDirectory();
    const checkpoint = join(demo, 'checkpoint');
    const root = join(demo, 'rootfs');
    const positionals = [checkpoint];
    const options = new Map<string, string | true>([['root', root]]);
    const summary = [`$ criu-gdb ps ${checkpoint} --root ${root}`, viewCommand(psView).run({ positionals, options })];
    const backtrace = gdbBacktrace(checkpoint, root);
    if (backtrace === undefined) {
      return [...summary, '', `$ criu-gdb info ${checkpoint} --root ${root}`, viewCommand(infoView).run({ positionals, options }), '', '(gdb is not installed: install it to see the backtraces through criu-load)'].join('\n');
    }
    return [...summary, '', `$ criu-gdb ${checkpoint} --root ${root} -- -batch -ex 'info threads' -ex 'thread apply all bt'`, backtrace].join('\n');
  },
};
