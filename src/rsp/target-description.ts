/**
 * The gdb target description (target.xml) of a checkpointed x86-64 Linux thread, and the register
 * numbering that goes with it.
 *
 * gdb's amd64-linux support matches registers by name inside named features: `org.gnu.gdb.i386.core` and
 * `org.gnu.gdb.i386.sse` are the base, `org.gnu.gdb.i386.linux` must carry `orig_rax` (without it gdb drops
 * the Linux ABI: no syscall restart on `jump`/`call`, no signal frames, no `info proc`), AVX needs SSE and
 * AVX-512 needs AVX. gdb builds the `ymmN`/`zmmN` (and `eax`, `ax`, `al`...) pseudo registers itself from
 * `xmmN` + `ymmNh` + `zmmNh`, so only those raw pieces are described here.
 *
 * The numbering is the one gdbserver uses for amd64-linux: features in the order core, sse, linux,
 * segments, avx, mpx, avx512, pkeys, registers numbered consecutively, each feature present only when the
 * dump holds its state. Every register is in the `g` packet, in that order; `p` uses the same numbers.
 */
import { CriuGdbError } from '../errors.js';
import { x86Components, type X86Components } from '../arch/x86_64/xsave.js';
import type { X86Registers } from '../images/registers.js';

/** One register of the description. */
export interface RegisterSpec {
  /** gdb's name, e.g. `rax`, `st0`, `ymm3h`, `k1`. */
  name: string;
  /** Size in bits (8..512); every size used here is a whole number of bytes. */
  bitsize: number;
  /** Position in the `g` packet and the number the `p` packet uses. */
  regnum: number;
  /** Feature that holds it, e.g. `org.gnu.gdb.i386.core`. */
  feature: string;
  /** gdb type name, predefined or defined in the feature (e.g. `int64`, `vec128`, `i386_eflags`). */
  type: string;
  /** gdb register group, when gdb's own description gives one. */
  group?: 'float' | 'vector';
}

/** A complete target description: the XML gdb reads and the registers it numbers. */
export interface TargetDescription {
  /** Self-contained target.xml (every feature inline, no includes). */
  xml: string;
  /** Every register in `g`-packet order; `registers[i].regnum === i`. */
  registers: RegisterSpec[];
  /** Names of the features included, in order. */
  features: string[];
  /** Size of a full `g` packet in bytes (its reply has twice as many hex digits). */
  gPacketBytes: number;
}

/** Feature names gdb looks for. */
export const FEATURE = {
  core: 'org.gnu.gdb.i386.core',
  sse: 'org.gnu.gdb.i386.sse',
  linux: 'org.gnu.gdb.i386.linux',
  segments: 'org.gnu.gdb.i386.segments',
  avx: 'org.gnu.gdb.i386.avx',
  mpx: 'org.gnu.gdb.i386.mpx',
  avx512: 'org.gnu.gdb.i386.avx512',
  pkeys: 'org.gnu.gdb.i386.pkeys',
} as const;

/** Refuses anything but x86-64: `arch` is the core image's machine (`x86_64`, `aarch64`, ...). */
export function assertServableArch(arch: string, label = 'this process'): void {
  if (arch === 'x86_64') return;
  const article = /^[aeiou]/i.test(arch) ? 'an' : 'a';
  throw new CriuGdbError(`${label} is ${article} ${arch} task; only 64-bit x86 (x86_64) tasks can be served to gdb`);
}

/** Refuses a 32-bit (ia32 compat) task: its registers are not laid out as amd64 gdb expects. */
export function assertSupportedTask(regs: X86Registers, label = 'this process'): void {
  assertServableArch(regs.arch, label);
  if (regs.gp.mode === 'compat') throw new CriuGdbError(`${label} is a 32-bit task; only 64-bit x86 tasks can be served`);
}

// ---------------------------------------------------------------------------------------------------------
// Type definitions (generated from these tables).

interface FlagsType {
  kind: 'flags';
  id: string;
  size: number;
  /** [name, bit]; single-bit fields. */
  fields: Array<[string, number]>;
}
interface VectorType {
  kind: 'vector';
  id: string;
  element: string;
  count: number;
}
interface UnionType {
  kind: 'union' | 'struct';
  id: string;
  fields: Array<[string, string]>;
}
interface BitStructType {
  kind: 'bitstruct';
  id: string;
  size: number;
  /** [name, start, end, type?] */
  fields: Array<[string, number, number, string?]>;
}
type TypeDef = FlagsType | VectorType | UnionType | BitStructType;

const EFLAGS: FlagsType = {
  kind: 'flags',
  id: 'i386_eflags',
  size: 4,
  fields: [
    ['CF', 0],
    ['', 1],
    ['PF', 2],
    ['AF', 4],
    ['ZF', 6],
    ['SF', 7],
    ['TF', 8],
    ['IF', 9],
    ['DF', 10],
    ['OF', 11],
    ['NT', 14],
    ['RF', 16],
    ['VM', 17],
    ['AC', 18],
    ['VIF', 19],
    ['VIP', 20],
    ['ID', 21],
  ],
};

