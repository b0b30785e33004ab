/**
 * The register layer of the gdb server against ground truth from gdb attached to the live processes: for
 * every thread of every real checkpoint, the registers served (after undoing CRIU's syscall-restart
 * adjustment) must be the ones gdb saw: general registers, rip, rax, orig_rax, eflags, segment bases, and
 * the x87, SSE, AVX and AVX-512 state of `info all-registers`; the AVX-512 registers, which live gdb 13
 * misreads on some CPUs, must be what ptrace read. gdb itself must accept the description.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { X86Registers } from '../../src/images/registers.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import type { ProcessModel } from '../../src/model/process.js';
import { liveRegisters, type LiveRegisters } from '../../src/arch/x86_64/syscall-restart.js';
import { registerValue } from '../../src/rsp/registers.js';
import { assertSupportedTask, describeX86Target, type TargetDescription } from '../../src/rsp/target-description.js';
import { checkpointAvailability, fact, imagesDir, loadTruth, parseAddress, type CheckpointName } from '../helpers/checkpoints.js';
import { isLayoutDependent, ptraceRegisterBytes, trueRegisters } from '../helpers/registers.js';

const NAMES: CheckpointName[] = ['pie_callchain', 'static_prog', 'named_threads', 'fork_tree', 'avx_regs', 'resources'];

const opened: Checkpoint[] = [];
afterAll(() => opened.forEach((c) => c.close()));

function x86(process: ProcessModel, tid: number): X86Registers {
  const regs = process.core(tid).registers;
  if (!regs || regs.arch !== 'x86_64') throw new Error(`thread ${tid}: no x86_64 registers`);
  return regs;
}

function live(process: ProcessModel, tid: number): LiveRegisters {
  const memory = process.memory();
  return liveRegisters(x86(process, tid), (address, length) => {
    const read = memory.read(address, length);
    return read.unavailable.length === 0 ? read.data : undefined;
  });
}

/** The served value of `name` as an unsigned number, or 'unavailable'. */
function served(desc: TargetDescription, state: LiveRegisters, name: string): bigint | 'unavailable' {
  const spec = desc.registers.find((r) => r.name === name);
  if (!spec) throw new Error(`no register ${name} in the description`);
  const value = registerValue(spec, state.registers, state.unavailable);
  return value ? BigInt(`0x${Buffer.from(value).reverse().toString('hex') || '0'}`) : 'unavailable';
}

/** Assembles xmmN/ymmN/zmmN from the raw pieces the description serves, as gdb does. */
function vector(desc: TargetDescription, state: LiveRegisters, n: number, width: 16 | 32 | 64): Buffer | undefined {
  const parts = [`xmm${n}`, ...(width >= 32 ? [`ymm${n}h`] : []), ...(width === 64 ? [`zmm${n}h`] : [])].map((name) => {
    const spec = desc.registers.find((r) => r.name === name);
    return spec ? registerValue(spec, state.registers, state.unavailable) : undefined;
  });
  return parts.every((p) => p !== undefined) ? Buffer.concat(parts as Buffer[]) : undefined;
}

/** `info all-registers` text: register name -> the rest of its line. */
function gdbRegisterLines(text: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (m) lines.set(m[1]!, m[2]!);
  }
  return lines;
}

/** Little-endian bytes of a vector line from its `vN_int128 = {...}` (or `uint128 = 0x...`) member. */
function vectorBytes(rest: string): Buffer {
  const m = /v\d+_int128 = \{([^}]*)\}/.exec(rest) ?? /uint128 = (0x[0-9a-f]+)/.exec(rest);
  if (!m) throw new Error(`no 128-bit view in ${rest.slice(0, 80)}`);
  return Buffer.concat(
    m[1]!.split(',').map((word) => Buffer.from(BigInt(word.trim()).toString(16).padStart(32, '0'), 'hex').reverse()),
  );
}

