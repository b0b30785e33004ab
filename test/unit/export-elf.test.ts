/**
 * The ELF core writer's pieces: file header, program headers, note encoding and alignment, layout, sparse
 * streaming of segment data, holes between segments, and extended numbering (PN_XNUM) for more than 65,534
 * segments, checked with our reader and, when installed, with readelf.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSegments, readCoreFile } from '../../src/export/core-reader.js';
import { ThreadedPageWriter } from '../../src/export/page-writer.js';
import { layoutCore, runSteps, runStepsAsync, writeCoreSteps, type CoreContents, type CoreSegment, type MemorySource } from '../../src/export/core-writer.js';
import {
  EM_X86_64,
  PF_R,
  PF_W,
  PF_X,
  PN_XNUM,
  PT_LOAD,
  PT_NOTE,
  decodeNotes,
  encodeElfHeader,
  encodeNote,
  noteSize,
  segmentFlags,
} from '../../src/export/elf.js';

const PAGE = 4096n;
const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-export-elf-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function hasReadelf(): boolean {
  try {
    execFileSync('readelf', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Memory where every byte of page N is N & 0xff (so page 0 of the address space is zero). */
const patterned: MemorySource = (address, length) => {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Number(((address + BigInt(i)) / PAGE) & 0xffn);
  return out;
};

function writeCore(name: string, contents: CoreContents, read: MemorySource = patterned, chunk = 8192, threaded?: boolean) {
  const path = join(scratch, name);
  const fd = openSync(path, 'w');
  try {
    const result = runSteps(writeCoreSteps(fd, contents, read, chunk, threaded === undefined ? {} : { threaded }));
    return { path, result };
  } finally {
    closeSync(fd);
  }
}

function dataSegment(start: bigint, pages: bigint, flags = PF_R | PF_W): CoreSegment {
  return { start, end: start + pages * PAGE, flags, parts: [{ start, end: start + pages * PAGE, kind: 'data' }] };
}

describe('ELF header', () => {
  it('is an x86-64 little-endian ET_CORE with program headers right after it', () => {
    const header = encodeElfHeader({ machine: EM_X86_64, phnum: 3, phoff: 64n, shoff: 0n });
    expect(header.length).toBe(64);
    expect(header.subarray(0, 7).toString('hex')).toBe('7f454c46020101');
    expect(header.readUInt16LE(16)).toBe(4); // ET_CORE
    expect(header.readUInt16LE(18)).toBe(62);
    expect(header.readBigUInt64LE(32)).toBe(64n);
    expect(header.readBigUInt64LE(40)).toBe(0n);
    expect([header.readUInt16LE(52), header.readUInt16LE(54), header.readUInt16LE(56)]).toEqual([64, 56, 3]);
    expect([header.readUInt16LE(58), header.readUInt16LE(60)]).toEqual([0, 0]);
  });

  it('switches to PN_XNUM at 0xffff program headers, with one section header', () => {
    const below = encodeElfHeader({ machine: EM_X86_64, phnum: 0xfffe, phoff: 64n, shoff: 999n });
    expect(below.readUInt16LE(56)).toBe(0xfffe);
    expect(below.readBigUInt64LE(40)).toBe(0n);
    const at = encodeElfHeader({ machine: EM_X86_64, phnum: 0xffff, phoff: 64n, shoff: 4096n });
    expect(at.readUInt16LE(56)).toBe(PN_XNUM);
    expect(at.readBigUInt64LE(40)).toBe(4096n);
    expect([at.readUInt16LE(58), at.readUInt16LE(60), at.readUInt16LE(62)]).toEqual([64, 1, 0]);
  });

  it('maps rwx permissions to segment flags', () => {
    expect(segmentFlags('r-xp')).toBe(PF_R | PF_X);
    expect(segmentFlags('rw-s')).toBe(PF_R | PF_W);
    expect(segmentFlags('---p')).toBe(0);
  });
});

