/** Target descriptions live with their architecture (src/arch); this module keeps the stub's names for them. */
export type { RegisterSpec, TargetDescription } from '../arch/target-xml.js';
export { FEATURE, assertSupportedTask, describeX86Target } from '../arch/x86_64/target-description.js';
import { architectureFor } from '../arch/architectures.js';

export { assertServableArch } from '../arch/architectures.js';

/** gdb's name (`set architecture`) of a core image's machine, e.g. `aarch64` or `i386:x86-64`. */
export function gdbArchitectureOf(arch: string): string {
  return architectureFor(arch).gdbArchitecture;
}
