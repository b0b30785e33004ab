/**
 * The gdb target description of a checkpointed AArch64 Linux thread.
 *
 * gdb's aarch64-linux support finds registers by name inside its features: `org.gnu.gdb.aarch64.core`
 * (x0-x30, sp, pc, cpsr) is required; `org.gnu.gdb.aarch64.fpu` (v0-v31, fpsr, fpcr) gives the FP/SIMD
 * registers, from which gdb builds the q/d/s/h/b pseudo registers itself; `org.gnu.gdb.aarch64.tls` carries
 * tpidr (TPIDR_EL0, the thread pointer glibc's TLS uses). Registers are numbered consecutively in that
 * order, as gdbserver numbers them for aarch64-linux: x0 = 0, sp = 31, pc = 32, cpsr = 33, v0 = 34,
 * fpsr = 66, fpcr = 67, tpidr = 68.
 *
 * When the kernel enabled pointer authentication, `org.gnu.gdb.aarch64.pauth` carries the PAC masks
 * gdb strips signed return addresses with (pauth_dmask, pauth_cmask, numbered after tpidr); CRIU does not
 * save them, see pauthMask for how they are known. CRIU may save the keys; gdb has no register for keys,
 * so they only go into exported cores.
 */
import type { Registers } from '../../images/registers.js';
import { assertArch } from '../architecture.js';
import type { Aarch64LiveRegisters } from './syscall-restart.js';
import { buildDescription, range, regs, type FeatureDef, type FlagsType, type TargetDescription, type TypeDef } from '../target-xml.js';

/** Feature names gdb looks for. */
export const AARCH64_FEATURE = {
  core: 'org.gnu.gdb.aarch64.core',
  fpu: 'org.gnu.gdb.aarch64.fpu',
  tls: 'org.gnu.gdb.aarch64.tls',
  pauth: 'org.gnu.gdb.aarch64.pauth',
} as const;

/** PSTATE bits as user space sees them in cpsr. */
const CPSR: FlagsType = {
  kind: 'flags',
  id: 'cpsr_flags',
  size: 4,
  fields: [
    ['SP', 0],
    ['nRW', 4],
    ['F', 6],
    ['I', 7],
    ['A', 8],
    ['D', 9],
    ['SSBS', 12],
    ['PAN', 22],
    ['UAO', 23],
    ['DIT', 24],
    ['TCO', 25],
    ['V', 28],
    ['C', 29],
    ['Z', 30],
    ['N', 31],
  ],
};

/** The views of a 128-bit SIMD register: [union, [field, element type, count]...]. */
const LANE_VIEWS: Array<[string, Array<[string, string, number]>]> = [
  ['vnd', [['f', 'ieee_double', 2], ['u', 'uint64', 2], ['s', 'int64', 2]]],
  ['vns', [['f', 'ieee_single', 4], ['u', 'uint32', 4], ['s', 'int32', 4]]],
  ['vnh', [['bf', 'bfloat16', 8], ['f', 'ieee_half', 8], ['u', 'uint16', 8], ['s', 'int16', 8]]],
  ['vnb', [['u', 'uint8', 16], ['s', 'int8', 16]]],
  ['vnq', [['u', 'uint128', 1], ['s', 'int128', 1]]],
];

function simdTypes(): TypeDef[] {
  const types: TypeDef[] = [];
  for (const [union, views] of LANE_VIEWS) {
    for (const [field, element, count] of views) types.push({ kind: 'vector', id: `${union}_${field}`, element, count });
    types.push({ kind: 'union', id: union, fields: views.map(([field]): [string, string] => [field, `${union}_${field}`]) });
  }
  types.push({ kind: 'union', id: 'aarch64v', fields: LANE_VIEWS.map(([union]): [string, string] => [union.slice(2), union]) });
  return types;
}

const FEATURES: FeatureDef[] = [
  {
    name: AARCH64_FEATURE.core,
    types: [CPSR],
    registers: [
      ...regs(range(31).map((n) => `x${n}`), 64, 'int'),
      { name: 'sp', bitsize: 64, type: 'data_ptr' },
      { name: 'pc', bitsize: 64, type: 'code_ptr' },
      { name: 'cpsr', bitsize: 32, type: 'cpsr_flags' },
    ],
  },
  {
    name: AARCH64_FEATURE.fpu,
    types: simdTypes(),
    registers: [
      ...regs(range(32).map((n) => `v${n}`), 128, 'aarch64v', 'vector'),
      { name: 'fpsr', bitsize: 32, type: 'int', group: 'float' },
      { name: 'fpcr', bitsize: 32, type: 'int', group: 'float' },
    ],
  },
  { name: AARCH64_FEATURE.tls, types: [], registers: [{ name: 'tpidr', bitsize: 64, type: 'data_ptr' }] },
];

const PAUTH: FeatureDef = { name: AARCH64_FEATURE.pauth, types: [], registers: regs(['pauth_dmask', 'pauth_cmask'], 64, 'int') };

/**
 * Describes the registers of checkpointed AArch64 threads (every thread saves the same register sets), as
 * live registers: with the pointer-authentication masks when the process has them (see pauthMask).
 */
export function describeAarch64Target(threads: readonly Registers[]): TargetDescription {
  threads.forEach((t) => assertArch(t, 'aarch64', 'this process'));
  const pauth = threads.some((t) => (t as Aarch64LiveRegisters).pauthMask !== undefined);
  return buildDescription('aarch64', pauth ? [...FEATURES, PAUTH] : FEATURES);
}
