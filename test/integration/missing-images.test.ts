/**
 * Checkpoints that lack optional images still open with what they have and say what is missing; two gdb
 * sessions can open the same checkpoint at once.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, checkpointAvailability, imagesDir, loadTruth } from '../helpers/checkpoints.js';
import { gdbOnCheckpoint, threadBlocks, frameFunctions } from '../helpers/gdb-session.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const scratch: string[] = [];
afterAll(() => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A copy of checkpoint `name` without the images `drop` selects. */
function copyWithout(name: 'named_threads', drop: (image: string) => boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-missing-'));
  scratch.push(dir);
  cpSync(imagesDir(name), dir, { recursive: true });
  for (const image of readdirSync(dir).filter(drop)) rmSync(join(dir, image));
  return dir;
}

describe.skipIf(!checkpointAvailability('named_threads').available)('missing optional images', () => {
  it('ps shows the tree and warns about a missing thread core and fs image', async () => {
    const truth = loadTruth('named_threads');
    const lost = truth.processes[0]!.threads[2]!;
    const dir = copyWithout('named_threads', (image) => image === `core-${lost.tid}.img` || image.startsWith('fs-'));
    const result = await execa('node', [CLI, 'ps', dir], { reject: false });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`thread ${lost.tid}\\s*$`, 'm'));
    expect(result.stdout).toContain('thread ' + truth.processes[0]!.threads[1]!.tid + ' ' + truth.processes[0]!.threads[1]!.name);
    expect(result.stderr.split('\n')).toContain(`criu-gdb: warning: core-${lost.tid}.img: image is missing`);
    const fds = await execa('node', [CLI, 'fds', dir], { reject: false });
    expect(fds.exitCode).toBe(0);
    expect(fds.stdout).toContain('cwd ?  root ?');
    expect(fds.stderr).toMatch(/^criu-gdb: warning: fs-\d+\.img: image is missing$/m);
  });

  it('fds names the missing image when the fd table cannot be found', async () => {
    const dir = copyWithout('named_threads', (image) => image.startsWith('ids-'));
    const result = await execa('node', [CLI, 'fds', dir], { reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^criu-gdb: ids-\d+\.img: image is missing, so the open files of this process are unknown$/);
  });

  it('gdb shows the thread whose core is missing with unavailable registers, and every other thread in full', { timeout: 120_000 }, async () => {
    const truth = loadTruth('named_threads');
    const live = truth.processes[0]!;
    const lost = live.threads[2]!;
    const dir = copyWithout('named_threads', (image) => image === `core-${lost.tid}.img`);
    const { text, stdout, stderr } = await gdbOnCheckpoint(dir, ['thread apply all bt']);
    expect(stdout + stderr).toContain(`core-${lost.tid}.img: image is missing`);
    expect(stderr).not.toMatch(/Traceback/);
    const blocks = threadBlocks(text);
    expect(blocks.find((b) => b.tid === lost.tid)?.body).toMatch(/^#0  <unavailable> in \?\? \(\)/);
    const liveBlocks = threadBlocks(live.gdb.backtraces);
    for (const thread of live.threads.filter((t) => t.tid !== lost.tid)) {
      expect(frameFunctions(blocks.find((b) => b.tid === thread.tid)?.body ?? '')).toEqual(frameFunctions(liveBlocks.find((b) => b.tid === thread.tid)?.body ?? ''));
    }
  });
});

describe.skipIf(!checkpointAvailability('named_threads').available)('concurrent sessions', () => {
  it('two gdb sessions open the same checkpoint at once and both see every thread', { timeout: 120_000 }, async () => {
    const truth = loadTruth('named_threads');
    const expected = [...truth.processes[0]!.threads].sort((a, b) => a.tid - b.tid).map((t) => ({ tid: t.tid, name: t.name }));
    const runs = await Promise.all([0, 1, 2].map(() => gdbOnCheckpoint(imagesDir('named_threads'), ['thread apply all bt 1'])));
    for (const run of runs) {
      expect(run.exitCode).toBe(0);
      expect(threadBlocks(run.text).map((b) => ({ tid: b.tid, name: b.name }))).toEqual(expected);
    }
  });
});
