/**
 * Real arm64 checkpoints (made in an emulated arm64 Debian system by test/setup/make-arm64-fixtures.sh,
 * committed as test/fixtures/arm64-*), opened on this x86-64 machine: gdb-multiarch with criu-load shows the
 * backtraces (with locals), thread names and registers live gdb showed inside the VM at dump time, and the
 * exported core shows the same backtraces. The truth is live gdb's and ptrace's, recorded in the VM.
 *
 * Live gdb there also showed SVE's vg and SME's tpidr2; CRIU's arm64 images hold neither, so they are not
 * compared. Needs `npm run build` first and gdb-multiarch (test/setup/prepare-tests.sh installs it).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { exportCoresSync } from '../../src/export/coredump.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { ARM64_FIXTURE_NAMES, FIXTURES_DIR } from '../helpers/checkpoints.js';
import { gdbOnCheckpoint, normalizedBacktrace, registerValues, threadBlocks } from '../helpers/gdb-session.js';
import type { Truth } from '../helpers/truth.js';


/** Registers live gdb showed that CRIU's arm64 images do not hold (SVE vector length, SME's TPIDR2). */
const NOT_IN_IMAGES = new Set(['vg', 'tpidr2']);
/**
 * The kernel's PAC masks are not in the images either; criu-gdb's cover every bit no user address has
 * (bits 48..54), a superset of the kernel's (bits 52..54 on a 52-bit kernel): checked as a superset.
 */
const PAC_MASKS = new Set(['pauth_dmask', 'pauth_cmask']);

function hasCommand(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      return readdirSync(dir).includes(command);
    } catch {
      return false;
    }
  });
}

const multiarch = hasCommand('gdb-multiarch');
if (!multiarch) console.warn('skipping the arm64 fixture tests: gdb-multiarch is not installed (test/setup/prepare-tests.sh installs it)');

/** Live gdb in the VM printed strings in the C locale. */
/**
 * A backtrace with library paths as the process saw them: gdb under criu-load reads files through a private
 * view of the root (`from /tmp/.../root/lib/...`), live gdb from the guest's `/lib/...`.
 */
function comparable(body: string): string {
  return normalizedBacktrace(body.replace(/ from \S*?\/root(\/\S+)/g, ' from $1'));
}

const scratch = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'arm64-fixtures-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

