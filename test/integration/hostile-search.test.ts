/**
 * Hostile checkpoints, issue 12 point 6: a pagemap claiming 2^34 present pages (64 TiB) over a pages file
 * of a few MiB. Search costs what the data costs: the claimed bytes the pages file does not hold are
 * unavailable and never scanned, in the CLI and in gdb, whose remote protocol stays in step.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointAvailability, imagesDir } from '../helpers/checkpoints.js';
import { gdbOnCheckpoint } from '../helpers/gdb-session.js';
import { bytesField, copyImages, lengthPrefix, RawWriter, removeScratch, runBounded, splitSingleEntry, varintField } from '../helpers/hostile.js';

const START = 0x1000_0000_0000;
const END = 0x5000_0000_0000;
let dir = '';

/** named_threads with one more mapping of 64 TiB, all of it claimed present by one pagemap run. */
function build(): string {
  const copy = copyImages(imagesDir('named_threads'));
  const mm = join(copy, readdirSync(copy).find((n) => /^mm-\d+\.img$/.test(n))!);
  const { header, payload } = splitSingleEntry(mm);
  const vma = bytesField(14, Buffer.concat([varintField(1, START), varintField(2, END), varintField(3, 0), varintField(4, 0), varintField(5, 3), varintField(6, 0x22), varintField(7, 0x201), varintField(8, 0)]));
  // Below every real mapping, so first: the mappings stay sorted.
  const entry = Buffer.concat([vma, payload]);
  writeFileSync(mm, Buffer.concat([header, lengthPrefix(entry.length), entry]));
  const pagemap = join(copy, readdirSync(copy).find((n) => /^pagemap-\d+\.img$/.test(n))!);
  const out = new RawWriter().bytes(readFileSync(pagemap));
  out.entry((w) => w.field(1, START).field(2, 0).field(4, 4).field(5, 2 ** 34));
  writeFileSync(pagemap, out.result());
  return copy;
}

beforeAll(() => {
  if (checkpointAvailability('named_threads').available) dir = build();
});
afterAll(removeScratch);

describe.skipIf(!checkpointAvailability('named_threads').available)('search over a claim of 64 TiB', () => {
  for (const args of [['--hex', '00'], ['--hex', '00', '--limit', '100000'], ['--regex', 'x*'], ['no such bytes anywhere']]) {
    it(`search ${args.join(' ')} ends within the bounds`, { timeout: 60_000 }, async () => {
      const run = await runBounded(['search', dir, ...args], { timeoutMs: 30_000 });
      console.log(`search ${args.join(' ')}: peak ${run.peakMiB.toFixed(0)} MiB, ${run.seconds.toFixed(1)} s`);
      expect(run.timedOut).toBe(false);
      expect(run.exitCode).toBe(0);
      expect(run.seconds).toBeLessThan(15);
      expect(run.peakMiB).toBeLessThan(400);
      // Nothing is reported inside the claimed mapping: none of its bytes is held.
      expect(run.stdout).not.toMatch(/^\d+ +0x(1|2|3|4)[0-9a-f]{11} /m);
    });
  }

  it('maps counts the claim as missing, not as present', async () => {
    const run = await runBounded(['maps', dir]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^100000000000-500000000000 +rw-p +00000000 +anon-private +0 +0 +0 +0 +0 +17179869184 *$/m);
  });

  it('info counts in images only what the pages file holds', async () => {
    const run = await runBounded(['info', dir]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Memory +64\.0 TiB mapped$/m);
    expect(run.stdout).toMatch(/^ +missing +64\.0 TiB$/m);
    const inImages = /^ +in images +([\d.]+) (B|KiB|MiB)$/m.exec(run.stdout);
    expect(inImages).not.toBeNull();
  });

  it('in gdb, criu search returns and the session stays in step', { timeout: 120_000 }, async () => {
    const { text, stderr } = await gdbOnCheckpoint(dir, ['criu search --hex 00 --limit 3', 'criu ps', 'x/2gx $sp']);
    expect(stderr).not.toMatch(/Invalid hex digit|Remote connection closed|Traceback/);
    expect(text).toMatch(/stopped after 3 matches/);
    expect(text).toMatch(/^PID +PPID/m);
    expect(text).toMatch(/^0x[0-9a-f]+:\s+0x[0-9a-f]{16}\s+0x[0-9a-f]{16}$/m);
  });
});
