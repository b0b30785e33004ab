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
import { CriuGdbError } from '../../errors.js';
import type { X86Registers } from '../../images/registers.js';
import { buildDescription, range, regs, type FeatureDef, type FlagsType, type RegDef, type TypeDef, type UnionType, type VectorType } from '../target-xml.js';
import { x86Components, type X86Components } from './xsave.js';

import type { RegisterSpec, TargetDescription } from '../target-xml.js';

export type { RegisterSpec, TargetDescription };

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

/** Refuses a 32-bit (ia32 compat) task: its registers are not laid out as amd64 gdb expects. */
export function assertSupportedTask(regs: X86Registers, label = 'this process'): void {
  if (regs.arch !== 'x86_64') throw new CriuGdbError(`${label} is an ${String(regs.arch)} task, not x86_64`);
  if (regs.gp.mode === 'compat') throw new CriuGdbError(`${label} is a 32-bit task; only 64-bit x86 tasks can be served`);
}

// ---------------------------------------------------------------------------------------------------------
// Type definitions (generated from these tables).


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

/**
 * Describes the registers of a checkpointed x86-64 thread (or of all threads of a process: a feature is
 * included when any of them saved its state). Features whose state the dump does not hold are left out:
 * no XSAVE → no AVX, no AVX-512 components → no avx512, no PKRU → no pkeys, no MPX state → no mpx.
 */
export function describeX86Target(threads: X86Registers | readonly X86Registers[]): TargetDescription {
  const list: readonly X86Registers[] = Array.isArray(threads) ? threads : [threads as X86Registers];
  list.forEach((t) => assertSupportedTask(t));
  return buildDescription('i386:x86-64', featureList(mergedComponents(list)));
}
