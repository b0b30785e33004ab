/**
 * Hostile checkpoints, issue 12 point 8: nothing recurses or spreads arguments over input-sized data.
 * `maps` of 150,000 mappings and `search --limit 150000` used to die with "Maximum call stack size
 * exceeded"; `ps` of a chain of 20,000 processes drew an indentation quadratic in the depth (past the
 * longest string) and checked warnings with a linear scan. All are built from copies of a real checkpoint.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointAvailability, imagesDir, loadTruth } from '../helpers/checkpoints.js';
import { lengthPrefix, RawWriter, removeScratch, runBounded, splitSingleEntry, copyImages } from '../helpers/hostile.js';

const COUNT = 150_000;
const BASE = 0x1000_0000_0000;
let dir = '';

beforeAll(() => {
  if (!checkpointAvailability('named_threads').available) return;
  dir = copyImages(imagesDir('named_threads'));
  const mm = join(dir, readdirSync(dir).find((n) => /^mm-\d+\.img$/.test(n))!);
  const { header, payload } = splitSingleEntry(mm);
  // 150,000 one-page anonymous mappings with a gap between each, below every real mapping.
  const vmas = new RawWriter();
  for (let i = 0; i < COUNT; i++) {
    const vma = new RawWriter(64).field(1, BASE + i * 0x2000).field(2, BASE + i * 0x2000 + 0x1000).field(3, 0).field(4, 0).field(5, 3).field(6, 0x22).field(7, 0x201).field(8, 0).result();
    vmas.varint((14 << 3) | 2).varint(vma.length).bytes(vma);
  }
  const entry = Buffer.concat([vmas.result(), payload]);
  writeFileSync(mm, Buffer.concat([header, lengthPrefix(entry.length), entry]));
}, 60_000);
afterAll(removeScratch);

describe.skipIf(!checkpointAvailability('named_threads').available)('input-sized data without recursion', () => {
  it(`maps of ${COUNT} mappings`, { timeout: 60_000 }, async () => {
    const run = await runBounded(['maps', dir]);
    console.log(`maps of ${COUNT} mappings: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr).not.toMatch(/call stack/);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.split('\n').filter((line) => /^1[0-9a-f]{11}-1[0-9a-f]{11} +rw-p /.test(line))).toHaveLength(COUNT);
    expect(run.seconds).toBeLessThan(30);
    expect(run.peakMiB).toBeLessThan(1024);
  });

  it(`search --limit ${COUNT}`, { timeout: 60_000 }, async () => {
    const run = await runBounded(['search', dir, '--hex', '00', '--limit', String(COUNT)]);
    console.log(`search --limit ${COUNT}: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr).not.toMatch(/call stack/);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`(stopped after ${COUNT} matches; raise --limit for more)`);
    expect(run.seconds).toBeLessThan(30);
    expect(run.peakMiB).toBeLessThan(1024);
  });

  /** named_threads with a chain of 20,000 more processes under its own, each the child of the one before. */
  function chainCheckpoint(): string {
    const chain = copyImages(imagesDir('named_threads'));
    const file = join(chain, 'pstree.img');
    const root = loadTruth('named_threads').processes[0]!.pid;
    const out = new RawWriter().bytes(readFileSync(file));
    for (let i = 0; i < 20_000; i++) {
      const pid = 1_000_000 + i;
      out.entry((w) => w.field(1, pid).field(2, i === 0 ? root : pid - 1).field(3, pid).field(4, pid).field(5, pid));
    }
    writeFileSync(file, out.result());
    return chain;
  }

  it('ps of a chain of 20,000 processes', { timeout: 60_000 }, async () => {
    const chain = chainCheckpoint();
    const run = await runBounded(['ps', chain]);
    console.log(`ps of a chain of 20,000: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^1019999 +1019998 +unknown +1 +(   ){32}\[19999\] \\_ \[\]$/m);
    expect(run.seconds).toBeLessThan(20);
    expect(run.peakMiB).toBeLessThan(1024);
  });

  it('inspect --ps-tree of a chain of 20,000 processes, as text and as JSON', { timeout: 120_000 }, async () => {
    const chain = chainCheckpoint();
    const text = await runBounded(['inspect', chain, '--ps-tree']);
    console.log(`inspect --ps-tree of a chain of 20,000: peak ${text.peakMiB.toFixed(0)} MiB, ${text.seconds.toFixed(1)} s`);
    expect(text.stderr).not.toMatch(/call stack|internal error/);
    expect(text.exitCode).toBe(0);
    // The indentation stops growing at 32 levels; deeper lines show their depth.
    const last = /^( *)└── \(depth 20002\) \[1019999 \(Unknown\)\]/m.exec(text.stdout);
    expect(last).not.toBeNull();
    expect(last![1]!.length).toBeLessThanOrEqual(32 * 4);
    expect(text.stdout.length).toBeLessThan(20 * 1024 * 1024);
    expect(text.seconds).toBeLessThan(40);
    expect(text.peakMiB).toBeLessThan(1024);

    const json = await runBounded(['inspect', chain, '--ps-tree', '--json']);
    console.log(`inspect --ps-tree --json of a chain of 20,000: peak ${json.peakMiB.toFixed(0)} MiB, ${json.seconds.toFixed(1)} s`);
    expect(json.stderr).not.toMatch(/call stack|internal error/);
    expect(json.exitCode).toBe(0);
    // JSON.parse recurses too: count the depth by hand.
    let depth = 0;
    let deepest = 0;
    for (const char of json.stdout) {
      if (char === '[' || char === '{') deepest = Math.max(deepest, ++depth);
      else if (char === ']' || char === '}') depth--;
    }
    expect(depth).toBe(0);
    expect(deepest).toBeGreaterThan(40_000);
    expect(json.stdout).toContain('"pid":1019999');
    expect(json.seconds).toBeLessThan(40);
    expect(json.peakMiB).toBeLessThan(1024);
  });
});
