/**
 * The exporter's memory plan against the memory reader: for every span the plan calls data, zero or
 * unavailable, MemoryReader.read must agree (same bytes available, zeros where the plan skips reading, the
 * same reason where bytes are missing). Checked on synthetic dumps with every page source (present, parent
 * chain, lazy, holes, a short pages file, shared memory, files with a tail past EOF, missing files) and on
 * the committed fixtures; then a whole export of the demo fixture through the CLI command.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/views/args.js';
import { coredumpCommand } from '../../src/cli/commands/coredump.js';
import { loadSegments, readCoreFile, readCriuGdbInfo } from '../../src/export/core-reader.js';
import { planCore } from '../../src/export/coredump.js';
import { NT } from '../../src/export/elf.js';
import { GUARD_REASON, planProcessMemory, planRegion, withGuards, type Span } from '../../src/export/plan.js';
import { ImageDirectory } from '../../src/images/directory.js';
import { RootFile } from '../../src/model/backing-file.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { MemoryReader, type MemoryRegion } from '../../src/model/memory.js';
import { PE_LAZY, PE_PARENT, PE_PRESENT } from '../../src/images/pagemap.js';
import { RootFs } from '../../src/rootfs/resolve.js';
import { fixtureImagesDir, fixtureRootfs, loadFixtureTruth } from '../helpers/checkpoints.js';
import { imageDir, PAGE, pagemapImage, pages } from '../helpers/build-image.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-export-plan-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Checks that the spans cover [start, end) in order and that the reader agrees with each one. */
function expectReaderAgrees(memory: MemoryReader, spans: readonly Span[], start: bigint, end: bigint): void {
  expect(spans[0]?.start).toBe(start);
  expect(spans.at(-1)?.end).toBe(end);
  spans.forEach((span, i) => {
    if (i > 0) expect(span.start).toBe(spans[i - 1]!.end);
    const read = memory.read(span.start, Number(span.end - span.start));
    const where = `span ${span.kind} 0x${span.start.toString(16)}-0x${span.end.toString(16)}`;
    if (span.kind === 'unavailable') {
      expect(read.unavailable, where).toEqual([{ start: span.start, end: span.end, reason: span.reason }]);
    } else {
      expect(read.unavailable, where).toEqual([]);
      if (span.kind === 'zero') expect(read.data.every((b) => b === 0), where).toBe(true);
    }
  });
}

const BASE = 0x10000;

