/**
 * Mounts of a plain dump: CRIU writes mountpoints-NSID.img when the tree has a mount namespace of its own.
 * On a real checkpoint (mount_ns: a process that unshared its mount namespace and mounted a tmpfs), the
 * mounts criu-gdb reads are those the live process's /proc/self/mountinfo listed (its facts).
 */
import { execa } from 'execa';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { diffCheckpoints } from '../../src/model/diff.js';
import { REPO_ROOT, checkpointAvailability, imagesDir, loadTruth, rootProcess } from '../helpers/checkpoints.js';

const NAME = 'mount_ns';
const available = checkpointAvailability(NAME).available;
const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const opened: Checkpoint[] = [];
afterAll(() => opened.forEach((c) => c.close()));

/**
 * The live mounts, "MOUNTPOINT TYPE SOURCE", in mountinfo order. CRIU records no type name for the file
 * systems it does not handle itself (the root's ext4 here): those read `unknown`.
 */
function liveMounts(): string[] {
  const facts = rootProcess(loadTruth(NAME)).facts;
  return Array.from({ length: Number(facts['mount.count']) }, (_, i) => facts[`mount.${i}`]!.replace(/^(\S+) (ext4|xfs|btrfs) /, '$1 unknown '));
}

describe.skipIf(!available)('the mounts of a dump with its own mount namespace', () => {
  it('are read from mountpoints-NSID.img, as the live process listed them', () => {
    const checkpoint = Checkpoint.open(imagesDir(NAME));
    opened.push(checkpoint);
    const mounts = checkpoint.rootProcess.mounts();
    expect(mounts).toBeDefined();
    expect(mounts!.map((m) => `${m.mountpoint} ${m.type} ${m.source}`)).toEqual(liveMounts());
    const tmpfs = mounts!.find((m) => m.mountpoint === rootProcess(loadTruth(NAME)).facts['mount.tmpfs']);
    expect(tmpfs).toMatchObject({ type: 'tmpfs', source: 'criu-gdb-tmpfs', root: '/' });
    expect(tmpfs!.options.split(',')).toContain('size=1024k');
  });

  it('inspect --mounts lists them (text and JSON)', { timeout: 60_000 }, async () => {
    const json = await execa('node', [CLI, 'inspect', imagesDir(NAME), '--mounts', '--json']);
    const record = JSON.parse(json.stdout) as { mounts: { destination: string; type: string; source: string }[] };
    expect(record.mounts.map((m) => `${m.destination} ${m.type} ${m.source}`)).toEqual(liveMounts());
    const text = await execa('node', [CLI, 'inspect', imagesDir(NAME), '--mounts']);
    const point = rootProcess(loadTruth(NAME)).facts['mount.tmpfs']!;
    expect(text.stdout).toMatch(new RegExp(`Destination: ${point}\\n[│ ]+├── Type: tmpfs\\n[│ ]+└── Source: criu-gdb-tmpfs`));
  });

  it('diff reports the tmpfs mount as removed when a copy of the images lacks it', () => {
    const copy = mkdtempSync(join(tmpdir(), 'criu-gdb-mounts-'));
    try {
      cpSync(imagesDir(NAME), copy, { recursive: true });
      const name = readdirSync(copy).find((file) => /^mountpoints-\d+\.img$/.test(file))!;
      // Drop the framed entry (u32 length + message, after the 8-byte header) that names the tmpfs.
      const bytes = readFileSync(join(copy, name));
      const kept: Buffer[] = [bytes.subarray(0, 8)];
      let dropped = 0;
      for (let at = 8; at < bytes.length; ) {
        const end = at + 4 + bytes.readUInt32LE(at);
        const entry = bytes.subarray(at, end);
        if (entry.includes('criu-gdb-tmpfs')) dropped++;
        else kept.push(entry);
        at = end;
      }
      expect(dropped).toBe(1);
      writeFileSync(join(copy, name), Buffer.concat(kept));
      const before = Checkpoint.open(imagesDir(NAME));
      const after = Checkpoint.open(copy);
      opened.push(before, after);
      const diff = diffCheckpoints(before, after);
      const point = rootProcess(loadTruth(NAME)).facts['mount.tmpfs']!;
      expect(diff.mounts?.removed.map((m) => `${m.destination} ${m.type} ${m.source}`)).toEqual([`${point} tmpfs criu-gdb-tmpfs`]);
      expect(diff.mounts?.added).toEqual([]);
      expect(diff.mounts?.changed).toEqual([]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('a dump without a mount namespace of its own has none', () => {
    const checkpoint = Checkpoint.open(imagesDir('pie_callchain'));
    opened.push(checkpoint);
    expect(checkpoint.rootProcess.mounts()).toBeUndefined();
  });
});
