/**
 * Hostile checkpoints, issue 12 point 3: Ctrl-C, SIGTERM and SIGHUP stop the CLI at once even while it is
 * busy decompressing, and nothing is left in the temporary directory, even after SIGKILL. The busy work is
 * an 8 GiB zstd bomb put in front of the real fork_tree archive, with the extraction cap raised so that
 * only the signal can stop it early.
 */
import { readdirSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORK_DIR } from '../helpers/checkpoints.js';
import { CLI, diskBytes, removeScratch, scratchDir, zstdZeroBomb } from '../helpers/hostile.js';

const REAL_TAR = join(WORK_DIR, 'archives', 'fork_tree', 'fork_tree.tar');
const BASE_ROOTFS = join(WORK_DIR, 'archives', 'fork_tree', 'base-rootfs');

let bomb = '';
beforeAll(async () => {
  if (!existsSync(REAL_TAR)) return;
  bomb = join(scratchDir('signals'), 'bomb.tar.zst');
  await zstdZeroBomb(bomb, REAL_TAR, 'checkpoint/pages-99.img', 16);
}, 60_000);
afterAll(removeScratch);

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return condition();
}

describe.skipIf(!existsSync(REAL_TAR))('signals stop a busy CLI and leave nothing behind', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL'] as const) {
    it(`${signal} during decompression`, { timeout: 60_000 }, async () => {
      const tmp = scratchDir('tmp');
      const child = execa('node', [CLI, 'ps', bomb, '--root', BASE_ROOTFS], {
        reject: false,
        env: { TMPDIR: tmp, CRIU_GDB_MAX_EXTRACT_BYTES: String(100 * 1024 ** 3) },
      });
      // Busy: well into the bomb (the whole of it takes many seconds).
      expect(await waitFor(() => diskBytes(tmp) > 256 * 1024 ** 2, 30_000)).toBe(true);
      const sent = performance.now();
      child.kill(signal);
      const result = await child;
      const seconds = (performance.now() - sent) / 1000;
      console.log(`${signal}: stopped ${seconds.toFixed(2)} s after the signal, ${(diskBytes(tmp) / 1024 ** 2).toFixed(0)} MiB left at once`);
      expect(result.signal).toBe(signal);
      expect(seconds).toBeLessThan(2);
      // The reaper removes the extracted images and its own registry.
      expect(await waitFor(() => readdirSync(tmp).length === 0, 5_000)).toBe(true);
    });
  }
});
