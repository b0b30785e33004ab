/**
 * The note descriptors of an exported core: prstatus and prpsinfo layouts, FXSAVE and the standard XSAVE
 * layout with XCR0, the XSAVE layout note, auxv trimming, NT_FILE, the signal chosen for NT_SIGINFO, and
 * the CRIUGDB note with its reader.
 */
import { describe, expect, it } from 'vitest';
import { CRIUGDB_NOTE_OWNER, NT_CRIUGDB_INFO, decodeCriuGdbInfo, encodeCriuGdbNote, findCriuGdbInfo, type CriuGdbInfo } from '../../src/export/criugdb-note.js';
import { NT, decodeNotes, encodeNote } from '../../src/export/elf.js';
import { decodeFileNote, encodeAuxv, encodeFileNote, encodePrpsinfo, encodePrstatus, nextSignal, PRPSINFO_SIZE, PRSTATUS_SIZE } from '../../src/export/notes.js';
import { XCR0, XSAVE_OFFSET, encodeFxsave, encodeXsave, encodeXsaveLayout, xcr0Of, xsaveSize } from '../../src/export/xstate.js';
import type { X86FpRegisters, X86GpRegisters, X86Registers } from '../../src/images/registers.js';
import type { SigInfo } from '../../src/images/signals.js';

function gp(): X86GpRegisters {
  const names = ['r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'origRax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fsBase', 'gsBase', 'ds', 'es', 'fs', 'gs'] as const;
  const regs = Object.fromEntries(names.map((name, i) => [name, 0x1000n + BigInt(i)])) as Record<(typeof names)[number], bigint>;
  return { ...regs, mode: 'native' };
}

function filled(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (seed * 31 + i) & 0xff));
}

function fp(): X86FpRegisters {
  return {
    cwd: 0x37f,
    swd: 0x3800,
    twd: 0x81,
    fop: 0x7ff,
    rip: 0x1122334455667788n,
    rdp: 0x8877665544332211n,
    mxcsr: 0x1fa0,
    mxcsrMask: 0xffff,
    st: Array.from({ length: 8 }, (_, i) => filled(10, i + 1)),
    xmm: Array.from({ length: 16 }, (_, i) => filled(16, i + 20)),
    padding: [],
  };
}

function registers(withAvx512 = true): X86Registers {
  return {
    arch: 'x86_64',
    clearTidAddr: 0n,
    gp: gp(),
    fpregs: fp(),
    tls: [],
    xsave: {
      xstateBv: 0x2e7n | (1n << 17n), // x87 sse avx opmask zmm_hi256 hi16_zmm pkru, plus a bit criu-gdb does not carry
      ymmh: Array.from({ length: 16 }, (_, i) => filled(16, i + 40)),
      ...(withAvx512
        ? {
            opmask: Array.from({ length: 8 }, (_, i) => 0x100n + BigInt(i)),
            zmmUpper: Array.from({ length: 16 }, (_, i) => filled(32, i + 60)),
            hi16Zmm: Array.from({ length: 16 }, (_, i) => filled(64, i + 80)),
            pkru: 0x55555554,
          }
        : {}),
    },
  };
}

describe('NT_PRSTATUS', () => {
  it('lays out struct elf_prstatus of x86-64 (336 bytes)', () => {
    const regs = gp();
    const out = encodePrstatus({ cursig: 19, sigpend: 1n << 9n, sighold: 0x8000000000000001n, pid: 101, ppid: 100, pgrp: 99, sid: 98, gp: regs, fpvalid: true });
    expect(out.length).toBe(PRSTATUS_SIZE);
    expect(out.readInt32LE(0)).toBe(19); // pr_info.si_signo
    expect(out.readInt16LE(12)).toBe(19); // pr_cursig
    expect(out.readBigUInt64LE(16)).toBe(1n << 9n);
    expect(out.readBigUInt64LE(24)).toBe(0x8000000000000001n);
    expect([out.readInt32LE(32), out.readInt32LE(36), out.readInt32LE(40), out.readInt32LE(44)]).toEqual([101, 100, 99, 98]);
    expect(out.subarray(48, 112).every((b) => b === 0)).toBe(true); // CPU times are not in the images
    // user_regs_struct: r15 first, rax 11th, orig_rax 16th, rip 17th, fs_base 22nd, gs 27th.
    expect(out.readBigUInt64LE(112)).toBe(regs.r15);
    expect(out.readBigUInt64LE(112 + 10 * 8)).toBe(regs.rax);
    expect(out.readBigUInt64LE(112 + 15 * 8)).toBe(regs.origRax);
    expect(out.readBigUInt64LE(112 + 16 * 8)).toBe(regs.rip);
    expect(out.readBigUInt64LE(112 + 21 * 8)).toBe(regs.fsBase);
    expect(out.readBigUInt64LE(112 + 26 * 8)).toBe(regs.gs);
    expect(out.readInt32LE(328)).toBe(1);
  });
});

