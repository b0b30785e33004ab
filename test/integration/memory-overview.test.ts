/**
 * `criu-gdb memory` on the real checkpoints, against the live process: the sizes of its /proc/PID/maps
 * lines and its /proc/PID/smaps_rollup, both recorded in the truth before the dump.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { memoryOverview } from '../../src/model/memory-overview.js';
import { CHECKPOINT_NAMES, REPO_ROOT, checkpointAvailability, fact, imagesDir, loadTruth, parseAddress, rootProcess, type MappingTruth } from '../helpers/checkpoints.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

function bytesOf(maps: readonly MappingTruth[], keep: (mapping: MappingTruth) => boolean): number {
  return maps.filter(keep).reduce((sum, m) => sum + Number(parseAddress(m.end) - parseAddress(m.start)), 0);
}

/** The kernel's areas that CRIU never dumps. */
const KERNEL_AREAS = new Set(['[vvar]', '[vvar_vclock]', '[vsyscall]']);

describe('memory overview per process, against the live process', () => {
  for (const name of CHECKPOINT_NAMES) {
    const availability = checkpointAvailability(name);
    const truth = availability.available ? loadTruth(name) : undefined;
    const recorded = truth?.processes.every((p) => p.smapsRollup !== undefined) ?? false;
    it.skipIf(!recorded)(`${name}${recorded ? '' : ': no smaps_rollup in the truth (remake the checkpoint)'}`, () => {
      const checkpoint = Checkpoint.open(imagesDir(name));
      try {
        for (const live of truth!.processes) {
          const overview = memoryOverview(checkpoint.process(live.pid));
          // Every mapping, as /proc/PID/maps listed it.
          expect(overview.size).toBe(bytesOf(live.maps, () => true));
          // Only the kernel's areas are held by nothing (no file is missing and no page is lazy here).
          expect(overview.unavailable).toBe(bytesOf(live.maps, (m) => KERNEL_AREAS.has(m.name)));
          expect(overview.lazy).toBe(0);
          // Shared anonymous memory and memfds (the programs write every page of them).
          expect(overview.shared).toBe(bytesOf(live.maps, (m) => m.perms[3] === 's' && (m.name === '/dev/zero (deleted)' || m.name.startsWith('/memfd:') || m.name.startsWith('/SYSV'))));
          // Every anonymous page the process had in memory or swap is in the images (CRIU may keep more: zero pages).
          const rollup = live.smapsRollup!;
          expect(overview.private).toBeGreaterThanOrEqual((rollup['Anonymous'] ?? NaN) + (rollup['Swap'] ?? NaN));
          expect(overview.private + overview.shared).toBe(overview.inImages + overview.inParent);
          expect(overview.inImages + overview.inParent + overview.fromFiles + overview.zero + overview.unavailable).toBe(overview.size);
        }
      } finally {
        checkpoint.close();
      }
    });
  }

  it.skipIf(!checkpointAvailability('diff_subject').available)('counts the region diff_subject wrote as private, in the images, from the CLI', async () => {
    const live = rootProcess(loadTruth('diff_subject'));
    const result = await execa('node', [CLI, 'memory', imagesDir('diff_subject'), '--json'], { reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const [overview] = JSON.parse(result.stdout) as Array<{ pid: number; private: number; inImages: number; size: number }>;
    expect(overview?.pid).toBe(live.pid);
    expect(overview!.private).toBeGreaterThanOrEqual(Number(fact(live, 'region.size')));
    const text = await execa('node', [CLI, 'memory', imagesDir('diff_subject')], { reject: false });
    expect(text.stdout.split('\n')[0]).toMatch(/^PID\s+COMM\s+SIZE\s+PRIVATE\s+SHARED\s+IMAGES\s+PARENT\s+FILES\s+ZERO\s+UNAVAILABLE$/);
    expect(text.stdout.split('\n')[1]).toMatch(new RegExp(`^${live.pid}\\s+${live.comm}\\s`));
  }, 60_000);
});
