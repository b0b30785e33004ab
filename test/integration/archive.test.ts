/**
 * Container checkpoint archives made by test/setup/make-archives.ts from the real dumps (Podman and
 * CRI-O/Kubernetes layouts; plain, gzip and zstd), against the live ground truth:
 * - the CLI (ps, search) and show/inspect report what the live processes and the container metadata were;
 * - the container-style root: the base rootfs plus rootfs-diff.tar plus deleted.files, where the program's
 *   file-backed pages must come from the diff (the base holds a wrong copy) and deleted entries are hidden;
 * - real gdb with criu-load ARCHIVE: the same threads and backtraces as gdb on the live process, and the
 *   memory of the mappings as the live process had it;
 * - nothing is left in the temporary directory.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/views/args.js';
import { inspectCommand, showCommand } from '../../src/cli/commands/index.js';
import type { InspectProcess, InspectRecord } from '../../src/views/inspect.js';
import type { ShowRecord } from '../../src/views/show.js';
import { RootFile } from '../../src/model/backing-file.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { ARCHIVES_DIR, type ArchiveExpectation } from '../setup/make-archives.js';
import { REPO_ROOT, checkpointAvailability, imagesDir, loadTruth, parseAddress, truthMemory, type CheckpointName } from '../helpers/checkpoints.js';
import { frameFunctions, gdbOnCheckpoint, maskKernelOwned, threadBlocks } from '../helpers/gdb-session.js';

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const FORMATS = { tar: 'tar', gzip: 'tar.gz', zstd: 'tar.zst' } as const;
const SUBJECTS: CheckpointName[] = ['pie_callchain', 'fork_tree'];

function tempDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('criu-gdb-archive-'));
}
const before = tempDirs();
afterAll(() => expect(tempDirs()).toEqual(before));

function expectation(name: CheckpointName): ArchiveExpectation {
  const file = join(ARCHIVES_DIR, name, 'expected.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run npx tsx test/setup/make-archives.ts (npm test does)`);
  return JSON.parse(readFileSync(file, 'utf8')) as ArchiveExpectation;
}

function archivePath(name: CheckpointName, format: keyof typeof FORMATS): string {
  return join(ARCHIVES_DIR, name, `${name}.${FORMATS[format]}`);
}

function baseRoot(name: CheckpointName): string {
  return join(ARCHIVES_DIR, name, 'base-rootfs');
}

function flatten(nodes: InspectProcess[]): InspectProcess[] {
  return nodes.flatMap((node) => [node, ...flatten(node.children)]);
}

for (const name of SUBJECTS) {
  const availability = checkpointAvailability(name);
  describe.skipIf(!availability.available)(`archives of ${name}`, () => {
    for (const format of Object.keys(FORMATS) as Array<keyof typeof FORMATS>) {
      describe(format, () => {
        it('ps through the CLI shows the live processes, command lines and threads', async () => {
          const truth = loadTruth(name);
          const result = await execa('node', [CLI, 'ps', archivePath(name, format), '--json', '--root', baseRoot(name)], { reject: false });
          expect(result.stderr).toBe('');
          expect(result.exitCode).toBe(0);
          const records = JSON.parse(result.stdout) as Array<{ pid: number; ppid: number; cmdline: string[]; threads: Array<{ tid: number; name: string }> }>;
          expect(records.map((r) => r.pid).sort()).toEqual(truth.processes.map((p) => p.pid).sort());
          for (const live of truth.processes) {
            const record = records.find((r) => r.pid === live.pid)!;
            expect(record.cmdline).toEqual(live.cmdline);
            expect(record.threads).toEqual(live.threads.map((t) => ({ tid: t.tid, name: t.name })));
          }
        });

        it('show reports the container as checkpointctl does', () => {
          const expected = expectation(name);
          const truth = loadTruth(name);
          const args = parseArgs([archivePath(name, format), '--json', '--root', baseRoot(name)], showCommand.options);
          const record = JSON.parse(showCommand.run(args)) as ShowRecord;
          expect(record.format).toBe(format);
          expect(record.container).toMatchObject({
            engine: expected.engine,
            id: expected.id,
            image: expected.image,
            runtime: expected.runtime,
            created: expected.created,
            checkpointed: expected.checkpointed,
          });
          if (expected.engine === 'CRI-O') {
            expect(record.container).toMatchObject({ name: expected.kubernetesContainer, pod: expected.pod, namespace: expected.namespace, kubernetesContainer: expected.kubernetesContainer });
          } else expect(record.container?.name).toBe(expected.containerName);
          expect(record.processes).toBe(truth.processes.length);
          const bundle = join(ARCHIVES_DIR, name, 'bundle');
          expect(record.sizes.rootfsDiff).toBe(readFileSync(join(bundle, 'rootfs-diff.tar')).length);
          const images = readdirSync(join(bundle, 'checkpoint')).map((f) => readFileSync(join(bundle, 'checkpoint', f)).length);
          expect(record.sizes.checkpoint).toBe(images.reduce((a, b) => a + b, 0));
          const text = showCommand.run(parseArgs([archivePath(name, format), '--root', baseRoot(name)], showCommand.options));
          expect(text).toMatch(new RegExp(`${expected.id.slice(0, 12)}\\s+${expected.runtime}\\s+${expected.created}\\s+${expected.engine}\\s`));
        });

        it('inspect --all shows the process tree with command lines, environments, files, sockets, mounts and statistics', () => {
          const expected = expectation(name);
          const truth = loadTruth(name);
          const args = parseArgs([archivePath(name, format), '--all', '--json', '--root', baseRoot(name)], inspectCommand.options);
          const record = JSON.parse(inspectCommand.run(args)) as InspectRecord;
          const processes = flatten(record.processTree ?? []);
          expect(processes.map((p) => p.pid).sort()).toEqual(truth.processes.map((p) => p.pid).sort());
          for (const live of truth.processes) {
            const node = processes.find((p) => p.pid === live.pid)!;
            expect(node.cmdline).toEqual(live.cmdline);
            expect(node.environment).toEqual(live.environ);
            const files = new Map(node.files?.map((f) => [f.fd, f.path]));
            expect(files.get('cwd')).toBe(live.cwd);
            for (const fd of live.fds.filter((f) => f.target.startsWith('/'))) expect(files.get(String(fd.fd))).toBe(fd.target);
          }
          expect(record.mounts).toEqual(expected.mounts.map((m) => expect.objectContaining(m)));
          expect(record.statistics?.dump?.pagesWritten).toBeGreaterThan(0);
          const tree = inspectCommand.run(parseArgs([archivePath(name, format), '--ps-tree', '--stats', '--root', baseRoot(name)], inspectCommand.options));
          expect(tree).toContain('CRIU dump statistics');
          expect(tree).toMatch(new RegExp(`\\[${truth.rootPid} \\(Stopped\\)\\]  ${truth.processes[0]!.comm}`));
        });

        it('search finds the environment marker in every process, with --regex too', async () => {
          const truth = loadTruth(name);
          for (const extra of [['environ-marker-1234'], ['environ-marker-\\d{4}', '--regex']]) {
            const result = await execa('node', [CLI, 'search', archivePath(name, format), ...extra, '--json', '--root', baseRoot(name)], { reject: false });
            expect(result.exitCode, result.stderr).toBe(0);
            const json = JSON.parse(result.stdout) as { matches: Array<{ pid: number; mapping: string; context: string }> };
            for (const live of truth.processes) {
              expect(json.matches.some((m) => m.pid === live.pid && m.mapping === '[stack]' && m.context.includes('environ-marker-1234'))).toBe(true);
            }
          }
        });
      });
    }

    it('reads file-backed pages from rootfs-diff.tar over the base rootfs, and hides deleted entries', () => {
      const expected = expectation(name);
      const truth = loadTruth(name);
      for (const format of Object.keys(FORMATS) as Array<keyof typeof FORMATS>) {
        const checkpoint = Checkpoint.open(archivePath(name, format), { root: baseRoot(name) });
        try {
          expect(checkpoint.warnings).toEqual([]);
          expect(checkpoint.rootFs.resolveEntry(expected.programPath).layer).toBe('diff');
          expect(checkpoint.rootFs.resolveEntry(expected.diffSymlink).layer).toBe('diff');
          expect(() => checkpoint.rootFs.resolve(expected.deletedPath)).toThrow(/was deleted in the container/);
          for (const live of truth.processes) {
            const process = checkpoint.process(live.pid);
            for (const mapping of live.maps) {
              if (mapping.memory.kind !== 'bytes' || mapping.memory.unreadable.length > 0 || mapping.name.startsWith('[v')) continue;
              const start = parseAddress(mapping.start);
              const read = process.memory().read(start, mapping.memory.size);
              expect(read.unavailable, `${format} ${live.pid} ${mapping.start} ${mapping.name}`).toEqual([]);
              const wanted = Buffer.from(truthMemory(name, live.pid, start));
              maskKernelOwned(checkpoint, live.pid, start, [read.data, wanted]);
              expect(read.data.equals(wanted), `${format} ${live.pid} ${mapping.start} ${mapping.name}`).toBe(true);
            }
            const text = process.mappings().find((m) => m.name === expected.programPath && m.perms === 'r-xp')!;
            expect(process.coverage(text).fromFile + process.coverage(text).present).toBeGreaterThan(0);
          }
          const sources = [...Array(64).keys()].map((id) => checkpoint.contentOfFile(id)).filter((s): s is RootFile => s instanceof RootFile);
          const program = sources.find((s) => s.label === expected.programPath);
          expect(program?.layer).toBe('diff');
          expect(program?.problem()).toBeUndefined();
        } finally {
          checkpoint.close();
        }
      }
      // Without the diff, the base rootfs' copy of the program (same size, other bytes) is refused by its build-id.
      const bare = Checkpoint.open(imagesDir(name), { root: baseRoot(name) });
      try {
        const process = bare.process(truth.rootPid);
        const text = process.mappings().find((m) => m.name === expected.programPath && m.perms === 'r--p')!;
        const read = process.memory().read(text.start, 16);
        expect(read.unavailable.map((u) => u.reason).join('\n')).toMatch(/build-id (none|[0-9a-f]+) does not match the recorded [0-9a-f]+/);
      } finally {
        bare.close();
      }
    });

    it('criu-load ARCHIVE in gdb shows the live threads, backtraces and memory', { timeout: 300_000 }, async () => {
      const truth = loadTruth(name);
      const scratch = mkdtempSync(join(tmpdir(), 'criu-gdb-archive-gdb-'));
      try {
        for (const format of Object.keys(FORMATS) as Array<keyof typeof FORMATS>) {
          const root = truth.processes[0]!;
          const heap = root.maps.find((m) => m.name === '[stack]' && m.memory.kind === 'bytes')!;
          const text = root.maps.find((m) => m.name === root.exe && m.perms === 'r-xp')!;
          const dumps = [heap, text].map((m, i) => ({ mapping: m, file: join(scratch, `${format}-${i}.bin`) }));
          const commands = ['thread apply all bt', ...dumps.map((d) => `dump binary memory ${d.file} ${d.mapping.start} ${d.mapping.end}`)];
          const { pids, text: output, stderr } = await gdbOnCheckpoint(archivePath(name, format), commands, { root: baseRoot(name) });
          expect(stderr, `${format}: ${stderr}`).not.toMatch(/Traceback|Python Exception|not a directory/);
          expect(pids.sort()).toEqual(truth.processes.map((p) => p.pid).sort());
          const blocks = threadBlocks(output);
          for (const live of truth.processes) {
            for (const thread of threadBlocks(live.gdb.backtraces)) {
              const mine = blocks.find((b) => b.tid === thread.tid);
              expect(mine?.name, `${format} thread ${thread.tid} name`).toBe(thread.name);
              expect(frameFunctions(mine?.body ?? ''), `${format} thread ${thread.tid} frames`).toEqual(frameFunctions(thread.body));
            }
          }
          for (const { mapping, file } of dumps) {
            expect(readFileSync(file).equals(truthMemory(name, root.pid, mapping.start)), `${format} ${mapping.name} ${mapping.start}`).toBe(true);
          }
        }
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    });
  });
}

beforeAll(() => {
  for (const name of SUBJECTS) if (checkpointAvailability(name).available) expectation(name);
});
