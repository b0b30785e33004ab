/**
 * The private view gdb reads files from names the very file the helper checked: replacing the file under
 * the root, or swapping its directory for a symbolic link, after the check changes nothing gdb reads.
 */
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { prepareFileRoute } from '../../src/model/file-route.js';
import { fixtureImagesDir, fixtureRootfs } from '../helpers/checkpoints.js';

const EXE = 'opt/criu-gdb-demo/demo';

describe('the view route', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  function scratch(): string {
    const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-view-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  it('keeps serving the checked file after the root is changed under it', async () => {
    const root = join(scratch(), 'root');
    cpSync(fixtureRootfs('demo'), root, { recursive: true });
    const original = readFileSync(join(root, EXE));
    const checkpoint = Checkpoint.open(fixtureImagesDir('demo'), { root });
    cleanups.push(() => checkpoint.close());
    const session = scratch();
    const route = await prepareFileRoute(checkpoint, session);
    expect(route.route).toBe('view');
    const inView = join(route.sysroot, EXE);
    expect(readFileSync(inView).equals(original)).toBe(true);

    // Another file renamed over the checked one, then its directory swapped for a link outside the root.
    const impostor = join(root, 'impostor');
    writeFileSync(impostor, 'not the checked executable');
    renameSync(impostor, join(root, EXE));
    const outside = scratch();
    writeFileSync(join(outside, 'demo'), 'a file outside the root');
    renameSync(join(root, 'opt/criu-gdb-demo'), join(root, 'opt/moved'));
    symlinkSync(outside, join(root, 'opt/criu-gdb-demo'));

    expect(readFileSync(inView).equals(original)).toBe(true);
  });
});