for (const name of NAMES) {
  const availability = checkpointAvailability(name);
  describe.skipIf(!availability.available && availability.reason.includes('cannot be made on this machine'))(`checkpoint ${name}`, () => {
    const open = (): Checkpoint => {
      const checkpoint = Checkpoint.open(imagesDir(name));
      opened.push(checkpoint);
      return checkpoint;
    };

    it("serves every thread's general registers exactly as gdb saw them live", () => {
      const truth = loadTruth(name);
      const checkpoint = open();
      for (const proc of truth.processes) {
        const process = checkpoint.process(proc.pid);
        assertSupportedTask(x86(process, proc.pid));
        const desc = describeX86Target(process.tids.map((tid) => x86(process, tid)));
        for (const thread of proc.threads) {
          const state = live(process, thread.tid);
          const got: Record<string, string> = {};
          const want: Record<string, string> = {};
          for (const [reg, value] of Object.entries(trueRegisters(thread))) {
            const v = served(desc, state, reg);
            got[reg] = v === 'unavailable' ? v : `0x${v.toString(16)}`;
            want[reg] = `0x${parseAddress(value).toString(16)}`;
          }
          expect(got, `${name} thread ${thread.tid}`).toEqual(want);
          expect(state.unavailable.size, `${name} thread ${thread.tid}`).toBe(0);
        }
      }
    });

    it("serves the leader's `info all-registers` values (x87, SSE, AVX, AVX-512) as the live process had them", () => {
      const truth = loadTruth(name);
      const checkpoint = open();
      for (const proc of truth.processes) {
        const process = checkpoint.process(proc.pid);
        const desc = describeX86Target(x86(process, proc.pid));
        const state = live(process, proc.pid);
        const lines = gdbRegisterLines(proc.gdb.allRegisters);
        expect(lines.size).toBeGreaterThan(40);
        const leader = proc.threads.find((t) => t.tid === proc.pid)!;
        for (const [reg, rest] of lines) {
          if (isLayoutDependent(reg)) {
            const truth = ptraceRegisterBytes(leader, reg);
            const got = reg.startsWith('k') ? served(desc, state, reg) : vector(desc, state, Number(reg.slice(3)), 64);
            const want = reg.startsWith('k') ? truth.readBigUInt64LE(0) : truth;
            expect(got, `${name} ${reg}`).toEqual(want);
            continue;
          }
          const vec = /^([xyz])mm(\d+)$/.exec(reg);
          if (vec) {
            const width = vec[1] === 'x' ? 16 : vec[1] === 'y' ? 32 : 64;
            expect(vector(desc, state, Number(vec[2]), width)?.toString('hex'), `${name} ${reg}`).toBe(vectorBytes(rest).toString('hex'));
            continue;
          }
          const raw = /^st\d$/.test(reg) ? /\(raw (0x[0-9a-f]+)\)/.exec(rest)?.[1] : /^(0x[0-9a-f]+)/.exec(rest)?.[1];
          if (!raw) throw new Error(`${name}: cannot read gdb's ${reg} line: ${rest.slice(0, 80)}`);
          expect(served(desc, state, reg), `${name} ${reg}`).toBe(BigInt(raw));
        }
      }
    });

    it('is accepted by gdb: every described register is known to it', () => {
      const checkpoint = open();
      const process = checkpoint.rootProcess;
      const desc = describeX86Target(x86(process, process.pid));
      const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-tdesc-'));
      try {
        const file = join(dir, 'target.xml');
        writeFileSync(file, desc.xml);
        const run = spawnSync('gdb', ['-nx', '-batch', '-ex', `set tdesc filename ${file}`, '-ex', 'maint print raw-registers', '-ex', 'maint print user-registers'], {
          encoding: 'utf8',
        });
        expect(run.error, 'gdb must be installed (npm test installs it)').toBeUndefined();
        expect(run.stderr.trim()).toBe('');
        const known = new Set(run.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]));
        // gdb hides the raw upper halves (ymmNh, zmmNh) and builds ymmN/zmmN from them.
        for (const r of desc.registers.filter((r) => !/^(ymm|zmm)\d+h$/.test(r.name))) expect(known.has(r.name), r.name).toBe(true);
        if (desc.registers.some((r) => r.name === 'zmm31h')) expect(known.has('zmm31')).toBe(true);
        if (desc.registers.some((r) => r.name === 'ymm0h')) expect(known.has('ymm0')).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    if (name === 'avx_regs') {
      it('serves the zmm, ymm, xmm and k values the program loaded', () => {
        const truth = loadTruth(name);
        const proc = truth.processes[0]!;
        const process = open().process(proc.pid);
        const desc = describeX86Target(x86(process, proc.pid));
        const state = live(process, proc.pid);
        const avx512 = fact(proc, 'avx.mode') === 'avx512';
        for (let n = 0; n < (avx512 ? 32 : 16); n++) {
          if (avx512) expect(vector(desc, state, n, 64)?.toString('hex'), `zmm${n}`).toBe(fact(proc, `zmm.${n}.bytes`));
          if (n < 16) expect(vector(desc, state, n, 32)?.toString('hex'), `ymm${n}`).toBe(fact(proc, `ymm.${n}.bytes`));
          expect(vector(desc, state, n, 16)?.toString('hex'), `xmm${n}`).toBe(fact(proc, `xmm.${n}.bytes`));
        }
        if (avx512) for (let k = 0; k < 8; k++) expect(served(desc, state, `k${k}`), `k${k}`).toBe(parseAddress(fact(proc, `k.${k}`)));
        for (const reg of ['rbx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r12', 'r13', 'r14', 'r15']) {
          expect(served(desc, state, reg), reg).toBe(parseAddress(fact(proc, `gpr.${reg}`)));
        }
      });
    }
  });
}
