/**
 * Memory CRIU keeps in unusual places, on a real checkpoint (guard_memfd) against /proc/PID/mem of the live
 * process: a mapping with guard pages (MADV_GUARD_INSTALL, which CRIU 4.2 records as an extra VMA over the
 * real one) and a MAP_PRIVATE memfd mapping of which only some pages were written through the mapping.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { checkpointAvailability, imagesDir, loadTruth, parseAddress, rootProcess, truthMemory } from '../helpers/checkpoints.js';

const NAME = 'guard_memfd';
const PAGE = 4096n;
const available = checkpointAvailability(NAME).available;
const opened: Checkpoint[] = [];
afterAll(() => opened.forEach((c) => c.close()));

function open(): Checkpoint {
  const checkpoint = Checkpoint.open(imagesDir(NAME));
  opened.push(checkpoint);
  return checkpoint;
}

describe.skipIf(!available)('guard pages', () => {
  const live = available ? rootProcess(loadTruth(NAME)) : undefined;
  const supported = live?.facts['guard.supported'] === '1';

  it.skipIf(!supported)('leave the real mapping found, its bytes served, and the guard pages reported as such', () => {
    const process = open().process(live!.pid);
    const guardStart = parseAddress(live!.facts['guard.start']!);
    const guardEnd = parseAddress(live!.facts['guard.end']!);
    const mapping = live!.maps.find((m) => parseAddress(m.start) <= guardStart && guardStart < parseAddress(m.end))!;
    const start = parseAddress(mapping.start);
    const end = parseAddress(mapping.end);
    const truth = truthMemory(NAME, live!.pid, mapping.start);
    // The live process could not read the guard pages either.
    expect(mapping.memory).toMatchObject({ unreadable: [{ start: live!.facts['guard.start'], end: live!.facts['guard.end'] }] });

    const memory = process.memory();
    for (const address of [start, guardStart - 1n, guardStart, guardEnd, end - 1n]) {
      const region = memory.regionAt(address);
      expect(region, `region at 0x${address.toString(16)}`).toBeDefined();
      expect(region!.start <= start && region!.end >= end, `the real mapping holds 0x${address.toString(16)}`).toBe(true);
    }
    const read = memory.read(start, Number(end - start));
    expect(read.unavailable).toEqual([{ start: guardStart, end: guardEnd, reason: expect.stringContaining('guard pages') }]);
    const before = Number(guardStart - start);
    const after = Number(guardEnd - start);
    expect(read.data.subarray(0, before).equals(truth.subarray(0, before))).toBe(true);
    expect(read.data.subarray(after).equals(truth.subarray(after))).toBe(true);
    // Page 4 of the program's mapping (just past the guard) holds 0x55: the real mapping's pages, not zeros.
    expect(read.data[Number(guardEnd - start)]).toBe(0x55);
  });
});

describe.skipIf(!available)('a MAP_PRIVATE memfd mapping', () => {
  it('serves the pages never touched through the mapping from the memfd, as the live process saw them', () => {
    const live = rootProcess(loadTruth(NAME));
    const address = parseAddress(live.facts['memfd.addr']!);
    const truth = truthMemory(NAME, live.pid, live.facts['memfd.addr']!);
    const read = open().process(live.pid).memory().read(address, Number(8n * PAGE));
    expect(read.unavailable).toEqual([]);
    expect(read.data.equals(truth.subarray(0, Number(8n * PAGE)))).toBe(true);
    // Touched pages start with 'X'; the others are the memfd's 'a' + i.
    expect(String.fromCharCode(read.data[Number(1n * PAGE)]!, read.data[Number(2n * PAGE)]!, read.data[Number(5n * PAGE)]!)).toBe('XcX');
  });
});