const MXCSR: FlagsType = {
  kind: 'flags',
  id: 'i386_mxcsr',
  size: 4,
  fields: (['IE', 'DE', 'ZE', 'OE', 'UE', 'PE', 'DAZ', 'IM', 'DM', 'ZM', 'OM', 'UM', 'PM'].map((name, bit) => [name, bit]) as Array<[string, number]>).concat([['FZ', 15]]),
};

/** The 128-bit vector view gdb shows for xmm registers: [field, element type, count]. */
const VEC128_VIEWS: Array<[string, string, number]> = [
  ['v8_bfloat16', 'bfloat16', 8],
  ['v8_half', 'ieee_half', 8],
  ['v4_float', 'ieee_single', 4],
  ['v2_double', 'ieee_double', 2],
  ['v16_int8', 'int8', 16],
  ['v8_int16', 'int16', 8],
  ['v4_int32', 'int32', 4],
  ['v2_int64', 'int64', 2],
];

function vec128Types(): TypeDef[] {
  const vectors: VectorType[] = VEC128_VIEWS.map(([field, element, count]) => ({ kind: 'vector', id: `vec128_${field}`, element, count }));
  const union: UnionType = {
    kind: 'union',
    id: 'vec128',
    fields: [...VEC128_VIEWS.map(([field]): [string, string] => [field, `vec128_${field}`]), ['uint128', 'uint128']],
  };
  return [...vectors, union];
}

const MPX_TYPES: TypeDef[] = [
  { kind: 'struct', id: 'br128', fields: [['lbound', 'uint64'], ['ubound_raw', 'uint64']] },
  { kind: 'bitstruct', id: '_bndstatus', size: 8, fields: [['bde', 2, 63], ['error', 0, 1]] },
  { kind: 'union', id: 'status', fields: [['raw', 'data_ptr'], ['status', '_bndstatus']] },
  {
    kind: 'bitstruct',
    id: '_bndcfgu',
    size: 8,
    fields: [
      ['base', 12, 63],
      ['reserved', 2, 11],
      ['preserved', 1, 1, 'uint64'],
      ['enabled', 0, 0, 'uint64'],
    ],
  },
  { kind: 'union', id: 'cfgu', fields: [['raw', 'data_ptr'], ['config', '_bndcfgu']] },
];

// ---------------------------------------------------------------------------------------------------------
// Register tables.

type RegDef = Omit<RegisterSpec, 'regnum' | 'feature'>;

const range = (count: number, from = 0): number[] => Array.from({ length: count }, (_, i) => from + i);
const regs = (names: string[], bitsize: number, type: string, group?: RegDef['group']): RegDef[] =>
  names.map((name) => (group ? { name, bitsize, type, group } : { name, bitsize, type }));

const CORE: RegDef[] = [
  ...regs(['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi'], 64, 'int64'),
  ...regs(['rbp', 'rsp'], 64, 'data_ptr'),
  ...regs(range(8, 8).map((n) => `r${n}`), 64, 'int64'),
  { name: 'rip', bitsize: 64, type: 'code_ptr' },
  { name: 'eflags', bitsize: 32, type: 'i386_eflags' },
  ...regs(['cs', 'ss', 'ds', 'es', 'fs', 'gs'], 32, 'int32'),
  ...regs(range(8).map((n) => `st${n}`), 80, 'i387_ext'),
  ...regs(['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'], 32, 'int', 'float'),
];
const SSE: RegDef[] = [...regs(range(16).map((n) => `xmm${n}`), 128, 'vec128'), { name: 'mxcsr', bitsize: 32, type: 'i386_mxcsr', group: 'vector' }];
const LINUX: RegDef[] = [{ name: 'orig_rax', bitsize: 64, type: 'int' }];
const SEGMENTS: RegDef[] = regs(['fs_base', 'gs_base'], 64, 'int');
const AVX: RegDef[] = regs(range(16).map((n) => `ymm${n}h`), 128, 'uint128');
const MPX: RegDef[] = [
  ...regs(range(4).map((n) => `bnd${n}raw`), 128, 'br128'),
  { name: 'bndcfgu', bitsize: 64, type: 'cfgu' },
  { name: 'bndstatus', bitsize: 64, type: 'status' },
];
const AVX512: RegDef[] = [
  ...regs(range(16, 16).map((n) => `xmm${n}`), 128, 'vec128'),
  ...regs(range(16, 16).map((n) => `ymm${n}h`), 128, 'uint128'),
  ...regs(range(8).map((n) => `k${n}`), 64, 'uint64'),
  ...regs(range(32).map((n) => `zmm${n}h`), 256, 'v2ui128'),
];
const PKEYS: RegDef[] = [{ name: 'pkru', bitsize: 32, type: 'uint32' }];

