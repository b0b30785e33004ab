/**
 * The register layer of the gdb server on hand-built register sets: the target description (well-formed
 * XML, names, numbering, features present only when the dump holds their state), the byte encoding of
 * every kind of register, unavailable registers, and the syscall-restart undo.
 */
import { describe, expect, it } from 'vitest';
import { CriuGdbError } from '../../src/errors.js';
import type { X86Registers, X86XsaveState } from '../../src/images/registers.js';
import { bytes, fxsaveOnly } from '../helpers/x86-registers.js';
import { encodeExpedited, encodeGPacket, encodeRegister, registerValue } from '../../src/rsp/registers.js';
import { FEATURE, assertServableArch, assertSupportedTask, describeX86Target, type RegisterSpec, type TargetDescription } from '../../src/rsp/target-description.js';

// ---------------------------------------------------------------------------------------------------------
// A minimal, strict XML reader: enough to prove target.xml is well-formed and to walk it.

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function parseXml(xml: string): XmlElement {
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`XML: ${why} at ${at}: ${JSON.stringify(xml.slice(at, at + 40))}`);
  };
  const skipMisc = (): void => {
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(at))![0];
      at += ws.length;
      if (xml.startsWith('<?', at)) at = xml.indexOf('?>', at) + 2 || fail('unterminated declaration');
      else if (xml.startsWith('<!--', at)) at = xml.indexOf('-->', at) + 3 || fail('unterminated comment');
      else if (xml.startsWith('<!DOCTYPE', at)) at = xml.indexOf('>', at) + 1 || fail('unterminated doctype');
      else return;
    }
  };
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*\s*=\s*"[^"<&]*")*)\s*(\/?)>/.exec(xml.slice(at));
    if (!open) return fail('bad start tag');
    at += open[0].length;
    const attributes: Record<string, string> = {};
    for (const m of open[2]!.matchAll(/([A-Za-z_][\w.-]*)\s*=\s*"([^"]*)"/g)) {
      if (m[1]! in attributes) fail(`duplicate attribute ${m[1]}`);
      attributes[m[1]!] = m[2]!;
    }
    const node: XmlElement = { name: open[1]!, attributes, children: [], text: '' };
    if (open[3] === '/') return node;
    for (;;) {
      const text = /^[^<]*/.exec(xml.slice(at))![0];
      if (/[&>]/.test(text)) fail('raw & or > in text');
      node.text += text;
      at += text.length;
      if (xml.startsWith('</', at)) {
        const close = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(xml.slice(at));
        if (!close || close[1] !== node.name) fail(`mismatched end tag for ${node.name}`);
        at += close![0].length;
        return node;
      }
      if (xml.startsWith('<!--', at)) {
        at = xml.indexOf('-->', at) + 3 || fail('unterminated comment');
        continue;
      }
      if (at >= xml.length) fail(`unterminated ${node.name}`);
      node.children.push(element());
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (at !== xml.length) fail('content after the root element');
  return root;
}

// ---------------------------------------------------------------------------------------------------------
// Register sets.

function withXsave(xsave: X86XsaveState): X86Registers {
  return { ...fxsaveOnly(), xsave };
}

const AVX_ONLY = (): X86Registers => withXsave({ xstateBv: 0x7n, ymmh: Array.from({ length: 16 }, (_, i) => bytes(16, 0x80 + i)) });

const FULL = (bv = 0x2e7n): X86Registers =>
  withXsave({
    xstateBv: bv,
    ymmh: Array.from({ length: 16 }, (_, i) => bytes(16, 0x80 + i)),
    opmask: Array.from({ length: 8 }, (_, i) => 0xa000000000000000n | BigInt(i + 1)),
    zmmUpper: Array.from({ length: 16 }, (_, i) => bytes(32, 0x40 + i)),
    hi16Zmm: Array.from({ length: 16 }, (_, i) => bytes(64, 0x20 + i)),
    pkru: 0x55555554,
  });

function spec(desc: TargetDescription, name: string): RegisterSpec {
  const found = desc.registers.find((r) => r.name === name);
  if (!found) throw new Error(`no register ${name}`);
  return found;
}

function value(desc: TargetDescription, regs: X86Registers, name: string, unavailable?: ReadonlySet<string>): Buffer | undefined {
  return registerValue(spec(desc, name), regs, unavailable);
}

