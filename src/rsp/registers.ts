/**
 * Register values of a checkpointed thread as gdb's remote protocol carries them: little-endian bytes per
 * register of a {@link TargetDescription}, `x` for bytes the images do not hold. The values come from the
 * thread's architecture (src/arch); the registers given are the live ones (see ProcessModel.liveRegisters).
 */
import { architectureFor } from '../arch/architectures.js';
import type { RegisterSpec, TargetDescription } from '../arch/target-xml.js';
import type { Registers } from '../images/registers.js';

const NO_UNAVAILABLE: ReadonlySet<string> = new Set();

/**
 * The little-endian value of register `spec` of a thread, or undefined when the images did not save it
 * (or it is listed in `unavailable`): gdb then shows it as `<unavailable>`.
 */
export function registerValue(spec: RegisterSpec, regs: Registers, unavailable: ReadonlySet<string> = NO_UNAVAILABLE): Buffer | undefined {
  if (unavailable.has(spec.name)) return undefined;
  const value = architectureFor(regs.arch).registerValue(spec, regs);
  if (value === undefined || value.length !== spec.bitsize / 8) return undefined;
  return value;
}

/** Hex of one register for the `p` packet: its bytes, or `xx` per byte when unavailable. */
export function encodeRegister(spec: RegisterSpec, regs: Registers, unavailable: ReadonlySet<string> = NO_UNAVAILABLE): string {
  const value = registerValue(spec, regs, unavailable);
  return value ? value.toString('hex') : 'xx'.repeat(spec.bitsize / 8);
}

/** Hex of the whole `g` packet reply: every register of `desc` in order, `xx` bytes for unavailable ones. */
export function encodeGPacket(desc: TargetDescription, regs: Registers, unavailable: ReadonlySet<string> = NO_UNAVAILABLE): string {
  return desc.registers.map((spec) => encodeRegister(spec, regs, unavailable)).join('');
}

/**
 * Expedited registers for a `T` stop reply, as `NN:hex;` pairs (regnum in hex): by default the
 * architecture's frame pointer, stack pointer and pc, as gdbserver sends them. Unavailable ones are left out.
 */
export function encodeExpedited(
  desc: TargetDescription,
  regs: Registers,
  unavailable: ReadonlySet<string> = NO_UNAVAILABLE,
  names: readonly string[] = architectureFor(regs.arch).expedited,
): string {
  return names
    .map((name) => desc.registers.find((r) => r.name === name))
    .filter((spec): spec is RegisterSpec => spec !== undefined)
    .map((spec) => {
      const value = registerValue(spec, regs, unavailable);
      return value ? `${spec.regnum.toString(16).padStart(2, '0')}:${value.toString('hex')};` : '';
    })
    .join('');
}