describe('NT_PRPSINFO', () => {
  it('lays out struct elf_prpsinfo (136 bytes) and truncates fname and psargs', () => {
    const out = encodePrpsinfo({
      state: 3,
      sname: 'T',
      zombie: false,
      nice: -5,
      flags: 0x400000n,
      uid: 1000,
      gid: 1001,
      pid: 42,
      ppid: 1,
      pgrp: 42,
      sid: 40,
      fname: 'a-very-long-process-name',
      psargs: Buffer.from(`prog ${'x'.repeat(100)}`),
    });
    expect(out.length).toBe(PRPSINFO_SIZE);
    expect([out.readInt8(0), String.fromCharCode(out[1]!), out.readInt8(2), out.readInt8(3)]).toEqual([3, 'T', 0, -5]);
    expect(out.readBigUInt64LE(8)).toBe(0x400000n);
    expect([out.readUInt32LE(16), out.readUInt32LE(20)]).toEqual([1000, 1001]);
    expect([out.readInt32LE(24), out.readInt32LE(28), out.readInt32LE(32), out.readInt32LE(36)]).toEqual([42, 1, 42, 40]);
    expect(out.toString('latin1', 40, 56)).toBe('a-very-long-pro\0');
    expect(out.toString('latin1', 56, 136)).toBe(`prog ${'x'.repeat(74)}\0`);
  });
});

describe('x87, SSE and XSAVE state', () => {
  it('lays out the FXSAVE area', () => {
    const f = fp();
    const out = encodeFxsave(f);
    expect(out.length).toBe(512);
    expect([out.readUInt16LE(0), out.readUInt16LE(2), out.readUInt16LE(4), out.readUInt16LE(6)]).toEqual([0x37f, 0x3800, 0x81, 0x7ff]);
    expect(out.readBigUInt64LE(8)).toBe(f.rip);
    expect(out.readBigUInt64LE(16)).toBe(f.rdp);
    expect([out.readUInt32LE(24), out.readUInt32LE(28)]).toEqual([0x1fa0, 0xffff]);
    expect(out.subarray(32 + 3 * 16, 32 + 3 * 16 + 10).equals(f.st[3]!)).toBe(true);
    expect(out.subarray(160 + 15 * 16, 160 + 16 * 16).equals(f.xmm[15]!)).toBe(true);
    expect(out.subarray(416).every((b) => b === 0)).toBe(true);
  });

  it('writes the standard XSAVE layout with XCR0 at byte 464 and XSTATE_BV limited to it', () => {
    const regs = registers();
    const area = encodeXsave(regs)!;
    const expectedXcr0 = XCR0.x87 | XCR0.sse | XCR0.avx | XCR0.opmask | XCR0.zmmHi256 | XCR0.hi16Zmm | XCR0.pkru;
    expect(area.xcr0).toBe(expectedXcr0);
    expect(area.data.length).toBe(2696);
    expect(area.data.readBigUInt64LE(464)).toBe(expectedXcr0);
    expect(area.data.readBigUInt64LE(512)).toBe(0x2e7n); // bit 17 dropped: no data for it
    expect(area.data.readBigUInt64LE(520)).toBe(0n); // XCOMP_BV: standard, not compacted
    expect(area.data.subarray(0, 464).equals(encodeFxsave(regs.fpregs!).subarray(0, 464))).toBe(true);
    const x = regs.xsave!;
    expect(area.data.subarray(576 + 5 * 16, 576 + 6 * 16).equals(x.ymmh![5]!)).toBe(true);
    expect(area.data.readBigUInt64LE(1088 + 7 * 8)).toBe(x.opmask![7]!);
    expect(area.data.subarray(1152 + 2 * 32, 1152 + 3 * 32).equals(x.zmmUpper![2]!)).toBe(true);
    expect(area.data.subarray(1664 + 15 * 64, 1664 + 16 * 64).equals(x.hi16Zmm![15]!)).toBe(true);
    expect(area.data.readUInt32LE(2688)).toBe(0x55555554);
    // Nothing was saved for MPX: its area stays zero.
    expect(area.data.subarray(960, 1088).every((b) => b === 0)).toBe(true);
  });

  it('sizes the area by the highest component, as Linux and gdb do', () => {
    expect(xsaveSize(XCR0.x87 | XCR0.sse)).toBe(576);
    expect(xsaveSize(XCR0.x87 | XCR0.sse | XCR0.avx)).toBe(832);
    expect(xsaveSize(XCR0.x87 | XCR0.sse | XCR0.bndregs | XCR0.bndcsr)).toBe(1088);
    expect(xsaveSize(XCR0.x87 | XCR0.sse | XCR0.avx | XCR0.opmask | XCR0.zmmHi256 | XCR0.hi16Zmm)).toBe(2688);
    const avxOnly = encodeXsave(registers(false))!;
    expect(avxOnly.data.length).toBe(832);
    expect(avxOnly.xcr0).toBe(XCR0.x87 | XCR0.sse | XCR0.avx);
    expect(xcr0Of({ ...registers(), xsave: undefined })).toBe(XCR0.x87 | XCR0.sse);
    expect(encodeXsave({ ...registers(), xsave: undefined })).toBeUndefined();
    expect(encodeXsave({ ...registers(), fpregs: undefined })).toBeUndefined();
  });

  it('describes the layout in NT_X86_XSAVE_LAYOUT entries', () => {
    const layout = encodeXsaveLayout(encodeXsave(registers())!.xcr0)!;
    const entries = Array.from({ length: layout.length / 16 }, (_, i) => [0, 4, 8, 12].map((o) => layout.readUInt32LE(i * 16 + o)));
    expect(entries).toEqual([
      [2, 256, XSAVE_OFFSET.ymmh, 0],
      [5, 64, XSAVE_OFFSET.opmask, 0],
      [6, 512, XSAVE_OFFSET.zmmHi256, 0],
      [7, 1024, XSAVE_OFFSET.hi16Zmm, 0],
      [9, 8, XSAVE_OFFSET.pkru, 0],
    ]);
    expect(encodeXsaveLayout(XCR0.x87 | XCR0.sse)).toBeUndefined();
  });
});

