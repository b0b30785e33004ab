/**
 * Memory search: on the committed demo fixture (a known global at a known address), and on a synthetic
 * process whose reads are scripted, for chunk boundaries, unavailable bytes, zero-page skipping and limits.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/views/args.js';
import { searchCommand } from '../../src/cli/commands/index.js';
import { formatMatches, parseHexPattern, searchCheckpoint } from '../../src/views/search.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import type { MemoryRead, MemoryRegion, MemorySpan } from '../../src/model/memory.js';
import type { ProcessModel } from '../../src/model/process.js';
import { SEARCH_CHUNK_BYTES, searchMemory } from '../../src/model/search.js';
import type { Mapping } from '../../src/model/types.js';
import { findSymbol, fixtureImagesDir, fixtureRootfs, loadFixtureTruth, parseAddress, rootProcess } from '../helpers/checkpoints.js';

const truth = loadFixtureTruth('demo');
const live = rootProcess(truth);
const storeName = findSymbol(live, 'g_store_name');
const STORE = 'criu-gdb corner shop';

describe('searchMemory on the demo fixture', () => {
  const checkpoint = Checkpoint.open(fixtureImagesDir('demo'), { root: fixtureRootfs('demo') });
  afterAll(() => checkpoint.close());

  it('finds g_store_name at its address, in the binary’s data mapping, with context', () => {
    const process = checkpoint.process(live.pid);
    const matches = searchMemory(process, Buffer.from(STORE), { context: 8 });
    const match = matches.find((m) => m.address === parseAddress(storeName.address));
    expect(match).toBeDefined();
    expect(match!.pid).toBe(live.pid);
    expect(match!.mappingName).toBe(live.exe);
    const offset = Number(match!.address - match!.contextStart);
    expect(offset).toBe(8);
    expect(match!.context.subarray(offset, offset + STORE.length).toString()).toBe(STORE);
    expect(match!.context.length).toBe(8 + STORE.length + 8);
    // The bytes at the address are the string itself.
    expect(process.memory().readExact(match!.address, STORE.length).toString()).toBe(STORE);
  });

  it('finds hex patterns and reports addresses usable with x/s', () => {
    const hex = Buffer.from(STORE).toString('hex').replace(/(..)/g, '$1 ');
    const result = searchCheckpoint(checkpoint, { pattern: parseHexPattern(hex), pid: live.pid });
    expect(result.matches.map((m) => m.address)).toContain(parseAddress(storeName.address));
    const text = formatMatches(result, 100);
    expect(text).toContain(`${live.pid} ${storeName.address}  ${live.exe}  |`);
  });

  it('searchCommand prints one line per match and JSON', () => {
    const dir = fixtureImagesDir('demo');
    const root = fixtureRootfs('demo');
    const text = searchCommand.run(parseArgs([dir, 'corner shop', '--root', root], searchCommand.options));
    expect(text.split('\n')).toContain(`${live.pid} 0x${(parseAddress(storeName.address) + 9n).toString(16)}  ${live.exe}  |.......criu-gdb corner shop................|`);
    const json = JSON.parse(searchCommand.run(parseArgs([dir, STORE, '--root', root, '--json', '--context', '0'], searchCommand.options))) as {
      matches: Array<{ pid: number; address: string; mapping: string; context: string; contextHex: string }>;
      truncated: boolean;
    };
    expect(json.truncated).toBe(false);
    expect(json.matches).toContainEqual({
      pid: live.pid,
      address: storeName.address,
      mapping: live.exe,
      contextAddress: storeName.address,
      contextHex: Buffer.from(STORE).toString('hex'),
      context: STORE,
    });
  });

  it('stops at the limit and says so', () => {
    const result = searchCheckpoint(checkpoint, { pattern: Buffer.from([0]), limit: 3 });
    expect(result.matches).toHaveLength(3);
    expect(result.truncated).toBe(true);
    expect(formatMatches(result, 3)).toMatch(/stopped after 3 matches/);
    expect(formatMatches({ matches: [], truncated: false }, 3)).toBe('no matches');
  });

  it('refuses empty and malformed patterns', () => {
    const process = checkpoint.process(live.pid);
    expect(() => searchMemory(process, Buffer.alloc(0))).toThrow('the search pattern is empty');
    expect(() => parseHexPattern('abc')).toThrow(/not hex bytes/);
    expect(() => parseHexPattern('zz')).toThrow(/not hex bytes/);
    expect(parseHexPattern('0xdeadbeef')).toEqual(Buffer.from('deadbeef', 'hex'));
    expect(parseHexPattern('\\xde\\xad')).toEqual(Buffer.from('dead', 'hex'));
    expect(parseHexPattern('de:ad, be ef')).toEqual(Buffer.from('deadbeef', 'hex'));
  });
});

/**
 * A fake process with one mapping of `size` bytes at BASE whose content is `bytes` (the rest zero), with
 * `holes` unavailable, and (optionally) a pagemap listing only `runs`. Records every read.
 */
