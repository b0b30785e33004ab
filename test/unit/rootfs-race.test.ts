/**
 * Hostile roots, issue 12 point 4: whoever controls the root may swap a directory for a symlink pointing
 * out of it while criu-gdb opens a file. An attacker process swaps `opt/criu-gdb-demo` of a copy of the
 * demo fixture's rootfs with a symlink to a directory outside the root, as fast as it can, while the file
 * is opened again and again: every open must give the file inside the root, or a refusal, never the file
 * outside.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { RootFs, RootPathError } from '../../src/rootfs/resolve.js';
import { RemoteFiles } from '../../src/rsp/vfile.js';
import { fixtureImagesDir, fixtureRootfs } from '../helpers/checkpoints.js';
import { removeScratch, scratchDir } from '../helpers/hostile.js';

afterAll(removeScratch);

const ATTACKER = `
import os, sys
root, outside = sys.argv[1], sys.argv[2]
d = os.path.join(root, 'opt', 'criu-gdb-demo')
os.symlink(outside, d + '.link')
while True:
    os.rename(d, d + '.real')
    os.rename(d + '.link', d)
    os.rename(d, d + '.link')
    os.rename(d + '.real', d)
`;

describe('opening a file under a root whose directories are being swapped', () => {
  it('never reads a file outside the root', { timeout: 60_000 }, async () => {
    const work = scratchDir('race');
    const root = join(work, 'root');
    cpSync(fixtureRootfs('demo'), root, { recursive: true });
    const outside = join(work, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'demo'), 'OUTSIDE THE ROOT');
    const inside = readFileSync(join(root, 'opt', 'criu-gdb-demo', 'demo')).subarray(0, 16);
    const rootFs = new RootFs(root);
    const attacker = spawn('python3', ['-c', ATTACKER, root, outside], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const counts = { inside: 0, outside: 0, refused: 0 };
    try {
      for (let i = 0; i < 20_000; i++) {
        let content;
        try {
          content = rootFs.openContent('/opt/criu-gdb-demo/demo');
        } catch (error) {
          if (!(error instanceof RootPathError)) throw error;
          counts.refused++;
          continue;
        }
        const head = Buffer.alloc(16);
        readSync(content.fd, head, 0, 16, 0);
        content.close();
        if (head.equals(inside)) counts.inside++;
        else counts.outside++;
      }
    } finally {
      attacker.kill('SIGKILL');
      rootFs.close();
    }
    console.log(`swap race: ${JSON.stringify(counts)}`);
    expect(counts.outside).toBe(0);
    // The race was real: both outcomes of the swap were met.
    expect(counts.inside).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
  });
});

describe("gdb's vFile reads under a root whose directories are being swapped", () => {
  it('never opens, reads or reads a link outside the root', { timeout: 120_000 }, async () => {
    const work = scratchDir('race-vfile');
    const root = join(work, 'root');
    cpSync(fixtureRootfs('demo'), root, { recursive: true });
    const outside = join(work, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'demo'), 'OUTSIDE THE ROOT');
    symlinkSync('inside-target', join(root, 'opt', 'criu-gdb-demo', 'link'));
    symlinkSync('OUTSIDE-TARGET', join(outside, 'link'));
    const inside = readFileSync(join(root, 'opt', 'criu-gdb-demo', 'demo')).subarray(0, 16);
    const checkpoint = Checkpoint.open(fixtureImagesDir('demo'), { root });
    const files = new RemoteFiles(checkpoint, 16384);
    const hex = (text: string): string => Buffer.from(text).toString('hex');
    const attacker = spawn('python3', ['-c', ATTACKER, root, outside], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const reads = { inside: 0, outside: 0, refused: 0 };
    const links = { inside: 0, outside: 0, refused: 0 };
    try {
      for (let i = 0; i < 10_000; i++) {
        const opened = files.handle(`open:${hex('/opt/criu-gdb-demo/demo')},0,0`).toString();
        if (opened.startsWith('F-1')) reads.refused++;
        else {
          const fd = opened.slice(1);
          const reply = Buffer.from(files.handle(`pread:${fd},10,0`));
          files.handle(`close:${fd}`);
          // `F10;` then the 16 bytes (escaped where needed; the first 16 bytes of an ELF file need none but 0x7d).
          if (reply.subarray(4).equals(inside)) reads.inside++;
          else reads.outside++;
        }
        const link = files.handle(`readlink:${hex('/opt/criu-gdb-demo/link')}`).toString('latin1');
        if (link === 'Fd;inside-target') links.inside++;
        else if (link.startsWith('F-1')) links.refused++;
        else links.outside++;
      }
    } finally {
      attacker.kill('SIGKILL');
      files.closeAll();
      checkpoint.close();
    }
    console.log(`vFile swap race: opens ${JSON.stringify(reads)}, links ${JSON.stringify(links)}`);
    expect(reads.outside).toBe(0);
    expect(links.outside).toBe(0);
    expect(reads.inside).toBeGreaterThan(0);
    expect(reads.refused).toBeGreaterThan(0);
    expect(links.inside).toBeGreaterThan(0);
    expect(links.refused).toBeGreaterThan(0);
  });
});