interface FeatureDef {
  name: string;
  types: TypeDef[];
  registers: RegDef[];
}

/** Which optional features a set of component states supports. */
function featureList(c: X86Components): FeatureDef[] {
  const present = (s: X86Components[keyof X86Components]): boolean => s !== 'absent';
  const features: FeatureDef[] = [
    { name: FEATURE.core, types: [EFLAGS], registers: CORE },
    { name: FEATURE.sse, types: [...vec128Types(), MXCSR], registers: SSE },
    { name: FEATURE.linux, types: [], registers: LINUX },
    { name: FEATURE.segments, types: [], registers: SEGMENTS },
  ];
  const avx = present(c.ymm);
  if (avx) features.push({ name: FEATURE.avx, types: [], registers: AVX });
  if (present(c.bndregs) || present(c.bndcsr)) features.push({ name: FEATURE.mpx, types: MPX_TYPES, registers: MPX });
  // gdb rejects an AVX-512 feature without the AVX one.
  if (avx && (present(c.opmask) || present(c.zmmHi256) || present(c.hi16Zmm))) {
    features.push({
      name: FEATURE.avx512,
      types: [...vec128Types(), { kind: 'vector', id: 'v2ui128', element: 'uint128', count: 2 }],
      registers: AVX512,
    });
  }
  if (present(c.pkru)) features.push({ name: FEATURE.pkeys, types: [], registers: PKEYS });
  return features;
}

/** The most capable state of each component across threads (a feature is described if any thread has it). */
function mergedComponents(threads: readonly X86Registers[]): X86Components {
  const rank = { absent: 0, init: 1, saved: 2 } as const;
  const all = threads.map(x86Components);
  const first = all[0];
  if (!first) throw new CriuGdbError('no thread registers to describe');
  const merged: X86Components = { ...first };
  for (const c of all.slice(1)) {
    for (const key of Object.keys(merged) as Array<keyof X86Components>) {
      if (rank[c[key]] > rank[merged[key]]) merged[key] = c[key];
    }
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------------------
// XML generation.

function attr(value: string | number): string {
  return `"${String(value).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}"`;
}

function typeXml(t: TypeDef): string[] {
  switch (t.kind) {
    case 'flags':
      return [
        `  <flags id=${attr(t.id)} size=${attr(t.size)}>`,
        ...t.fields.map(([name, bit]) => `    <field name=${attr(name)} start=${attr(bit)} end=${attr(bit)}/>`),
        '  </flags>',
      ];
    case 'vector':
      return [`  <vector id=${attr(t.id)} type=${attr(t.element)} count=${attr(t.count)}/>`];
    case 'union':
    case 'struct':
      return [
        `  <${t.kind} id=${attr(t.id)}>`,
        ...t.fields.map(([name, type]) => `    <field name=${attr(name)} type=${attr(type)}/>`),
        `  </${t.kind}>`,
      ];
    case 'bitstruct':
      return [
        `  <struct id=${attr(t.id)} size=${attr(t.size)}>`,
        ...t.fields.map(
          ([name, start, end, type]) => `    <field name=${attr(name)} start=${attr(start)} end=${attr(end)}${type ? ` type=${attr(type)}` : ''}/>`,
        ),
        '  </struct>',
      ];
  }
}

function registerXml(r: RegisterSpec): string {
  const group = r.group ? ` group=${attr(r.group)}` : '';
  return `  <reg name=${attr(r.name)} bitsize=${attr(r.bitsize)} type=${attr(r.type)} regnum=${attr(r.regnum)}${group}/>`;
}

/**
 * Describes the registers of a checkpointed x86-64 thread (or of all threads of a process: a feature is
 * included when any of them saved its state). Features whose state the dump does not hold are left out:
 * no XSAVE → no AVX, no AVX-512 components → no avx512, no PKRU → no pkeys, no MPX state → no mpx.
 */
export function describeX86Target(threads: X86Registers | readonly X86Registers[]): TargetDescription {
  const list: readonly X86Registers[] = Array.isArray(threads) ? threads : [threads as X86Registers];
  list.forEach((t) => assertSupportedTask(t));
  const features = featureList(mergedComponents(list));
  const registers: RegisterSpec[] = [];
  const lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', '<target version="1.0">', '<architecture>i386:x86-64</architecture>', '<osabi>GNU/Linux</osabi>'];
  for (const feature of features) {
    lines.push(`<feature name=${attr(feature.name)}>`);
    for (const t of feature.types) lines.push(...typeXml(t));
    for (const def of feature.registers) {
      const spec: RegisterSpec = { ...def, regnum: registers.length, feature: feature.name };
      registers.push(spec);
      lines.push(registerXml(spec));
    }
    lines.push('</feature>');
  }
  lines.push('</target>', '');
  return {
    xml: lines.join('\n'),
    registers,
    features: features.map((f) => f.name),
    gPacketBytes: registers.reduce((sum, r) => sum + r.bitsize / 8, 0),
  };
}