describe('memory plan', () => {
  it('follows the pagemap, the parent chain and lazy pages as the reader does', () => {
    const root = imageDir({});
    const pre = join(root, 'pre');
    const final = join(root, 'final');
    mkdirSync(pre);
    mkdirSync(final);
    writeFileSync(join(pre, 'pagemap-7.img'), pagemapImage(1, [[BASE + PAGE, 1, PE_PRESENT]]));
    writeFileSync(join(pre, 'pages-1.img'), pages(0xb1));
    // present, parent (there), hole, present, lazy, parent (missing there), hole
    writeFileSync(
      join(final, 'pagemap-7.img'),
      pagemapImage(2, [
        [BASE, 1, PE_PRESENT],
        [BASE + PAGE, 1, PE_PARENT],
        [BASE + 3 * PAGE, 1, PE_PRESENT],
        [BASE + 4 * PAGE, 1, PE_LAZY],
        [BASE + 5 * PAGE, 1, PE_PARENT],
      ]),
    );
    writeFileSync(join(final, 'pages-2.img'), pages(0xa0, 0xa3));
    symlinkSync('../pre', join(final, 'parent'));
    const region: MemoryRegion = { start: BigInt(BASE), end: BigInt(BASE + 8 * PAGE), content: { type: 'private', holes: { type: 'zero' } } };
    const memory = new MemoryReader(ImageDirectory.openRoot(final), 'pagemap-7.img', [region], 4096);
    const spans = planRegion(memory, region, region.start, region.end);
    expect(spans.map((s) => s.kind)).toEqual(['data', 'zero', 'data', 'unavailable', 'unavailable', 'zero']);
    expect(spans[3]!.reason).toBe('lazy pages are not in the images');
    expect(spans[4]!.reason).toBe('missing from parent/pagemap-7.img');
    expectReaderAgrees(memory, spans, region.start, region.end);
  });

  it('keeps the readable part of a short pages file and no more', () => {
    const path = imageDir({ 'pagemap-7.img': pagemapImage(1, [[BASE, 3, PE_PRESENT]]), 'pages-1.img': pages(1) });
    const region: MemoryRegion = { start: BigInt(BASE), end: BigInt(BASE + 3 * PAGE), content: { type: 'private', holes: { type: 'zero' } } };
    const memory = new MemoryReader(ImageDirectory.openRoot(path), 'pagemap-7.img', [region], 4096);
    const spans = planRegion(memory, region, region.start, region.end);
    expect(spans.map((s) => [s.kind, Number(s.end - s.start) / PAGE])).toEqual([
      ['data', 1],
      ['unavailable', 2],
    ]);
    expect(spans[1]!.reason).toBe('pages-1.img holds 4096 bytes but pagemap-7.img needs 12288');
    expectReaderAgrees(memory, spans, region.start, region.end);
  });

  it('plans shared memory by object offset, files with their zero tail, and unavailable regions', () => {
    const root = imageDir({});
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'lib', 'data.bin'), Buffer.alloc(PAGE + 100, 0x33));
    const file = new RootFile(new RootFs(root), { path: '/lib/data.bin', size: BigInt(PAGE + 100) });
    const missing = new RootFile(new RootFs(root), { path: '/lib/gone.bin', size: 10n });
    const dump = imageDir({
      'pagemap-7.img': pagemapImage(1, [[0x500000, 1, PE_PRESENT]]),
      'pages-1.img': pages(0x77),
      'pagemap-shmem-99.img': pagemapImage(3, [[2 * PAGE, 1, PE_PRESENT]]),
      'pages-3.img': pages(0x5e),
    });
    const regions: MemoryRegion[] = [
      { start: 0x400000n, end: 0x403000n, content: { type: 'shmem', image: 'pagemap-shmem-99.img', offset: BigInt(PAGE) } },
      { start: 0x500000n, end: 0x504000n, content: { type: 'private', holes: { type: 'file', source: file, offset: 0n } } },
      { start: 0x600000n, end: 0x602000n, content: { type: 'file', source: file, offset: BigInt(PAGE) } },
      { start: 0x700000n, end: 0x701000n, content: { type: 'file', source: missing, offset: 0n } },
      { start: 0x800000n, end: 0x802000n, content: { type: 'unavailable', reason: 'the kernel vvar area is never dumped' } },
      { start: 0x900000n, end: 0x901000n, content: { type: 'shmem', image: 'pagemap-shmem-404.img', offset: 0n } },
    ];
    const memory = new MemoryReader(ImageDirectory.openRoot(dump), 'pagemap-7.img', regions, 4096);
    const kinds: string[][] = [];
    for (const region of regions) {
      const spans = planRegion(memory, region, region.start, region.end);
      kinds.push(spans.map((s) => s.kind));
      expectReaderAgrees(memory, spans, region.start, region.end);
    }
    expect(kinds).toEqual([
      ['zero', 'data', 'zero'], // object pages 1..3: hole, present at object offset 2 pages, hole
      ['data', 'unavailable'], // dirtied page, clean page + zero tail from the file, then past EOF
      ['data', 'unavailable'],
      ['unavailable'],
      ['unavailable'],
      ['unavailable'],
    ]);
  });

  it('turns guard ranges (MADV_GUARD_INSTALL) into holes of the mapping they cover', () => {
    const P = BigInt(PAGE);
    const spans: Span[] = [
      { start: 0n, end: 4n * P, kind: 'data' },
      { start: 4n * P, end: 8n * P, kind: 'zero' },
    ];
    const guarded = withGuards(spans, [
      { start: 0n, end: P },
      { start: 3n * P, end: 5n * P },
      { start: 9n * P, end: 10n * P }, // outside: ignored
    ]);
    expect(guarded.map((s) => [s.kind, Number(s.start / P), Number(s.end / P)])).toEqual([
      ['unavailable', 0, 1],
      ['data', 1, 3],
      ['unavailable', 3, 5],
      ['zero', 5, 8],
    ]);
    expect(guarded[0]!.reason).toBe(GUARD_REASON);
    expect(withGuards(spans, [])).toEqual(spans);
  });

  it('agrees with the reader on every mapping of the committed fixtures', () => {
    for (const [name, root] of [
      ['demo', fixtureRootfs('demo')],
      ['pie-threads', undefined],
    ] as const) {
      const checkpoint = Checkpoint.open(fixtureImagesDir(name), { root });
      try {
        for (const process of checkpoint.processes) {
          const planned = planProcessMemory(process);
          expect(planned.length).toBe(process.mappings().length);
          for (const { mapping, spans } of planned) expectReaderAgrees(process.memory(), spans, mapping.start, mapping.end);
        }
      } finally {
        checkpoint.close();
      }
    }
  });
});

