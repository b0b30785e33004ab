import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CriuGdbError } from '../../errors.js';
import { infoCommand } from './info.js';
import { psCommand } from './ps.js';
import type { Command } from './command.js';

/** Directory of the bundled sample checkpoint (test/fixtures/demo), found from this module. */
export function demoDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'test', 'fixtures', 'demo');
    if (existsSync(join(candidate, 'checkpoint', 'pstree.img'))) return candidate;
    dir = dirname(dir);
  }
  throw new CriuGdbError('the bundled sample checkpoint (test/fixtures/demo) is not here');
}

/** `criu-gdb demo`: shows the bundled sample checkpoint. */
export const demoCommand: Command = {
  name: 'demo',
  usage: 'demo',
  summary: 'show the bundled sample checkpoint',
  options: [],
  help: () => 'Usage: criu-gdb demo\n\nOpens the sample checkpoint bundled in test/fixtures/demo and prints what criu-gdb reads from it.',
  run() {
    const demo = demoDirectory();
    const checkpoint = join(demo, 'checkpoint');
    const root = join(demo, 'rootfs');
    const positionals = [checkpoint];
    const options = new Map<string, string | true>([['root', root]]);
    return [
      `$ criu-gdb info ${checkpoint} --root ${root}`,
      infoCommand.run({ positionals, options }),
      '',
      `$ criu-gdb ps ${checkpoint} --root ${root}`,
      psCommand.run({ positionals, options }),
    ].join('\n');
  },
};