describe('notes', () => {
  it('pads the name and the descriptor to 4 bytes and decodes back', () => {
    for (const name of ['', 'A', 'CORE', 'LINUX', 'CRIUGDB', 'EIGHTCHR']) {
      for (let length = 0; length <= 9; length++) {
        const desc = Buffer.alloc(length, 0xab);
        const encoded = encodeNote({ name, type: 0x53494749, desc });
        expect(encoded.length % 4, `${name}/${length}`).toBe(0);
        expect(encoded.length).toBe(noteSize({ name, type: 0, desc }));
        expect(encoded.readUInt32LE(0)).toBe(Buffer.byteLength(name) + 1);
        expect(encoded.readUInt32LE(4)).toBe(length);
        expect(encoded.readUInt32LE(8)).toBe(0x53494749);
        const descStart = 12 + ((Buffer.byteLength(name) + 1 + 3) & ~3);
        expect(encoded.subarray(descStart, descStart + length).equals(desc)).toBe(true);
        expect(encoded.subarray(descStart + length).every((b) => b === 0)).toBe(true);
      }
    }
    const notes = [
      { name: 'CORE', type: 1, desc: Buffer.from('abc') },
      { name: 'LINUX', type: 0x202, desc: Buffer.alloc(13, 7) },
      { name: 'CRIUGDB', type: 0x43524744, desc: Buffer.from('{}') },
    ];
    expect(decodeNotes(Buffer.concat(notes.map(encodeNote)))).toEqual(notes);
  });

  it('refuses a note that runs past its segment', () => {
    const encoded = encodeNote({ name: 'CORE', type: 1, desc: Buffer.alloc(8) });
    expect(() => decodeNotes(encoded.subarray(0, encoded.length - 4))).toThrow(/runs past/);
  });
});

