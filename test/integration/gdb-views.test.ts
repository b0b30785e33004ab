/**
 * `criu ps|fds|maps|info|search` in gdb print what the CLI prints for the same checkpoint: on an images
 * directory, on an unpacked container checkpoint (whose rootfs diff must be used by both) and on an archive.
 * Real gdb, the real helper, real CRIU checkpoints; needs `npm run build` first.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, checkpointAvailability, imagesDir, type CheckpointName } from '../helpers/checkpoints.js';
import { ARCHIVES_DIR } from '../setup/make-archives.js';
import { gdbOnCheckpoint } from '../helpers/gdb-session.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

interface Subject {
  label: string;
  name: CheckpointName;
  path: string;
  root?: string;
  /** A string the process memory holds. */
  pattern: string;
}

function containerSubjects(name: CheckpointName): Subject[] {
  const dir = join(ARCHIVES_DIR, name);
  const root = join(dir, 'base-rootfs');
  return [
    { label: `${name}: unpacked container checkpoint`, name, path: join(dir, 'bundle'), root, pattern: name },
    { label: `${name}: container checkpoint archive`, name, path: join(dir, `${name}.tar`), root, pattern: name },
  ];
}

const subjects: Subject[] = [
  { label: 'fork_tree: images directory', name: 'fork_tree', path: checkpointAvailability('fork_tree').available ? imagesDir('fork_tree') : '', pattern: 'ft-child' },
  ...containerSubjects('pie_callchain'),
  ...containerSubjects('fork_tree'),
];

/** The views as `criu ...` in gdb (every process) and as the CLI's arguments. */
function views(pattern: string): Array<{ gdb: string; cli: string[] }> {
  return [
    { gdb: 'criu ps', cli: ['ps'] },
    { gdb: 'criu info', cli: ['info'] },
    { gdb: 'criu maps --all', cli: ['maps'] },
    { gdb: 'criu fds --all', cli: ['fds'] },
    { gdb: 'criu maps --all --json', cli: ['maps', '--json'] },
    { gdb: `criu search --all ${pattern}`, cli: ['search', '', pattern] },
    { gdb: `criu search --all --regex --max-match 12 --context 4 --json ${pattern}[a-z_-]*`, cli: ['search', '', `${pattern}[a-z_-]*`, '--all', '--regex', '--max-match', '12', '--context', '4', '--json'] },
  ];
}

describe('criu views in gdb print what the CLI prints', () => {
  for (const subject of subjects) {
    const availability = checkpointAvailability(subject.name);
    it.skipIf(!availability.available)(subject.label, async () => {
      const list = views(subject.pattern);
      const commands = list.flatMap((view, i) => [`echo @@VIEW ${i}\\n`, view.gdb]);
      const run = await gdbOnCheckpoint(subject.path, commands, subject.root ? { root: subject.root } : {});
      expect(run.stderr).not.toMatch(/Traceback|Python Exception|internal error/);
      const sections = run.text.split(/^@@VIEW \d+\n/m).slice(1);
      expect(sections).toHaveLength(list.length);
      for (const [i, view] of list.entries()) {
        const [command, ...rest] = view.cli;
        const positional = rest[0] === '' ? [subject.path, ...rest.slice(1)] : [subject.path, ...rest];
        const cli = await execa('node', [CLI, command!, ...positional, ...(subject.root ? ['--root', subject.root] : [])], { reject: false });
        expect(cli.exitCode, cli.stderr).toBe(0);
        const inGdb = sections[i]!.split('\n').filter((line) => !line.startsWith('warning: ')).join('\n').trimEnd();
        expect(inGdb, view.gdb).toBe(cli.stdout.trimEnd());
      }
    }, 120_000);
  }
});
