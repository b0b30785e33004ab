/** The architectures criu-gdb serves to gdb and exports as cores, looked up by CRIU's machine name. */
import { CriuGdbError } from '../errors.js';
import { AARCH64 } from './aarch64/index.js';
import { type Architecture, article } from './architecture.js';
import { X86_64 } from './x86_64/index.js';

const ARCHITECTURES: ReadonlyMap<string, Architecture> = new Map([X86_64, AARCH64].map((a) => [a.name, a]));

/** CRIU machine names criu-gdb serves, e.g. for help text. */
export const SERVABLE_ARCHES: readonly string[] = [...ARCHITECTURES.keys()];

/** The architecture of a core image's machine (`x86_64`, `aarch64`), or undefined for any other. */
export function findArchitecture(arch: string): Architecture | undefined {
  return ARCHITECTURES.get(arch);
}

/** The architecture of `arch`; a CriuGdbError naming `label` for a machine criu-gdb does not serve. */
export function architectureFor(arch: string, label = 'this process'): Architecture {
  const found = ARCHITECTURES.get(arch);
  if (found) return found;
  throw new CriuGdbError(`${label} is ${article(arch)} ${arch} task; only ${SERVABLE_ARCHES.join(' and ')} tasks can be served to gdb`);
}

/** Refuses a machine criu-gdb cannot serve: `arch` is the core image's machine (`x86_64`, `aarch64`, ...). */
export function assertServableArch(arch: string, label = 'this process'): void {
  architectureFor(arch, label);
}