const le = (hex: string): Buffer => Buffer.from(hex, 'hex');

// ---------------------------------------------------------------------------------------------------------

describe('target description', () => {
  it('is one well-formed target document with architecture, osabi and inline features', () => {
    const desc = describeX86Target(FULL());
    const root = parseXml(desc.xml);
    expect(root.name).toBe('target');
    expect(root.children.find((c) => c.name === 'architecture')?.text).toBe('i386:x86-64');
    expect(root.children.find((c) => c.name === 'osabi')?.text).toBe('GNU/Linux');
    expect(desc.xml).not.toContain('xi:include');
    const features = root.children.filter((c) => c.name === 'feature').map((f) => f.attributes['name']);
    expect(features).toEqual([FEATURE.core, FEATURE.sse, FEATURE.linux, FEATURE.segments, FEATURE.avx, FEATURE.avx512, FEATURE.pkeys]);
    expect(desc.features).toEqual(features);
  });

  it('numbers registers as gdbserver does for amd64-linux, in XML order, and the XML agrees with the specs', () => {
    const desc = describeX86Target(FULL());
    const names = desc.registers.map((r) => r.name);
    expect(names.slice(0, 24)).toEqual([
      'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
      'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
      'rip', 'eflags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs',
    ]);
    const at = (name: string): number => spec(desc, name).regnum;
    expect([at('st0'), at('fctrl'), at('fop'), at('xmm0'), at('mxcsr'), at('orig_rax'), at('fs_base'), at('gs_base'), at('ymm0h')]).toEqual([
      24, 32, 39, 40, 56, 57, 58, 59, 60,
    ]);
    expect([at('xmm16'), at('ymm16h'), at('k0'), at('zmm0h'), at('zmm31h'), at('pkru')]).toEqual([76, 92, 108, 116, 147, 148]);
    expect(desc.registers).toHaveLength(149);
    desc.registers.forEach((r, i) => expect(r.regnum).toBe(i));
    const xmlRegs = parseXml(desc.xml)
      .children.filter((c) => c.name === 'feature')
      .flatMap((f) => f.children.filter((c) => c.name === 'reg').map((r): Record<string, string | undefined> => ({ ...r.attributes, feature: f.attributes['name'] })));
    expect(xmlRegs.map((r) => [r['name'], Number(r['bitsize']), Number(r['regnum']), r['feature'], r['type']])).toEqual(
      desc.registers.map((r) => [r.name, r.bitsize, r.regnum, r.feature, r.type]),
    );
    expect(desc.gPacketBytes).toBe(desc.registers.reduce((n, r) => n + r.bitsize / 8, 0));
  });

  it('gives the sizes gdb expects', () => {
    const desc = describeX86Target(FULL());
    const size = (name: string): number => spec(desc, name).bitsize;
    expect([size('rax'), size('rip'), size('eflags'), size('cs'), size('gs'), size('st7'), size('ftag'), size('orig_rax')]).toEqual([64, 64, 32, 32, 32, 80, 32, 64]);
    expect([size('xmm15'), size('ymm15h'), size('xmm31'), size('ymm31h'), size('k7'), size('zmm0h'), size('zmm31h'), size('pkru')]).toEqual([128, 128, 128, 128, 64, 256, 256, 32]);
  });

  it('defines every non-predefined type it uses in the feature that uses it', () => {
    const predefined = new Set(['int8', 'int16', 'int32', 'int64', 'int', 'uint32', 'uint64', 'uint128', 'data_ptr', 'code_ptr', 'i387_ext', 'ieee_single', 'ieee_double', 'ieee_half', 'bfloat16']);
    for (const regs of [fxsaveOnly(), AVX_ONLY(), FULL(), withXsave({ xstateBv: 0x1bn, ymmh: [], bndregs: [0, 1, 2, 3].map(() => ({ lower: 0n, upper: 0n })), bndcsr: { bndcfgu: 0n, bndstatus: 0n } })]) {
      for (const feature of parseXml(describeX86Target(regs).xml).children.filter((c) => c.name === 'feature')) {
        const defined = new Set(feature.children.filter((c) => c.name !== 'reg').map((c) => c.attributes['id']));
        const used = feature.children.flatMap((c) => (c.name === 'reg' ? [c.attributes['type']] : c.children.map((f) => f.attributes['type']).concat(c.attributes['type'])));
        for (const type of used) if (type !== undefined) expect(predefined.has(type) || defined.has(type), `${type} in ${feature.attributes['name']}`).toBe(true);
      }
    }
  });

  it('includes only the features the dump holds', () => {
    expect(describeX86Target(fxsaveOnly()).features).toEqual([FEATURE.core, FEATURE.sse, FEATURE.linux, FEATURE.segments]);
    expect(describeX86Target(AVX_ONLY()).features).toEqual([FEATURE.core, FEATURE.sse, FEATURE.linux, FEATURE.segments, FEATURE.avx]);
    const noPkru = FULL();
    delete noPkru.xsave!.pkru;
    expect(describeX86Target(noPkru).features).not.toContain(FEATURE.pkeys);
    expect(describeX86Target(noPkru).features).toContain(FEATURE.avx512);
    // AVX-512 state without the AVX component cannot be described: gdb requires the avx feature.
    const noYmm = FULL();
    delete noYmm.xsave!.ymmh;
    expect(describeX86Target(noYmm).features).not.toContain(FEATURE.avx512);
    expect(describeX86Target(fxsaveOnly()).registers.map((r) => r.name)).not.toContain('ymm0h');
    // A process-wide description includes what any thread has.
    expect(describeX86Target([fxsaveOnly(), FULL()]).features).toContain(FEATURE.avx512);
  });

  it('describes a component recorded in its init state (bit clear in XSTATE_BV)', () => {
    const desc = describeX86Target(FULL(0x3n));
    expect(desc.features).toEqual([FEATURE.core, FEATURE.sse, FEATURE.linux, FEATURE.segments, FEATURE.avx, FEATURE.avx512, FEATURE.pkeys]);
  });
});

