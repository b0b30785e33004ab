/**
 * Register ground truth that holds on every x86_64 CPU.
 *
 * Live gdb 13 decodes the AVX-512 parts of the XSAVE area (k0-k7, the upper halves of zmm0-15, zmm16-31)
 * at Intel's fixed offsets. CPUs without MPX (AMD Zen 4) lay them out 256 bytes lower, so what live gdb 13
 * printed for those registers there is wrong. Their truth comes instead from the kernel's XSAVE area read
 * with ptrace and decoded with the CPU's own CPUID offsets (test/setup/ptrace-xstate.c). gdb's live text
 * stays the truth for every other register, which gdb reads the same way on every CPU.
 */
import type { ThreadTruth } from './truth.js';

/** Registers whose live gdb text depends on the CPU's XSAVE layout. */
export function isLayoutDependent(register: string): boolean {
  return /^(k[0-7]|zmm([0-9]|[12][0-9]|3[01]))$/.test(register);
}

/** The ptrace truth of a register as little-endian bytes; throws when none was recorded. */
export function ptraceRegisterBytes(thread: ThreadTruth, register: string): Buffer {
  const hex = thread.xstate?.registers[register];
  if (hex === undefined) throw new Error(`thread ${thread.tid}: no ptrace truth for ${register} (remake the checkpoints)`);
  return Buffer.from(hex, 'hex');
}

function littleEndianToHex(bytes: Buffer): string {
  return `0x${BigInt(`0x${Buffer.from(bytes).reverse().toString('hex') || '0'}`).toString(16)}`;
}

/**
 * The raw register values of `info registers` as gdb prints them (`0x...`), true on this CPU: gdb's live
 * values, with the layout-dependent ones taken from ptrace.
 */
export function trueRegisters(thread: ThreadTruth, live: Record<string, string> = thread.registers): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [register, value] of Object.entries(live)) {
    values[register] = isLayoutDependent(register) ? littleEndianToHex(ptraceRegisterBytes(thread, register)) : value;
  }
  return values;
}

/** Splits `info all-registers` text into register name -> the rest of its line (trailing blanks removed). */
export function registerLines(text: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\w+)\s+(.*?)\s*$/.exec(line);
    if (match) lines.set(match[1]!, match[2]!);
  }
  return lines;
}

/** Little-endian bytes of a k, ymm or zmm register from the rest of its `info registers` line. */
export function gdbRegisterBytes(register: string, rest: string): Buffer {
  if (/^k\d$/.test(register)) {
    const value = /^(0x[0-9a-f]+)/.exec(rest)?.[1];
    if (!value) throw new Error(`cannot read gdb's ${register}: ${rest.slice(0, 80)}`);
    return Buffer.from(BigInt(value).toString(16).padStart(16, '0'), 'hex').reverse();
  }
  const lanes = /v\d+_int64 = \{([^}]*)\}/.exec(rest)?.[1];
  if (lanes === undefined) throw new Error(`cannot read gdb's ${register}: ${rest.slice(0, 80)}`);
  const words: bigint[] = [];
  for (const item of lanes.split(',')) {
    const match = /^\s*(0x[0-9a-f]+|0)(?: <repeats (\d+) times>)?\s*$/.exec(item);
    if (!match) throw new Error(`cannot read gdb's ${register} lane ${item}`);
    for (let i = 0; i < Number(match[2] ?? 1); i++) words.push(BigInt(match[1]!));
  }
  return Buffer.concat(words.map((word) => Buffer.from(word.toString(16).padStart(16, '0'), 'hex').reverse()));
}

/**
 * How `info all-registers` output differs from the truth of `thread`: the same registers in the same order,
 * each line as live gdb printed it, except that layout-dependent registers are compared by value with
 * ptrace's. Returns one line per difference (empty when equal).
 */
export function allRegistersDifferences(ours: string, live: string, thread: ThreadTruth): string[] {
  const mine = registerLines(ours);
  const theirs = registerLines(live);
  const differences: string[] = [];
  if ([...mine.keys()].join(' ') !== [...theirs.keys()].join(' ')) {
    differences.push(`registers differ: ours ${[...mine.keys()].join(' ')}; live ${[...theirs.keys()].join(' ')}`);
  }
  for (const [register, rest] of theirs) {
    const got = mine.get(register);
    if (got === undefined) continue;
    if (isLayoutDependent(register)) {
      const want = ptraceRegisterBytes(thread, register).toString('hex');
      const have = gdbRegisterBytes(register, got).toString('hex');
      if (have !== want) differences.push(`${register}: ${have}, ptrace says ${want}`);
    } else if (got !== rest) {
      differences.push(`${register}: ${got.slice(0, 120)}, live gdb printed ${rest.slice(0, 120)}`);
    }
  }
  return differences;
}

/** The vector and mask registers test/programs/avx_regs.c loaded, by name, as little-endian bytes. */
export function loadedRegisters(facts: Record<string, string>): Map<string, Buffer> {
  const loaded = new Map<string, Buffer>();
  const avx512 = facts['avx.mode'] === 'avx512';
  for (let i = 0; i < (avx512 ? 32 : 16); i++) {
    const kind = avx512 ? 'zmm' : 'ymm';
    const bytes = facts[`${kind}.${i}.bytes`];
    if (bytes === undefined) throw new Error(`avx_regs reported no ${kind}.${i}.bytes`);
    loaded.set(`${kind}${i}`, Buffer.from(bytes, 'hex'));
  }
  for (let i = 0; avx512 && i < 8; i++) {
    const value = facts[`k.${i}`];
    if (value === undefined) throw new Error(`avx_regs reported no k.${i}`);
    loaded.set(`k${i}`, Buffer.from(BigInt(value).toString(16).padStart(16, '0'), 'hex').reverse());
  }
  return loaded;
}

/** How `info registers` output of the loaded registers differs from what avx_regs loaded (empty when equal). */
export function loadedRegisterDifferences(text: string, facts: Record<string, string>): string[] {
  const lines = registerLines(text);
  const differences: string[] = [];
  for (const [register, want] of loadedRegisters(facts)) {
    const rest = lines.get(register);
    if (rest === undefined) {
      differences.push(`${register}: not shown`);
      continue;
    }
    const have = gdbRegisterBytes(register, rest).toString('hex');
    if (have !== want.toString('hex')) differences.push(`${register}: ${have}, the program loaded ${want.toString('hex')}`);
  }
  return differences;
}