describe('NT_AUXV and NT_FILE', () => {
  it('keeps the auxiliary vector up to and including AT_NULL', () => {
    const out = encodeAuxv([6n, 4096n, 9n, 0x401000n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(out.length).toBe(6 * 8);
    expect(out.readBigUInt64LE(24)).toBe(0x401000n);
    expect(out.readBigUInt64LE(32)).toBe(0n);
    expect(encodeAuxv([6n, 4096n]).length).toBe(16); // no AT_NULL recorded: whole pairs only
  });

  it('lists file mappings with offsets in pages, names after the table', () => {
    const entries = [
      { start: 0x400000n, end: 0x401000n, offset: 0n, name: '/bin/prog' },
      { start: 0x7f0000000000n, end: 0x7f0000003000n, offset: 0x26000n, name: '/lib/libc.so.6' },
    ];
    const out = encodeFileNote(entries, 4096n);
    expect(out.readBigUInt64LE(0)).toBe(2n);
    expect(out.readBigUInt64LE(8)).toBe(4096n);
    expect(out.readBigUInt64LE(16 + 24 + 16)).toBe(0x26n);
    expect(out.subarray(16 + 48).toString()).toBe('/bin/prog\0/lib/libc.so.6\0');
    expect(decodeFileNote(out)).toEqual(entries);
  });
});

describe('NT_SIGINFO', () => {
  const signal = (signo: number): SigInfo => ({ signo, errno: 0, code: 0, origin: 'user', raw: Buffer.alloc(128, signo) });
  it('takes the signal the kernel would deliver next: synchronous faults first, then the lowest number', () => {
    expect(nextSignal([])).toBeUndefined();
    expect(nextSignal([signal(15), signal(10), signal(34)])?.signo).toBe(10);
    expect(nextSignal([signal(2), signal(11), signal(5)])?.signo).toBe(11);
    const first = signal(34);
    expect(nextSignal([first, signal(34)])).toBe(first);
  });
});

describe('CRIUGDB note', () => {
  const info: CriuGdbInfo = {
    format: 1,
    producer: 'criu-gdb test',
    pid: 10,
    ppid: 1,
    pgid: 10,
    sid: 10,
    comm: 'server',
    state: 'stopped',
    threads: [
      { tid: 10, name: 'server' },
      { tid: 11, name: 'worker-1', unknownRegisters: ['rax'], syscallRestart: { nr: 7, name: 'poll', adjustment: 'rewound' } },
    ],
    unavailable: [{ start: '0x7fff0000', end: '0x7fff6000', reason: 'the kernel vvar area is never dumped' }],
  };

  it('round-trips through the note encoding', () => {
    const note = encodeCriuGdbNote(info);
    expect(note.name).toBe(CRIUGDB_NOTE_OWNER);
    expect(note.type).toBe(NT_CRIUGDB_INFO);
    const notes = decodeNotes(Buffer.concat([encodeNote({ name: 'CORE', type: NT.PRSTATUS, desc: Buffer.alloc(336) }), encodeNote(note)]));
    expect(findCriuGdbInfo(notes)).toEqual(info);
    expect(findCriuGdbInfo(notes.slice(0, 1))).toBeUndefined();
  });

  it('uses a type no Linux core note has, so BFD-based readers never take it for one', () => {
    expect(Object.values(NT)).not.toContain(NT_CRIUGDB_INFO);
    expect(NT_CRIUGDB_INFO).toBeGreaterThan(0xffff);
  });

  it('refuses malformed contents', () => {
    expect(() => decodeCriuGdbInfo(Buffer.from('[]'))).toThrow(/not a JSON object/);
    expect(() => decodeCriuGdbInfo(Buffer.from(JSON.stringify({ ...info, format: 2 })))).toThrow(/unknown format/);
    expect(() => decodeCriuGdbInfo(Buffer.from(JSON.stringify({ ...info, pid: '10' })))).toThrow(/'pid'/);
    expect(() => decodeCriuGdbInfo(Buffer.from(JSON.stringify({ ...info, threads: [{ tid: 1 }] })))).toThrow(/'threads'/);
    expect(() => decodeCriuGdbInfo(Buffer.from(JSON.stringify({ ...info, unavailable: [{}] })))).toThrow(/'unavailable'/);
  });
});