describe('task checks', () => {
  it('refuses a 32-bit compat task with one clear line', () => {
    const compat = fxsaveOnly();
    compat.gp.mode = 'compat';
    expect(() => assertSupportedTask(compat, 'process 42')).toThrow(CriuGdbError);
    expect(() => assertSupportedTask(compat, 'process 42')).toThrow(/^process 42 is a 32-bit task; only 64-bit x86 tasks can be served$/);
    expect(() => describeX86Target(compat)).toThrow(/32-bit task/);
    expect(() => assertSupportedTask(fxsaveOnly())).not.toThrow();
  });

  it('refuses other architectures', () => {
    expect(() => assertServableArch('ppc64le', 'process 7')).toThrow(CriuGdbError);
    expect(() => assertServableArch('ppc64le', 'process 7')).toThrow(/^process 7 is a ppc64le task; only x86_64 and aarch64 tasks can be served to gdb$/);
    expect(() => assertServableArch('mips')).toThrow(/is a mips task/);
    expect(() => assertServableArch('x86_64')).not.toThrow();
    expect(() => assertServableArch('aarch64')).not.toThrow();
  });
});

describe('register values', () => {
  it('encodes general registers little-endian, eflags and selectors as 32 bits', () => {
    const regs = fxsaveOnly();
    const desc = describeX86Target(regs);
    expect(value(desc, regs, 'rax')).toEqual(le('fefdffffffffffff'));
    expect(value(desc, regs, 'rip')).toEqual(le('0010400000000000'));
    expect(value(desc, regs, 'eflags')).toEqual(le('46020000'));
    expect(value(desc, regs, 'cs')).toEqual(le('33000000'));
    expect(value(desc, regs, 'ss')).toEqual(le('2b000000'));
    expect(value(desc, regs, 'orig_rax')).toEqual(le('ffffffffffffffff'));
    expect(value(desc, regs, 'fs_base')).toEqual(le('00100000007f0000'));
  });

  it('gives the x87 registers in gdb layout: full tag word, 64-bit FXSAVE pointers, 11-bit fop', () => {
    const regs = fxsaveOnly();
    const desc = describeX86Target(regs);
    const word = (name: string): number => value(desc, regs, name)!.readUInt32LE(0);
    expect(value(desc, regs, 'st0')).toEqual(le('0000000000000080ff3f'));
    expect(word('fctrl')).toBe(0x37f);
    expect(word('fstat')).toBe(0x3800);
    // Physical register 7 holds a valid number (tag 00), all others are empty (11).
    expect(word('ftag')).toBe(0x3fff);
    expect(word('fioff')).toBe(0x87654321);
    expect(word('fiseg')).toBe(0x1234);
    expect(word('fooff')).toBe(0x11223344);
    expect(word('foseg')).toBe(0xabcd);
    expect(word('fop')).toBe(0x1dd);
    expect(word('mxcsr')).toBe(0x1fa0);
  });

  it('gives the architectural init values for an x87 component recorded in its init state', () => {
    const regs = withXsave({ xstateBv: 0x2n });
    const desc = describeX86Target(regs);
    const word = (name: string): number => value(desc, regs, name)!.readUInt32LE(0);
    expect([word('fctrl'), word('fstat'), word('ftag'), word('fiseg'), word('fioff'), word('fop')]).toEqual([0x37f, 0, 0xffff, 0, 0, 0]);
    expect(value(desc, regs, 'st0')).toEqual(Buffer.alloc(10));
    expect(word('mxcsr')).toBe(0x1fa0); // loaded by XRSTOR regardless of XSTATE_BV
    expect(value(desc, regs, 'xmm3')).toEqual(bytes(16, 0x30));
  });

  it('splits ymm and zmm into the pieces gdb reassembles', () => {
    const regs = FULL();
    const desc = describeX86Target(regs);
    expect(value(desc, regs, 'xmm5')).toEqual(bytes(16, 0x50));
    expect(value(desc, regs, 'ymm5h')).toEqual(bytes(16, 0x85));
    expect(value(desc, regs, 'zmm5h')).toEqual(bytes(32, 0x45));
    const zmm20 = bytes(64, 0x24);
    expect(value(desc, regs, 'xmm20')).toEqual(zmm20.subarray(0, 16));
    expect(value(desc, regs, 'ymm20h')).toEqual(zmm20.subarray(16, 32));
    expect(value(desc, regs, 'zmm20h')).toEqual(zmm20.subarray(32, 64));
    expect(value(desc, regs, 'k3')).toEqual(le('040000000000' + '00a0'));
    expect(value(desc, regs, 'pkru')).toEqual(le('54555555'));
  });

  it('gives zeros (available) for vector components in their init state', () => {
    const regs = FULL(0x3n); // only x87 and SSE in use
    const desc = describeX86Target(regs);
    expect(value(desc, regs, 'ymm0h')).toEqual(Buffer.alloc(16));
    expect(value(desc, regs, 'zmm31h')).toEqual(Buffer.alloc(32));
    expect(value(desc, regs, 'xmm31')).toEqual(Buffer.alloc(16));
    expect(value(desc, regs, 'k7')).toEqual(Buffer.alloc(8));
    expect(value(desc, regs, 'pkru')).toEqual(Buffer.alloc(4));
    expect(value(desc, regs, 'xmm1')).toEqual(bytes(16, 0x10));
  });

  it('sends xx for registers the dump did not save, in g and p', () => {
    const regs = FULL();
    delete regs.xsave!.opmask;
    const desc = describeX86Target(regs);
    expect(value(desc, regs, 'k0')).toBeUndefined();
    expect(encodeRegister(spec(desc, 'k0'), regs)).toBe('xx'.repeat(8));
    expect(encodeRegister(spec(desc, 'rax'), regs)).toBe('fefdffffffffffff');
    const g = encodeGPacket(desc, regs);
    expect(g).toHaveLength(desc.gPacketBytes * 2);
    let offset = 0;
    for (const r of desc.registers) {
      const hex = g.slice(offset, offset + r.bitsize / 4);
      if (/^k\d$/.test(r.name)) expect(hex).toBe('x'.repeat(16));
      else expect(hex).toMatch(/^[0-9a-f]+$/);
      offset += r.bitsize / 4;
    }
    // A register named unavailable by liveRegisters is unavailable too.
    expect(encodeRegister(spec(desc, 'rax'), regs, new Set(['rax']))).toBe('xx'.repeat(8));
  });

  it('encodes the expedited registers of a stop reply', () => {
    const regs = fxsaveOnly();
    const desc = describeX86Target(regs);
    expect(encodeExpedited(desc, regs)).toBe('06:1000fe7f00000000;07:0000fe7f00000000;10:0010400000000000;');
    expect(encodeExpedited(desc, regs, new Set(['rbp']))).toBe('07:0000fe7f00000000;10:0010400000000000;');
  });
});
