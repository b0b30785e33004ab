/**
 * Hostile checkpoints, issue 12 point 1: counts that an image claims are checked against the resource
 * budget before anything is allocated for them. Each case is built from a copy of a real checkpoint and
 * must end in one line and exit status 2, within generous memory and time bounds.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointAvailability, imagesDir } from '../helpers/checkpoints.js';
import { bytesField, copyImages, lengthPrefix, RawWriter, removeScratch, runBounded, splitSingleEntry, varintField } from '../helpers/hostile.js';

afterAll(removeScratch);

/** Generous bounds: a correct implementation stays far below them. */
const MAX_PEAK_MIB = 400;
const MAX_SECONDS = 20;

function mmImage(dir: string): string {
  const name = readdirSync(dir).find((n) => /^mm-\d+\.img$/.test(n));
  if (!name) throw new Error(`no mm image in ${dir}`);
  return join(dir, name);
}

describe.skipIf(!checkpointAvailability('named_threads').available)('hostile counts are refused within the budget', () => {
  it('a saved auxiliary vector of 66 million words', { timeout: 60_000 }, async () => {
    const dir = copyImages(imagesDir('named_threads'));
    const file = mmImage(dir);
    const { header, payload } = splitSingleEntry(file);
    // 66 million one-byte varints, packed, just under the 64 MiB entry cap.
    const words = 66_000_000;
    const auxv = bytesField(13, Buffer.alloc(words, 1));
    const entry = Buffer.concat([payload, auxv]);
    writeFileSync(file, Buffer.concat([header, lengthPrefix(entry.length), entry]));
    const run = await runBounded(['ps', dir]);
    console.log(`auxv bomb: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    const line = /^criu-gdb: mm-\d+\.img: saved auxiliary vector words: (\d+) exceeds the limit of 4096 \(raise it with CRIU_GDB_MAX_AUXV_WORDS=N\)$/;
    expect(run.stderr.trim()).toMatch(line);
    expect(Number(line.exec(run.stderr.trim())?.[1])).toBeGreaterThanOrEqual(words);
    expect(run.exitCode).toBe(2);
    expect(run.peakMiB).toBeLessThan(MAX_PEAK_MIB);
    expect(run.seconds).toBeLessThan(MAX_SECONDS);
  });

  it('300,000 mappings in one mm image', { timeout: 60_000 }, async () => {
    const dir = copyImages(imagesDir('named_threads'));
    const file = mmImage(dir);
    const { header, payload } = splitSingleEntry(file);
    const vma = bytesField(14, Buffer.concat([varintField(1, 0x10000), varintField(2, 0x11000), varintField(3, 0), varintField(4, 0), varintField(5, 1), varintField(6, 0x22), varintField(7, 0x201), varintField(8, 0)]));
    const count = 300_000;
    const entry = Buffer.concat([payload, Buffer.concat(Array.from({ length: count }, () => vma))]);
    writeFileSync(file, Buffer.concat([header, lengthPrefix(entry.length), entry]));
    const run = await runBounded(['maps', dir]);
    console.log(`mapping flood: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    const existing = new RegExp(`^criu-gdb: mm-\\d+\\.img: mappings: (\\d+) exceeds the limit of 262144 \\(raise it with CRIU_GDB_MAX_MAPPINGS=N\\)$`);
    expect(run.stderr.trim()).toMatch(existing);
    expect(Number(existing.exec(run.stderr.trim())?.[1])).toBeGreaterThanOrEqual(count);
    expect(run.exitCode).toBe(2);
    expect(run.peakMiB).toBeLessThan(MAX_PEAK_MIB);
    expect(run.seconds).toBeLessThan(MAX_SECONDS);
    // The cap is the user's: lowered below the real count, the real checkpoint is refused the same way.
    const real = await runBounded(['maps', imagesDir('named_threads')], { env: { CRIU_GDB_MAX_MAPPINGS: '3' } });
    expect(real.stderr.trim()).toMatch(/^criu-gdb: mm-\d+\.img: mappings: \d+ exceeds the limit of 3 \(raise it with CRIU_GDB_MAX_MAPPINGS=N\)$/);
    expect(real.exitCode).toBe(2);
  });

  it('a pstree of 2 million processes', { timeout: 60_000 }, async () => {
    const dir = copyImages(imagesDir('named_threads'));
    const file = join(dir, 'pstree.img');
    const original = readFileSync(file);
    const count = 2_000_000;
    const out = new RawWriter().bytes(original);
    for (let i = 0; i < count; i++) {
      const pid = 100_000 + i;
      out.entry((w) => w.field(1, pid).field(2, 1).field(3, pid).field(4, pid).field(5, pid));
    }
    writeFileSync(file, out.result());
    const run = await runBounded(['ps', dir]);
    console.log(`pstree flood: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr.trim()).toBe('criu-gdb: pstree.img: processes: 65537 exceeds the limit of 65536 (raise it with CRIU_GDB_MAX_PROCESSES=N)');
    expect(run.exitCode).toBe(2);
    expect(run.peakMiB).toBeLessThan(MAX_PEAK_MIB);
    expect(run.seconds).toBeLessThan(MAX_SECONDS);
  });

  it('a pagemap of 2 million runs over a pages file of a few thousand pages', { timeout: 60_000 }, async () => {
    const dir = copyImages(imagesDir('named_threads'));
    const name = readdirSync(dir).find((n) => /^pagemap-\d+\.img$/.test(n))!;
    const file = join(dir, name);
    const original = readFileSync(file);
    // Keep the header and PagemapHead, then 2 million one-page runs said to be in a parent that is not there.
    const headLength = original.readUInt32LE(8);
    const out = new RawWriter().bytes(original.subarray(0, 12 + headLength));
    const count = 2_000_000;
    for (let i = 0; i < count; i++) out.entry((w) => w.field(1, 0x7000_0000_0000 + i * 0x2000).field(2, 1).field(4, 1).field(5, 1));
    writeFileSync(file, out.result());
    const run = await runBounded(['maps', dir]);
    console.log(`pagemap flood: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr.trim()).toMatch(new RegExp(`^criu-gdb: ${name}: runs \\(beyond one per page of the pages files\\): more than \\d+ exceeds the limit of 65536 \\(raise it with CRIU_GDB_MAX_PAGE_RUNS=N\\)$`));
    expect(run.exitCode).toBe(2);
    expect(run.peakMiB).toBeLessThan(MAX_PEAK_MIB);
    expect(run.seconds).toBeLessThan(MAX_SECONDS);
  });

  it('a files.img of 2 million file descriptions', { timeout: 120_000 }, async () => {
    const dir = copyImages(imagesDir('named_threads'));
    const file = join(dir, 'files.img');
    const count = 2_000_000;
    const out = new RawWriter().bytes(readFileSync(file));
    // Regular files /x with ids far above the real ones.
    const rest = Buffer.concat([varintField(2, 0), varintField(3, 0), bytesField(5, Buffer.concat([1, 2, 3, 4, 5].map((field) => varintField(field, 0)))), bytesField(6, Buffer.from('/x'))]);
    for (let i = 0; i < count; i++) {
      const id = 1_000_000 + i;
      out.entry((w) => w.field(1, 1).field(2, id).bytes(bytesField(3, Buffer.concat([varintField(1, id), rest]))));
    }
    writeFileSync(file, out.result());
    const run = await runBounded(['fds', dir]);
    console.log(`files.img flood: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr.trim()).toBe('criu-gdb: files.img: file descriptions: 262145 exceeds the limit of 262144 (raise it with CRIU_GDB_MAX_FILES=N)');
    expect(run.exitCode).toBe(2);
    expect(run.peakMiB).toBeLessThan(MAX_PEAK_MIB);
    // Without the cap: 192 s and 1.4 GiB on a loaded 2-core machine.
    expect(run.seconds).toBeLessThan(60);
  });

  it('an fdinfo image of 2 million descriptors', { timeout: 120_000 }, async () => {
    const dir = copyImages(imagesDir('named_threads'));
    const name = readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
    const file = join(dir, name);
    const count = 2_000_000;
    const out = new RawWriter().bytes(readFileSync(file));
    for (let i = 0; i < count; i++) out.entry((w) => w.field(1, 1).field(2, 0).field(3, 1).field(4, 100_000 + i));
    writeFileSync(file, out.result());
    const run = await runBounded(['fds', dir]);
    console.log(`fdinfo flood: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr.trim()).toBe(`criu-gdb: ${name}: descriptors: 262145 exceeds the limit of 262144 (raise it with CRIU_GDB_MAX_FDS=N)`);
    expect(run.exitCode).toBe(2);
    expect(run.peakMiB).toBeLessThan(MAX_PEAK_MIB);
    // Without the cap: 192 s and 1.4 GiB on a loaded 2-core machine.
    expect(run.seconds).toBeLessThan(60);
    // The cap is the user's: lowered below the real count, the real checkpoint is refused the same way.
    const real = await runBounded(['fds', imagesDir('named_threads')], { env: { CRIU_GDB_MAX_FDS: '1' } });
    expect(real.stderr.trim()).toMatch(/^criu-gdb: fdinfo-\d+\.img: descriptors: \d+ exceeds the limit of 1 \(raise it with CRIU_GDB_MAX_FDS=N\)$/);
    expect(real.exitCode).toBe(2);
  });
});
