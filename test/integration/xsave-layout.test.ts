/**
 * A checkpoint made on a CPU whose XSAVE layout is not Intel's (the committed fixture avx512-zen4, from an
 * AMD Zen 4: opmask at 832, ZMM_Hi256 at 896, Hi16_ZMM at 1408), so that every machine tests that layout.
 * Through criu-load, and through an exported core, every gdb of the version matrix must show the vector and
 * mask registers the program loaded. gdb 13 attached to the live process did not, which is why live gdb
 * text is not the truth for these registers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/views/args.js';
import { coredumpCommand } from '../../src/cli/commands/coredump.js';
import { WORK_DIR, fixtureImagesDir, fixtureRootfs, loadFixtureTruth, rootProcess } from '../helpers/checkpoints.js';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { gdbRegisterBytes, loadedRegisterDifferences, loadedRegisters, ptraceRegisterBytes, registerLines } from '../helpers/registers.js';
import { gdbOnCheckpoint } from '../helpers/gdb-session.js';

const truth = loadFixtureTruth('avx512-zen4');
const live = rootProcess(truth);
const registers = [...loadedRegisters(live.facts).keys()];
const binary = join(fixtureRootfs('avx512-zen4'), live.exe);

let exported: string | undefined;
afterAll(() => {
  if (exported) rmSync(exported, { recursive: true, force: true });
});

function exportedCore(): string {
  if (!exported) {
    exported = mkdtempSync(join(WORK_DIR, 'xsave-layout-'));
    coredumpCommand.run(parseArgs([fixtureImagesDir('avx512-zen4'), '--root', fixtureRootfs('avx512-zen4'), '-o', exported], coredumpCommand.options));
  }
  return join(exported, `core.${live.pid}`);
}

describe('the avx512-zen4 fixture', () => {
  it('was made on a CPU with the AMD layout, and ptrace read what the program loaded', () => {
    expect(truth.cpu?.components['5']?.offset).toBe(832);
    expect(truth.cpu?.components['7']?.offset).toBe(1408);
    const thread = live.threads[0]!;
    for (const [register, bytes] of loadedRegisters(live.facts)) expect(ptraceRegisterBytes(thread, register).toString('hex'), register).toBe(bytes.toString('hex'));
  });

  it('live gdb 13 misread the mask registers there, live gdb 16 and later did not', () => {
    const k3 = loadedRegisters(live.facts).get('k3')!.toString('hex');
    expect(gdbRegisterBytes('k3', registerLines(live.gdb.allRegisters).get('k3') ?? '').toString('hex')).not.toBe(k3);
    for (const [major, view] of Object.entries(live.otherGdbs ?? {})) {
      expect(gdbRegisterBytes('k3', registerLines(view.allRegisters).get('k3') ?? '').toString('hex'), `gdb ${major}`).toBe(k3);
    }
  });
});

for (const gdb of gdbMatrix()) {
  warnIfUnavailable(gdb);
  describe.skipIf(!gdb.available)(`${gdb.label} on a checkpoint with the AMD XSAVE layout`, () => {
    it('shows the loaded zmm0-31 and k0-7 through criu-load', { timeout: 120_000 }, async () => {
      const { text } = await gdbOnCheckpoint(fixtureImagesDir('avx512-zen4'), [`info registers ${registers.join(' ')}`], { root: fixtureRootfs('avx512-zen4'), gdb: gdb.command });
      expect(loadedRegisterDifferences(text, live.facts)).toEqual([]);
    });

    it('shows the loaded zmm0-31 and k0-7 from the exported core', { timeout: 120_000 }, async () => {
      const result = await execa(gdb.command, ['-nx', '-batch', '-iex', 'set debuginfod enabled off', binary, exportedCore(), '-ex', `info registers ${registers.join(' ')}`], { reject: false });
      expect(result.stderr).not.toMatch(/too small|Traceback/);
      expect(loadedRegisterDifferences(result.stdout, live.facts)).toEqual([]);
    });
  });
}
