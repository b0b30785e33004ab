/**
 * `criu-gdb list` on a directory holding the real container checkpoint archives that make-archives.ts made
 * (tar, tar.gz, tar.zst), an unpacked container checkpoint and bare CRIU images, checked against the
 * archives' expected.json; and on missing directories.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, checkpointAvailability, imagesDir } from '../helpers/checkpoints.js';
import { ARCHIVES_DIR, type ArchiveExpectation } from '../setup/make-archives.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const NAMES = ['pie_callchain', 'fork_tree'] as const;
const present = NAMES.every((name) => existsSync(join(ARCHIVES_DIR, name, 'expected.json'))) && checkpointAvailability('pie_callchain').available;
const scratch: string[] = [];
afterAll(() => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

interface Listed {
  path: string;
  format: string;
  container: boolean;
  name: string | null;
  pod: string | null;
  namespace: string | null;
  engine: string | null;
  time: string;
  timeFrom: string;
  size: number;
  problem: string | null;
}

function expectation(name: string): ArchiveExpectation {
  return JSON.parse(readFileSync(join(ARCHIVES_DIR, name, 'expected.json'), 'utf8')) as ArchiveExpectation;
}

/** A directory like /var/lib/kubelet/checkpoints with every archive, one unpacked bundle, bare images and a stray file. */
function storeDirectory(): string {
  const dir = mkdtempSync(join(process.env['TMPDIR'] ?? '/tmp', 'criu-gdb-list-'));
  scratch.push(dir);
  for (const name of NAMES) for (const suffix of ['.tar', '.tar.gz', '.tar.zst']) cpSync(join(ARCHIVES_DIR, name, `${name}${suffix}`), join(dir, `${name}${suffix}`));
  cpSync(join(ARCHIVES_DIR, 'fork_tree', 'bundle'), join(dir, 'fork_tree-bundle'), { recursive: true });
  cpSync(imagesDir('pie_callchain'), join(dir, 'bare-images'), { recursive: true });
  writeFileSync(join(dir, 'notes.txt'), 'not a checkpoint\n');
  mkdirSync(join(dir, 'empty-dir'));
  return dir;
}

describe.skipIf(!present)('criu-gdb list', () => {
  it('lists every archive and checkpoint directory with its container, pod, time, size and format', async () => {
    const dir = storeDirectory();
    const result = await execa('node', [CLI, 'list', dir, '--json'], { reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const listed = (JSON.parse(result.stdout) as { checkpoints: Listed[] }).checkpoints;
    const byName = new Map(listed.map((entry) => [entry.path.slice(dir.length + 1), entry]));
    expect([...byName.keys()].sort()).toEqual(['bare-images', 'fork_tree-bundle', 'fork_tree.tar', 'fork_tree.tar.gz', 'fork_tree.tar.zst', 'pie_callchain.tar', 'pie_callchain.tar.gz', 'pie_callchain.tar.zst']);
    const formats: Record<string, string> = { '.tar': 'tar', '.tar.gz': 'gzip', '.tar.zst': 'zstd' };
    for (const name of NAMES) {
      const expected = expectation(name);
      for (const [suffix, format] of Object.entries(formats)) {
        const entry = byName.get(`${name}${suffix}`)!;
        expect(entry).toMatchObject({
          format,
          container: true,
          engine: expected.engine,
          name: expected.kubernetesContainer ?? expected.containerName,
          pod: expected.pod ?? null,
          namespace: expected.namespace ?? null,
          time: expected.checkpointed,
          timeFrom: 'metadata',
          size: statSync(entry.path).size,
          problem: null,
        });
      }
    }
    expect(byName.get('fork_tree-bundle')).toMatchObject({ format: 'directory', container: true, name: expectation('fork_tree').containerName, time: expectation('fork_tree').checkpointed });
    expect(byName.get('bare-images')).toMatchObject({ format: 'directory', container: false, name: null, pod: null, timeFrom: 'mtime', problem: null });
  }, 60_000);

  it('prints one line per checkpoint', async () => {
    const dir = storeDirectory();
    const result = await execa('node', [CLI, 'list', dir], { reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^CONTAINER\s+POD\s+TIME\s+SIZE\s+FORMAT\s+CHECKPOINT$/);
    expect(lines).toHaveLength(9);
    const pie = expectation('pie_callchain');
    expect(result.stdout).toMatch(new RegExp(`^${pie.kubernetesContainer}\\s+${pie.namespace}/${pie.pod}\\s+${pie.checkpointed}\\s+\\S+ \\S?i?B\\s+zstd\\s+${dir}/pie_callchain\\.tar\\.zst$`, 'm'));
  }, 60_000);

  it('says clearly when a directory is missing, the default one included', async () => {
    const missing = join(REPO_ROOT, 'test', '.work', 'no-such-checkpoints');
    const result = await execa('node', [CLI, 'list', missing], { reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(`criu-gdb: ${missing}: no such directory`);
    const dir = storeDirectory();
    const mixed = await execa('node', [CLI, 'list', missing, dir], { reject: false });
    expect(mixed.exitCode).toBe(0);
    expect(mixed.stdout.split('\n').at(-1)).toBe(`${missing}: no such directory`);
    if (!existsSync('/var/lib/kubelet/checkpoints')) {
      const defaulted = await execa('node', [CLI, 'list'], { reject: false });
      expect(defaulted.exitCode).toBe(2);
      expect(defaulted.stderr).toBe('criu-gdb: /var/lib/kubelet/checkpoints/: no such directory (the default; name the directories to list: criu-gdb list DIR...)');
    }
  }, 60_000);
});