for (const name of ARM64_FIXTURE_NAMES) {
  const dir = join(FIXTURES_DIR, name);
  const present = existsSync(join(dir, 'truth.json'));
  if (!present) console.warn(`skipping ${name}: test/fixtures/${name} is not in this checkout (test/setup/make-arm64-fixtures.sh makes it)`);

  describe.skipIf(!multiarch || !present)(`${name}: gdb-multiarch on this x86-64 machine`, () => {
    const truth = (): Truth => JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
    const images = join(dir, 'checkpoint');
    const root = join(dir, 'rootfs');

    it('criu-load shows live gdb\'s backtraces with locals and thread names', { timeout: 240_000 }, async () => {
      const run = await gdbOnCheckpoint(images, ['thread apply all bt full'], { root, gdb: 'gdb-multiarch', env: { LC_ALL: 'C' } });
      for (const proc of truth().processes) {
        const live = threadBlocks(proc.gdb.backtracesFull);
        const ours = new Map(threadBlocks(run.text).map((b) => [b.tid, b]));
        expect(live.length).toBeGreaterThan(0);
        for (const thread of live) {
          const served = ours.get(thread.tid);
          expect(served, `thread ${thread.tid} (${run.stderr})`).toBeDefined();
          expect(served!.name).toBe(thread.name);
          expect(comparable(served!.body), `thread ${thread.tid}`).toBe(comparable(thread.body));
        }
      }
    });

    it('criu-load shows the registers live gdb and ptrace saw, FP/SIMD and TLS included', { timeout: 240_000 }, async () => {
      const t = truth();
      // One `thread apply all` per value: thread numbers are per inferior, the blocks name the tid.
      const probes = ['info registers', 'p/x $tpidr', ...Array.from({ length: 32 }, (_, n) => `p/x $v${n}.q.u[0]`)];
      const commands = probes.flatMap((probe, i) => [`echo @@probe ${i}\\n`, `thread apply all ${probe}`]);
      const run = await gdbOnCheckpoint(images, commands, { root, gdb: 'gdb-multiarch', env: { LC_ALL: 'C' } });
      const sections = run.text.split(/^@@probe \d+$/m).slice(1).map((part) => new Map(threadBlocks(part).map((b) => [b.tid, b.body])));
      expect(sections.length, run.stderr).toBe(probes.length);
      const printed = (section: number, tid: number): bigint | undefined => {
        const value = /^\$\d+ = (0x[0-9a-f]+)$/m.exec(sections[section]!.get(tid) ?? '')?.[1];
        return value === undefined ? undefined : BigInt(value);
      };
      for (const proc of t.processes) {
        for (const thread of proc.threads) {
          const values = registerValues(sections[0]!.get(thread.tid) ?? '');
          const live = (thread as unknown as { registers: Record<string, string> }).registers;
          for (const [register, value] of Object.entries(live)) {
            if (NOT_IN_IMAGES.has(register)) continue;
            if (PAC_MASKS.has(register)) {
              const ours = BigInt(values[register] ?? '0');
              expect(ours & BigInt(value), `thread ${thread.tid} ${register} covers live ${value}`).toBe(BigInt(value));
              expect(ours & ((1n << 48n) - 1n), `thread ${thread.tid} ${register} keeps every user address bit`).toBe(0n);
              continue;
            }
            expect(values[register], `thread ${thread.tid} ${register}`).toBe(value);
          }
          // ptrace's NT_FPREGSET, v0..v31 in memory order (lane byte 0 first); gdb prints the 128-bit value.
          const ptrace = (thread as unknown as { ptraceRegisters: Record<string, string> }).ptraceRegisters;
          expect(printed(1, thread.tid), `thread ${thread.tid} tpidr`).toBe(BigInt(ptrace.tpidr!));
          for (let n = 0; n < 32; n++) {
            const memoryOrder = ptrace[`v${n}`]!.replace(/^0x/, '');
            const value = BigInt(`0x${Buffer.from(memoryOrder, 'hex').reverse().toString('hex') || '0'}`);
            expect(printed(n + 2, thread.tid), `thread ${thread.tid} v${n}`).toBe(value);
          }
        }
      }
    });

    it('the exported core shows live gdb\'s backtraces in gdb-multiarch', { timeout: 240_000 }, async () => {
      const t = truth();
      const checkpoint = await Checkpoint.open(images, { root });
      let reports;
      try {
        reports = exportCoresSync(checkpoint, { outDir: join(scratch, name) });
      } finally {
        checkpoint.close();
      }
      for (const proc of t.processes) {
        const report = reports.find((r) => r.pid === proc.pid)!;
        const result = await execa(
          'gdb-multiarch',
          ['-nx', '-batch', '-iex', 'set pagination off', '-iex', 'set width 0', '-ex', `set sysroot ${root}`, '-ex', `file ${join(root, proc.exe)}`, '-ex', `core-file ${report.path}`, '-ex', "python print('@@BEGIN')", '-ex', 'thread apply all bt'],
          { reject: false, timeout: 120_000, cwd: dir, env: { LC_ALL: 'C' } },
        );
        // A core's threads are `Thread N (LWP TID):`, with no name.
        const text = (result.stdout.split('@@BEGIN\n')[1] ?? '').replace(/^Thread (\d+) \(LWP (\d+)\):$/gm, 'Thread $1 (Thread 0x0 (LWP $2)):');
        const ours = new Map(threadBlocks(text).map((b) => [b.tid, b]));
        for (const thread of threadBlocks(proc.gdb.backtraces)) {
          const served = ours.get(thread.tid);
          expect(served, `thread ${thread.tid}: ${result.stderr}`).toBeDefined();
          // A core has no thread names; the frames are the same, library paths under the sysroot.
          expect(normalizedBacktrace(served!.body.replaceAll(` from ${root}/`, ' from /')), `thread ${thread.tid}`).toBe(normalizedBacktrace(thread.body));
        }
      }
    });
  });
}
