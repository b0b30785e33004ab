/**
 * Hostile checkpoints, issue 12 point 2: decompression bombs. Extraction writes only members that will be
 * read, within a cap on bytes and members; going over is one line, exit status 2, and the temporary
 * directory is removed. Each archive is the real fork_tree archive with hostile members put in front.
 */
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WORK_DIR } from '../helpers/checkpoints.js';
import { header } from '../helpers/build-archive.js';
import { removeScratch, runBounded, scratchDir, zstdTar } from '../helpers/hostile.js';

afterAll(removeScratch);

const REAL_TAR = join(WORK_DIR, 'archives', 'fork_tree', 'fork_tree.tar');
const BASE_ROOTFS = join(WORK_DIR, 'archives', 'fork_tree', 'base-rootfs');
const MiB = 1024 * 1024;

describe.skipIf(!existsSync(REAL_TAR))('decompression bombs are bounded', () => {
  it('a member of 1.5 GiB of zeros stops at the default cap of 1 GiB, and the temporary directory is removed', { timeout: 120_000 }, async () => {
    const archive = join(scratchDir('bomb'), 'bomb.tar.zst');
    await zstdTar(archive, REAL_TAR, [{ header: header({ name: 'checkpoint/pages-99.img' }, 1536 * MiB), zeroBytes: 1536 * MiB }]);
    const run = await runBounded(['ps', archive, '--root', BASE_ROOTFS], { timeoutMs: 100_000 });
    console.log(`1.5 GiB bomb: peak ${run.peakMiB.toFixed(0)} MiB RSS, ${run.peakDiskMiB.toFixed(0)} MiB temp disk, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr.trim()).toBe(`criu-gdb: ${archive}: bytes decompressed to the temporary directory: more than ${1024 * MiB} exceeds the limit of ${1024 * MiB} (raise it with CRIU_GDB_MAX_EXTRACT_BYTES=N)`);
    expect(run.exitCode).toBe(2);
    expect(run.peakDiskMiB).toBeLessThanOrEqual(1024 + 1);
    expect(run.leftInTmp).toEqual([]);
    expect(run.peakMiB).toBeLessThan(400);
  });

  it('the cap is the user’s to set: lowered to 32 MiB, a 512 MiB image stops there', { timeout: 60_000 }, async () => {
    const archive = join(scratchDir('bomb'), 'bomb.tar.zst');
    await zstdTar(archive, REAL_TAR, [{ header: header({ name: 'checkpoint/pages-99.img' }, 512 * MiB), zeroBytes: 512 * MiB }]);
    const run = await runBounded(['ps', archive, '--root', BASE_ROOTFS], { env: { CRIU_GDB_MAX_EXTRACT_BYTES: String(32 * MiB), CRIU_GDB_MAX_EXTRACT_RATIO: '1' } });
    console.log(`512 MiB bomb, 32 MiB cap: peak ${run.peakMiB.toFixed(0)} MiB RSS, ${run.peakDiskMiB.toFixed(1)} MiB temp disk, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr.trim()).toMatch(/bytes decompressed to the temporary directory: more than 33554432 exceeds the limit of 33554432 \(raise it with CRIU_GDB_MAX_EXTRACT_BYTES=N\)$/);
    expect(run.exitCode).toBe(2);
    expect(run.peakDiskMiB).toBeLessThanOrEqual(33);
    expect(run.leftInTmp).toEqual([]);
    // Raised again, the same archive opens: the cap refuses nothing the user allows.
    const allowed = await runBounded(['ps', archive, '--root', BASE_ROOTFS], { env: { CRIU_GDB_MAX_EXTRACT_BYTES: String(1024 * MiB) } });
    expect(allowed.stderr).toBe('');
    expect(allowed.exitCode).toBe(0);
    expect(allowed.leftInTmp).toEqual([]);
  });

  it('a member under checkpoint/ that is no image is never written out', { timeout: 60_000 }, async () => {
    const archive = join(scratchDir('junk'), 'junk.tar.zst');
    await zstdTar(archive, REAL_TAR, [{ header: header({ name: 'checkpoint/junk.bin' }, 512 * MiB), zeroBytes: 512 * MiB }]);
    const run = await runBounded(['ps', archive, '--root', BASE_ROOTFS]);
    console.log(`512 MiB non-image member: peak ${run.peakMiB.toFixed(0)} MiB RSS, ${run.peakDiskMiB.toFixed(1)} MiB temp disk, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^PID\s+PPID/);
    // The real images of the archive are about 1.2 MiB.
    expect(run.peakDiskMiB).toBeLessThan(8);
    expect(run.leftInTmp).toEqual([]);
  });

  it('20,000 tiny image members stop at the member cap', { timeout: 60_000 }, async () => {
    const archive = join(scratchDir('flood'), 'flood.tar.zst');
    const members = Array.from({ length: 20_000 }, (_, i) => ({ header: header({ name: `checkpoint/x-${i}.img` }, 0), zeroBytes: 0 }));
    await zstdTar(archive, REAL_TAR, members);
    const run = await runBounded(['ps', archive, '--root', BASE_ROOTFS]);
    console.log(`20,000 members: peak ${run.peakMiB.toFixed(0)} MiB RSS, ${run.peakDiskMiB.toFixed(1)} MiB temp disk, ${run.seconds.toFixed(1)} s`);
    expect(run.stderr.trim()).toBe(`criu-gdb: ${archive}: members decompressed to the temporary directory: more than 16384 exceeds the limit of 16384 (raise it with CRIU_GDB_MAX_EXTRACT_MEMBERS=N)`);
    expect(run.exitCode).toBe(2);
    expect(run.leftInTmp).toEqual([]);
    expect(run.seconds).toBeLessThan(30);
  });

  for (const [kind, name, cap] of [
    ['image', (i: number) => `checkpoint/x-${i}.img`, 'members decompressed to the temporary directory: more than 16384 exceeds the limit of 16384 (raise it with CRIU_GDB_MAX_EXTRACT_MEMBERS=N)'],
    ['non-image', (i: number) => `checkpoint/n-${i}`, 'members: 200001 exceeds the limit of 200000 (raise it with CRIU_GDB_MAX_ARCHIVE_MEMBERS=N)'],
  ] as const) {
    it(`900,000 tiny ${kind} members stop at the member cap`, { timeout: 180_000 }, async () => {
      const work = scratchDir('flood900k');
      // The headers are written to a file in batches (460 MB of them), then compressed in front of the real archive.
      const headers = join(work, 'headers');
      const fd = openSync(headers, 'w');
      for (let batch = 0; batch < 900_000; batch += 10_000) {
        writeSync(fd, Buffer.concat(Array.from({ length: 10_000 }, (_, i) => header({ name: name(batch + i) }, 0))));
      }
      closeSync(fd);
      const archive = join(work, 'flood.tar.zst');
      await execa('bash', ['-c', `cat '${headers}' '${REAL_TAR}' | zstd -q -1 -f -o '${archive}' && rm '${headers}'`]);
      const run = await runBounded(['ps', archive, '--root', BASE_ROOTFS], { timeoutMs: 150_000 });
      console.log(`900,000 ${kind} members: peak ${run.peakMiB.toFixed(0)} MiB RSS, ${run.peakDiskMiB.toFixed(1)} MiB temp disk, ${run.seconds.toFixed(1)} s`);
      expect(run.stderr.trim()).toBe(`criu-gdb: ${archive}: ${cap}`);
      expect(run.exitCode).toBe(2);
      expect(run.leftInTmp).toEqual([]);
      expect(run.peakDiskMiB).toBeLessThan(64);
      expect(run.peakMiB).toBeLessThan(1024);
      // 296 s before the caps.
      expect(run.seconds).toBeLessThan(90);
    });
  }
});
