/** The x86-64 architecture: 64-bit x86 Linux tasks (32-bit ia32 tasks are refused). */
import { type Architecture, assertArch } from '../architecture.js';
import { registerValue } from './registers.js';
import { liveRegisters } from './syscall-restart.js';
import { assertSupportedTask, describeX86Target } from './target-description.js';

/** e_machine of x86-64 ELF files. */
export const EM_X86_64 = 62;

export const X86_64: Architecture = {
  name: 'x86_64',
  gdbArchitecture: 'i386:x86-64',
  elfMachine: EM_X86_64,
  expedited: ['rbp', 'rsp', 'rip'],
  checkThread(registers, label) {
    assertArch(registers, 'x86_64', label);
    assertSupportedTask(registers, label);
  },
  describe(threads) {
    return describeX86Target(
      threads.map((t) => {
        assertArch(t, 'x86_64', 'this process');
        return t;
      }),
    );
  },
  registerValue(spec, registers) {
    assertArch(registers, 'x86_64', 'this process');
    return registerValue(spec, registers);
  },
  liveRegisters(registers, codeAt) {
    assertArch(registers, 'x86_64', 'this process');
    return liveRegisters(registers, codeAt);
  },
};
