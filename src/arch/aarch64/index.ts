/** The AArch64 (arm64) architecture: 64-bit Arm Linux tasks. */
import { type Architecture, assertArch } from '../architecture.js';
import { aarch64RegisterValue } from './registers.js';
import { aarch64LiveRegisters } from './syscall-restart.js';
import { describeAarch64Target } from './target-description.js';

/** e_machine of AArch64 ELF files. */
export const EM_AARCH64 = 183;

export const AARCH64: Architecture = {
  name: 'aarch64',
  gdbArchitecture: 'aarch64',
  elfMachine: EM_AARCH64,
  // gdbserver expedites the frame pointer (x29), sp and pc on aarch64.
  expedited: ['x29', 'sp', 'pc'],
  checkThread: (registers, label) => assertArch(registers, 'aarch64', label),
  describe: describeAarch64Target,
  registerValue(spec, registers) {
    assertArch(registers, 'aarch64', 'this process');
    return aarch64RegisterValue(spec.name, registers);
  },
  liveRegisters(registers, _codeAt, process) {
    assertArch(registers, 'aarch64', 'this process');
    return aarch64LiveRegisters(registers, process);
  },
};