describe('layout and streaming', () => {
  it('puts the notes after the program headers and every segment at a page-aligned offset', () => {
    const contents: CoreContents = {
      machine: EM_X86_64,
      pageSize: 4096,
      notes: [{ name: 'CORE', type: 1, desc: Buffer.alloc(336) }],
      segments: [dataSegment(0x10000n, 2n), dataSegment(0x20000n, 1n, PF_R | PF_X)],
    };
    const layout = layoutCore(contents);
    expect(layout.phnum).toBe(3);
    expect(layout.notesOffset).toBe(64 + 3 * 56);
    expect(layout.notesSize).toBe(12 + 8 + 336);
    expect(layout.dataOffset).toBe(4096n);
    expect(layout.segmentOffsets).toEqual([4096n, 4096n + 2n * PAGE]);
    expect(layout.fileSize).toBe(4096n + 3n * PAGE);
    expect(layout.extendedNumbering).toBe(false);
  });

  it('refuses unaligned, empty or overlapping segments', () => {
    const base: CoreContents = { machine: EM_X86_64, pageSize: 4096, notes: [], segments: [] };
    expect(() => layoutCore({ ...base, segments: [{ ...dataSegment(0x10000n, 1n), start: 0x10010n }] })).toThrow(/page-aligned/);
    expect(() => layoutCore({ ...base, segments: [{ ...dataSegment(0x10000n, 1n), end: 0x10000n }] })).toThrow(/non-empty/);
    expect(() => layoutCore({ ...base, segments: [dataSegment(0x10000n, 2n), dataSegment(0x11000n, 1n)] })).toThrow(/overlaps/);
  });

  it('writes what readelf and our reader read back, holes between segments staying out of every PT_LOAD', () => {
    // Pages 0x10..0x12 then, after a hole of two pages, 0x15..0x16.
    const contents: CoreContents = {
      machine: EM_X86_64,
      pageSize: 4096,
      notes: [{ name: 'CORE', type: 6, desc: Buffer.alloc(16) }],
      segments: [dataSegment(0x10n * PAGE, 3n), dataSegment(0x15n * PAGE, 2n)],
    };
    const { path, result } = writeCore('holes.core', contents);
    const core = readCoreFile(path);
    expect(core.phnum).toBe(3);
    expect(core.programHeaders[0]!.type).toBe(PT_NOTE);
    expect(core.notes).toEqual(contents.notes);
    const loads = loadSegments(core);
    expect(loads.map((l) => [l.vaddr, l.memsz, l.filesz])).toEqual([
      [0x10n * PAGE, 3n * PAGE, 3n * PAGE],
      [0x15n * PAGE, 2n * PAGE, 2n * PAGE],
    ]);
    const bytes = readFileSync(path);
    for (const load of loads) {
      for (let page = 0n; page < load.memsz / PAGE; page++) {
        const at = Number(load.offset + page * PAGE);
        expect(bytes[at]).toBe(Number(((load.vaddr / PAGE) + page) & 0xffn));
        expect(bytes[at + 4095]).toBe(Number(((load.vaddr / PAGE) + page) & 0xffn));
      }
    }
    expect(BigInt(bytes.length)).toBe(result.layout.fileSize);
    if (hasReadelf()) {
      const out = execFileSync('readelf', ['-lW', path], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      expect(out).toContain('There are 3 program headers');
      expect(out).toMatch(/LOAD\s+0x001000 0x0000000000010000 0x0000000000000000 0x003000 0x003000 RW\s+0x1000/);
      expect(out).toMatch(/LOAD\s+0x004000 0x0000000000015000 0x0000000000000000 0x002000 0x002000 RW\s+0x1000/);
    }
  });

  it('leaves zero pages sparse: known-zero parts are never read, zero data pages never written', () => {
    const MiB = 1024n * 1024n;
    const start = 0x100000n;
    // 16 MiB: 4 MiB of data (one page of it non-zero), then 12 MiB known to be zero.
    const segment: CoreSegment = {
      start,
      end: start + 16n * MiB,
      flags: PF_R | PF_W,
      parts: [
        { start, end: start + 4n * MiB, kind: 'data' },
        { start: start + 4n * MiB, end: start + 16n * MiB, kind: 'zero' },
      ],
    };
    const reads: Array<[bigint, number]> = [];
    const source: MemorySource = (address, length) => {
      reads.push([address, length]);
      const out = Buffer.alloc(length);
      if (address <= start + PAGE && start + PAGE < address + BigInt(length)) out.fill(0x5a, Number(start + PAGE - address), Number(start + 2n * PAGE - address));
      return out;
    };
    const { path, result } = writeCore('sparse.core', { machine: EM_X86_64, pageSize: 4096, notes: [], segments: [segment] }, source, 1024 * 1024);
    expect(reads.every(([address]) => address < start + 4n * MiB)).toBe(true);
    expect(reads.reduce((sum, [, length]) => sum + length, 0)).toBe(4 * 1024 * 1024);
    const stat = statSync(path);
    expect(BigInt(stat.size)).toBe(result.layout.fileSize);
    expect(stat.size).toBeGreaterThan(16 * 1024 * 1024);
    // The header page and the one non-zero page; file systems may round up a little.
    expect(stat.blocks * 512).toBeLessThanOrEqual(64 * 1024);
    expect(result.writtenBytes).toBe(4096n + BigInt(layoutCore({ machine: EM_X86_64, pageSize: 4096, notes: [], segments: [segment] }).notesOffset));
    const core = readCoreFile(path);
    const load = loadSegments(core)[0]!;
    const page = readFileSync(path).subarray(Number(load.offset + PAGE), Number(load.offset + 2n * PAGE));
    expect(page.every((b) => b === 0x5a)).toBe(true);
  });

  it('writes the same file from the writer thread as from the calling thread, sparse too', () => {
    const start = 0x40000n;
    const segment: CoreSegment = {
      start,
      end: start + 64n * PAGE,
      flags: PF_R | PF_W,
      parts: [
        { start, end: start + 40n * PAGE, kind: 'data' },
        { start: start + 40n * PAGE, end: start + 64n * PAGE, kind: 'zero' },
      ],
    };
    // Pages 0x40.. carry their number, except every third one, which is zero.
    const source: MemorySource = (address, length) => {
      const out = patterned(address, length);
      for (let at = 0; at < length; at += 4096) if (((address + BigInt(at)) / PAGE) % 3n === 0n) out.fill(0, at, at + 4096);
      return out;
    };
    const contents: CoreContents = { machine: EM_X86_64, pageSize: 4096, notes: [{ name: 'CORE', type: 6, desc: Buffer.alloc(16) }], segments: [segment] };
    const direct = writeCore('direct.core', contents, source, 3 * 4096, false);
    const threaded = writeCore('threaded.core', contents, source, 3 * 4096, true);
    expect(readFileSync(threaded.path).equals(readFileSync(direct.path))).toBe(true);
    expect(threaded.result.writtenBytes).toBe(direct.result.writtenBytes);
    expect(statSync(threaded.path).blocks).toBe(statSync(direct.path).blocks);
  });

  it('reports a write failure of the writer thread, writes by itself when the thread cannot start, stops it cleanly when reading fails', () => {
    const contents: CoreContents = { machine: EM_X86_64, pageSize: 4096, notes: [], segments: [dataSegment(0x10000n, 64n)] };
    const path = join(scratch, 'readonly.core');
    writeFileSync(path, Buffer.alloc(4096));
    const readOnly = openSync(path, 'r');
    try {
      // The header is written on the calling thread: EBADF there already.
      expect(() => runSteps(writeCoreSteps(readOnly, contents, patterned, 4096, { threaded: true }))).toThrow(/EBADF|bad file descriptor/i);
    } finally {
      closeSync(readOnly);
    }
    // A write failing on the writer thread itself (/dev/full: ENOSPC) comes back to the caller.
    const full = openSync('/dev/full', 'w');
    try {
      const writer = new ThreadedPageWriter(full, 8192);
      writer.write(Buffer.alloc(8192, 1), 0n);
      expect(() => {
        writer.write(Buffer.alloc(8192, 2), 8192n);
        writer.finish();
      }).toThrow(/ENOSPC|no space/i);
      writer.abort();
    } finally {
      closeSync(full);
    }
    // A thread that cannot start (here: its CommonJS source run as an ES module) is replaced by the caller.
    const fallbackPath = join(scratch, 'fallback.bin');
    const fallbackFd = openSync(fallbackPath, 'w');
    try {
      const writer = new ThreadedPageWriter(fallbackFd, 4096, { execArgv: ['--input-type=module'], startTimeoutMs: 200 });
      for (let i = 0; i < 8; i++) writer.write(Buffer.alloc(4096, i + 1), BigInt(i * 4096));
      expect(writer.finish()).toBe(8n * 4096n);
      const bytes = readFileSync(fallbackPath);
      expect([...Array.from({ length: 8 }, (_, i) => bytes[i * 4096 + 7])]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      closeSync(fallbackFd);
    }
    const fd = openSync(join(scratch, 'failing-read.core'), 'w');
    let reads = 0;
    try {
      const failing: MemorySource = (address, length) => {
        if (++reads === 10) throw new Error('source failed');
        return patterned(address, length);
      };
      expect(() => runSteps(writeCoreSteps(fd, contents, failing, 4096, { threaded: true }))).toThrow(/source failed/);
    } finally {
      closeSync(fd);
    }
  });

  it('refuses a memory source that returns the wrong length', () => {
    expect(() => writeCore('short.core', { machine: EM_X86_64, pageSize: 4096, notes: [], segments: [dataSegment(0x10000n, 1n)] }, () => Buffer.alloc(10))).toThrow(/returned 10 bytes/);
  });

  it('reports progress and lets the event loop run when driven asynchronously', async () => {
    const path = join(scratch, 'async.core');
    const fd = openSync(path, 'w');
    const seen: bigint[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      const steps = writeCoreSteps(fd, { machine: EM_X86_64, pageSize: 4096, notes: [], segments: [dataSegment(0x10000n, 256n)] }, (address, length) => {
        const until = Date.now() + 1;
        while (Date.now() < until);
        return patterned(address, length);
      }, 4096);
      await runStepsAsync(steps, (p) => void seen.push(p.done), 0);
    } finally {
      clearInterval(timer);
      closeSync(fd);
    }
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.at(-1)).toBeLessThanOrEqual(256n * PAGE);
    expect(ticks).toBeGreaterThan(0);
  });
});

describe('extended numbering (PN_XNUM)', () => {
  it('writes 70,000 segments with e_phnum = PN_XNUM and the count in section header 0', { timeout: 60_000 }, () => {
    const count = 70_000;
    const segments: CoreSegment[] = [];
    for (let i = 0; i < count; i++) {
      const start = 0x1000_0000n + BigInt(i) * 2n * PAGE; // one page mapped, one not
      segments.push({ start, end: start + PAGE, flags: i % 2 ? PF_R : PF_R | PF_W, parts: [{ start, end: start + PAGE, kind: 'zero' }] });
    }
    const { path, result } = writeCore('xnum.core', { machine: EM_X86_64, pageSize: 4096, notes: [{ name: 'CORE', type: 6, desc: Buffer.alloc(16) }], segments });
    expect(result.layout.extendedNumbering).toBe(true);
    const header = readFileSync(path).subarray(0, 64);
    expect(header.readUInt16LE(56)).toBe(PN_XNUM);
    const shoff = header.readBigUInt64LE(40);
    expect(shoff).toBe(result.layout.shoff);
    const section = readFileSync(path).subarray(Number(shoff), Number(shoff) + 64);
    expect(section.readUInt32LE(4)).toBe(0); // SHT_NULL
    expect(section.readUInt32LE(44)).toBe(count + 1); // sh_info
    const core = readCoreFile(path);
    expect(core.storedPhnum).toBe(PN_XNUM);
    expect(core.phnum).toBe(count + 1);
    const loads = loadSegments(core);
    expect(loads.length).toBe(count);
    expect(loads.every((l) => l.type === PT_LOAD && l.filesz === PAGE)).toBe(true);
    expect(loads.at(-1)!.vaddr).toBe(segments.at(-1)!.start);
    expect(statSync(path).blocks * 512).toBeLessThan(8 * 1024 * 1024); // headers only: the data is all sparse
    if (hasReadelf()) {
      const out = execFileSync('readelf', ['-lW', path], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
      expect(out.toString()).toContain(`There are ${count + 1} program headers`);
      expect((out.toString().match(/^\s+LOAD\s/gm) ?? []).length).toBe(count);
    }
  });
});