function fakeProcess(size: number, bytes: Array<[number, Buffer]>, holes: Array<[number, number]>, runs?: Array<[number, number]>) {
  const BASE = 0x400000n;
  const content = Buffer.alloc(size);
  for (const [offset, data] of bytes) data.copy(content, offset);
  const reads: Array<{ offset: number; length: number }> = [];
  const mapping: Mapping = { start: BASE, end: BASE + BigInt(size), perms: 'rw-p', offset: 0n, kind: 'anon-private', name: '[fake]' };
  const region: MemoryRegion = { start: BASE, end: BASE + BigInt(size), content: { type: 'private', holes: { type: 'zero' } } };
  const memory = {
    read(address: bigint, length: number): MemoryRead {
      const offset = Number(address - BASE);
      reads.push({ offset, length });
      const data = Buffer.from(content.subarray(offset, offset + length));
      const unavailable = holes
        .map(([from, to]) => ({ start: BASE + BigInt(Math.max(from, offset)), end: BASE + BigInt(Math.min(to, offset + length)), reason: 'test hole' }))
        .filter((r) => r.start < r.end);
      for (const r of unavailable) data.fill(0, Number(r.start - address), Number(r.end - address));
      return { address, data, unavailable };
    },
    regionAt: () => region,
    /** The walker's spans: `runs` hold data and the rest is zero; without runs, all of it may hold data. */
    spans(from: bigint, to: bigint): MemorySpan[] {
      const data = (start: bigint, end: bigint): MemorySpan => ({ start, end, source: { type: 'file', content: undefined as never, position: start - BASE } });
      if (!runs) return [data(from, to)];
      const spans: MemorySpan[] = [];
      let cursor = from;
      for (const [start, end] of runs.map(([a, b]) => [BASE + BigInt(a), BASE + BigInt(b)] as const)) {
        if (end <= from || start >= to) continue;
        if (start > cursor) spans.push({ start: cursor, end: start, source: { type: 'zero' } });
        spans.push(data(start > from ? start : from, end < to ? end : to));
        cursor = end < to ? end : to;
      }
      if (cursor < to) spans.push({ start: cursor, end: to, source: { type: 'zero' } });
      return spans;
    },
  };
  const process = { pid: 42, mappings: () => [mapping], memory: () => memory } as unknown as ProcessModel;
  return { process, reads, BASE };
}

describe('searchMemory chunking', () => {
  const needle = Buffer.from('NEEDLE-IN-A-HAYSTACK');

  it('finds a match that straddles a chunk boundary exactly once, reading in bounded chunks', () => {
    const at = SEARCH_CHUNK_BYTES - 7;
    const { process, reads, BASE } = fakeProcess(3 * SEARCH_CHUNK_BYTES, [[at, needle], [2 * SEARCH_CHUNK_BYTES + 5, needle]], []);
    const matches = searchMemory(process, needle);
    expect(matches.map((m) => m.address)).toEqual([BASE + BigInt(at), BASE + BigInt(2 * SEARCH_CHUNK_BYTES + 5)]);
    const scanReads = reads.filter((r) => r.length === SEARCH_CHUNK_BYTES);
    expect(scanReads).toHaveLength(3);
    expect(Math.max(...reads.map((r) => r.length))).toBe(SEARCH_CHUNK_BYTES);
  });

  it('never matches across unavailable bytes and never searches them', () => {
    const { process, BASE } = fakeProcess(
      SEARCH_CHUNK_BYTES,
      [[100, needle], [5000, needle], [9000, needle]],
      [[5003, 5004], [9000, 9020]],
    );
    const matches = searchMemory(process, needle);
    expect(matches.map((m) => m.address)).toEqual([BASE + 100n]);
  });

  it('clips the context to available bytes', () => {
    const { process, BASE } = fakeProcess(SEARCH_CHUNK_BYTES, [[200, needle]], [[190, 195]]);
    const [match] = searchMemory(process, needle, { context: 16 });
    expect(match!.contextStart).toBe(BASE + 195n);
    expect(match!.context.subarray(5, 5 + needle.length)).toEqual(needle);
  });

  it('scans only pagemap runs (plus a pattern-length margin) of anonymous memory', () => {
    const size = 64 * SEARCH_CHUNK_BYTES;
    const runStart = 40 * SEARCH_CHUNK_BYTES;
    // The pattern ends with zeros and its non-zero head is the last bytes of the run.
    const pattern = Buffer.concat([Buffer.from('tail'), Buffer.alloc(6)]);
    const { process, reads, BASE } = fakeProcess(size, [[runStart + 4096 - 4, Buffer.from('tail')]], [], [[runStart, runStart + 4096]]);
    const matches = searchMemory(process, pattern);
    expect(matches.map((m) => m.address)).toEqual([BASE + BigInt(runStart + 4096 - 4)]);
    const scanned = reads.reduce((sum, r) => sum + r.length, 0);
    expect(scanned).toBeLessThan(3 * 4096);
  });

  it('honours the limit', () => {
    const { process } = fakeProcess(SEARCH_CHUNK_BYTES, [[10, needle], [100, needle], [1000, needle]], []);
    expect(searchMemory(process, needle, { limit: 2 })).toHaveLength(2);
    expect(searchMemory(process, needle, { limit: 0 })).toHaveLength(0);
  });
});