describe('export of the demo fixture', () => {
  it('writes a core whose segments are the mappings minus the holes, with the thread names in the CRIUGDB note', () => {
    const truth = loadFixtureTruth('demo');
    const live = truth.processes[0]!;
    const out = join(scratch, 'demo');
    const text = coredumpCommand.run(parseArgs([fixtureImagesDir('demo'), '--root', fixtureRootfs('demo'), '-o', out], coredumpCommand.options));
    const path = join(out, `core.${live.pid}`);
    expect(text).toContain(`${path}: pid ${live.pid} (demo), 3 threads`);
    const info = readCriuGdbInfo(path)!;
    expect(info.threads.map((t) => t.name)).toEqual(['demo', 'stocker', 'clock']);
    const core = readCoreFile(path);
    // Linux's note order: the leader's prstatus first, process-wide notes after it.
    const types = core.notes.map((n) => n.type);
    expect(types.slice(0, 2)).toEqual([NT.PRSTATUS, NT.PRPSINFO]);
    expect(types.filter((t) => t === NT.PRSTATUS).length).toBe(3);
    expect(core.notes.filter((n) => n.type === NT.PRSTATUS).map((n) => n.desc.readInt32LE(32))).toEqual(live.threads.map((t) => t.tid));
    const checkpoint = Checkpoint.open(fixtureImagesDir('demo'), { root: fixtureRootfs('demo') });
    try {
      const plan = planCore(checkpoint.process(live.pid));
      const loads = loadSegments(core);
      expect(loads.map((l) => [l.vaddr, l.memsz])).toEqual(plan.contents.segments.map((s) => [s.start, s.end - s.start]));
      const mapped = checkpoint.process(live.pid).mappings().reduce((sum, m) => sum + (m.end - m.start), 0n);
      const holes = info.unavailable.reduce((sum, u) => sum + (BigInt(u.end) - BigInt(u.start)), 0n);
      expect(loads.reduce((sum, l) => sum + l.memsz, 0n) + holes).toBe(mapped);
    } finally {
      checkpoint.close();
    }
  });

  it('leaves a thread whose core image is missing without NT_PRSTATUS, and says so in the CRIUGDB note', () => {
    const truth = loadFixtureTruth('pie-threads');
    const live = truth.processes[0]!;
    const copy = join(scratch, 'pie-threads-copy');
    cpSync(fixtureImagesDir('pie-threads'), copy, { recursive: true });
    const lost = live.threads[2]!;
    rmSync(join(copy, `core-${lost.tid}.img`));
    const out = join(scratch, 'pie-threads-out');
    const text = coredumpCommand.run(parseArgs([copy, '-o', out], coredumpCommand.options));
    expect(text).toMatch(new RegExp(`warning: core-${lost.tid}\\.img`));
    const path = join(out, `core.${live.pid}`);
    const prstatus = readCoreFile(path).notes.filter((n) => n.type === NT.PRSTATUS);
    expect(prstatus.map((n) => n.desc.readInt32LE(32))).toEqual(live.threads.filter((t) => t.tid !== lost.tid).map((t) => t.tid));
    const info = readCriuGdbInfo(path)!;
    expect(info.threads.find((t) => t.tid === lost.tid)).toEqual({ tid: lost.tid, name: '', missingCore: true });
  });

  it('prints JSON with --json, refuses a missing -o value and unknown pids', () => {
    const out = join(scratch, 'demo-json');
    const json = JSON.parse(coredumpCommand.run(parseArgs([fixtureImagesDir('demo'), '--root', fixtureRootfs('demo'), `-o${out}`, '--json'], coredumpCommand.options))) as {
      cores: Array<{ pid: number; path: string; apparentBytes: number; allocatedBytes: number; unavailable: unknown[] }>;
    };
    expect(json.cores).toHaveLength(1);
    expect(json.cores[0]!.path).toBe(join(out, `core.${json.cores[0]!.pid}`));
    expect(json.cores[0]!.allocatedBytes).toBeLessThan(json.cores[0]!.apparentBytes);
    expect(() => coredumpCommand.run(parseArgs([fixtureImagesDir('demo'), '-o'], coredumpCommand.options))).toThrow(/-o needs a directory/);
    expect(() => coredumpCommand.run(parseArgs([fixtureImagesDir('demo'), '--pid', '1', '-o', out], coredumpCommand.options))).toThrow(/no process 1/);
  });
});
