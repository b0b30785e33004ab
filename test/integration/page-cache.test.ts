/**
 * The page cache in front of a checkpoint's memory: every read through it equals the bytes the live process
 * held (recorded in the checkpoint's truth), it stops at the end of a mapping as the uncached reader does,
 * and it stays within its capacity.
 */
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { PageCache } from '../../src/model/page-cache.js';
import { checkpointAvailability, imagesDir, loadTruth, truthMemory } from '../helpers/checkpoints.js';
import { maskKernelOwned } from '../helpers/gdb-session.js';

const NAME = 'pie_callchain';
const availability = checkpointAvailability(NAME);

describe.skipIf(!availability.available)('page cache', () => {
  it('returns the live bytes for small reads at scattered and sequential addresses, including across pages', () => {
    const truth = loadTruth(NAME);
    const live = truth.processes.find((p) => p.pid === truth.rootPid)!;
    const checkpoint = Checkpoint.open(imagesDir(NAME));
    try {
      const cache = new PageCache(checkpoint.process(live.pid).memory(), { capacityBytes: 16 * 4096, readAheadPages: 4, sequentialReadAheadPages: 32 });
      let seed = 7;
      const next = (limit: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) % limit;
      let checked = 0;
      for (const mapping of live.maps) {
        if (mapping.memory.kind !== 'bytes') continue;
        const bytes = truthMemory(NAME, live.pid, mapping.start);
        const start = BigInt(mapping.start);
        for (let i = 0; i < 200; i++) {
          const length = Math.min(bytes.length, 1 + next(i % 10 === 0 ? 9000 : 64));
          const offset = i < 100 ? next(Math.max(1, bytes.length - length)) : Math.min((i - 100) * 61, Math.max(0, bytes.length - length));
          const got = Buffer.from(cache.readAvailable(start + BigInt(offset), length));
          const want = Buffer.from(bytes.subarray(offset, offset + length));
          maskKernelOwned(checkpoint, live.pid, start + BigInt(offset), [got, want]);
          expect(got.equals(want), `${mapping.name} +${offset} (${length})`).toBe(true);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(1000);
      const stats = cache.stats;
      expect(stats.cachedPages).toBeLessThanOrEqual(16);
      expect(stats.hits).toBeGreaterThan(0);
    } finally {
      checkpoint.close();
    }
  });

  it('stops at the end of a mapping followed by unmapped addresses, like the uncached reader', () => {
    const truth = loadTruth(NAME);
    const live = truth.processes.find((p) => p.pid === truth.rootPid)!;
    const checkpoint = Checkpoint.open(imagesDir(NAME));
    try {
      const memory = checkpoint.process(live.pid).memory();
      const cache = new PageCache(memory);
      const ends = live.maps.filter((m) => m.memory.kind === 'bytes' && !live.maps.some((other) => other.start === m.end));
      expect(ends.length).toBeGreaterThan(0);
      for (const mapping of ends) {
        const end = BigInt(mapping.end);
        const got = Buffer.from(cache.readAvailable(end - 100n, 300));
        const want = Buffer.from(truthMemory(NAME, live.pid, mapping.start).subarray(-100));
        maskKernelOwned(checkpoint, live.pid, end - 100n, [got, want]);
        expect(got.equals(want)).toBe(true);
        expect(cache.readAvailable(end, 8).length).toBe(0);
      }
    } finally {
      checkpoint.close();
    }
  });
});
