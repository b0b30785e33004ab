/**
 * Hostile checkpoints, issue 12 lesser points: a damaged pagemap costs the memory it describes, not the
 * checkpoint. The CLI and criu-load go on, with one warning line naming the image; registers and memory
 * from the mapped files stay available. Built from copies of a real checkpoint.
 */
import { closeSync, openSync, readdirSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointAvailability, imagesDir, loadTruth, rootProcess } from '../helpers/checkpoints.js';
import { gdbOnCheckpoint } from '../helpers/gdb-session.js';
import { copyImages, removeScratch, runBounded } from '../helpers/hostile.js';

afterAll(removeScratch);

const available = checkpointAvailability('named_threads').available;

/** named_threads with its pagemap damaged by `damage`. */
function damaged(damage: (pagemap: string) => void): { dir: string; image: string } {
  const dir = copyImages(imagesDir('named_threads'));
  const image = readdirSync(dir).find((n) => /^pagemap-\d+\.img$/.test(n))!;
  damage(join(dir, image));
  return { dir, image };
}

const damages: Array<[string, (file: string) => void]> = [
  ['truncated in an entry', (file) => truncateSync(file, statSync(file).size - 5)],
  [
    'with a foreign magic',
    (file) => {
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.from('garbage!'), 0, 8, 0);
      closeSync(fd);
    },
  ],
];

describe.skipIf(!available)('a damaged pagemap', () => {
  for (const [what, damage] of damages) {
    it(`${what}: ps and maps go on with one warning naming the image`, { timeout: 60_000 }, async () => {
      const { dir, image } = damaged(damage);
      for (const view of ['ps', 'maps']) {
        const run = await runBounded([view, dir]);
        expect(run.exitCode).toBe(0);
        const warnings = run.stderr.split('\n').filter((line) => line.includes(`${image}:`) && line.includes('the memory it describes is unavailable'));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(new RegExp(`^criu-gdb: warning: ${image}: `));
      }
    });
  }

  it('criu-load goes on: one warning line naming the image; registers remain, the memory is unavailable', { timeout: 120_000 }, async () => {
    const { dir, image } = damaged(damages[1]![1]);
    const truth = rootProcess(loadTruth('named_threads'));
    const run = await gdbOnCheckpoint(dir, ['x/2gx $sp', 'echo \\n', 'p/x $pc']);
    const printed = `${run.stdout}\n${run.stderr}`;
    expect(printed).not.toMatch(/Traceback|Remote connection closed|Invalid hex digit/);
    expect(run.pids).toEqual([truth.pid]);
    const warnings = printed.split('\n').filter((line) => line.includes(`${image}:`));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^warning: ${image}: .*the memory it describes is unavailable`));
    // Registers come from the core images: still there.
    expect(run.text).toMatch(/^\$1 = 0x[0-9a-f]{6,}$/m);
    // The stack is memory the pagemap described: unavailable, not garbage.
    expect(run.stderr).toMatch(/Cannot access memory at address 0x[0-9a-f]+/);
  });
});

