/**
 * The model against ground truth from the live processes: for every real checkpoint made by the test setup,
 * the reader must return the same bytes as /proc/PID/mem for every readable mapping (VVAR and vsyscall
 * aside), the same maps, threads and thread names, process identity, cmdline and open files.
 */
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import {
  CHECKPOINT_NAMES,
  checkpointAvailability,
  imagesDir,
  loadTruth,
  parseAddress,
  truthMemory,
  type CheckpointName,
  type MappingTruth,
} from '../helpers/checkpoints.js';
import { maskKernelOwned } from '../helpers/gdb-session.js';

const NEVER_DUMPED = new Set(['[vvar]', '[vvar_vclock]', '[vsyscall]']);
const opened: Checkpoint[] = [];
afterAll(() => opened.forEach((c) => c.close()));

function open(name: CheckpointName): Checkpoint {
  const checkpoint = Checkpoint.open(imagesDir(name));
  opened.push(checkpoint);
  return checkpoint;
}

/** The truth lists [vvar] and [vvar_vclock] separately; CRIU merges them into one VMA. */
function mergedTruthMaps(maps: readonly MappingTruth[]): Array<{ start: bigint; end: bigint; perms: string; name: string }> {
  const out: Array<{ start: bigint; end: bigint; perms: string; name: string }> = [];
  for (const m of maps) {
    const entry = { start: parseAddress(m.start), end: parseAddress(m.end), perms: m.perms, name: m.name === '[vvar_vclock]' ? '[vvar]' : m.name };
    const last = out[out.length - 1];
    if (last && last.name === '[vvar]' && entry.name === '[vvar]' && last.end === entry.start) last.end = entry.end;
    else out.push(entry);
  }
  return out;
}

for (const name of CHECKPOINT_NAMES) {
  const availability = checkpointAvailability(name);
  describe.skipIf(!availability.available && availability.reason.includes('cannot be made on this machine'))(`checkpoint ${name}`, () => {
    it('has the processes of the live tree with their identity, state and command line', () => {
      const truth = loadTruth(name);
      const checkpoint = open(name);
      expect(checkpoint.processes.map((p) => p.pid).sort()).toEqual(truth.processes.map((p) => p.pid).sort());
      for (const live of truth.processes) {
        const process = checkpoint.process(live.pid);
        expect({ pgid: process.pgid, sid: process.sid, comm: process.comm }).toEqual({ pgid: live.pgid, sid: live.sid, comm: live.comm });
        if (live.pid !== truth.rootPid) expect(process.ppid).toBe(live.ppid);
        expect(process.state).toBe('stopped');
        expect(process.cmdline()).toEqual(live.cmdline);
        expect(process.environ()).toEqual(live.environ);
        expect(process.exe()).toBe(live.exe);
        expect(process.dirs()).toEqual({ cwd: live.cwd, root: live.root });
      }
    });

    it('has every thread with its name', () => {
      const truth = loadTruth(name);
      const checkpoint = open(name);
      for (const live of truth.processes) {
        const threads = checkpoint.process(live.pid).threads();
        expect(threads.map((t) => ({ tid: t.tid, name: t.name }))).toEqual(live.threads.map((t) => ({ tid: t.tid, name: t.name })));
      }
    });

    it('has the same memory map as /proc/PID/maps', () => {
      const truth = loadTruth(name);
      const checkpoint = open(name);
      for (const live of truth.processes) {
        const mappings = checkpoint.process(live.pid).mappings();
        // Guard pages are an entry of their own in CRIU's images (and `maps`), not in /proc/PID/maps.
        const ours = mappings.filter((m) => m.kind !== 'guard').map((m) => ({ start: m.start, end: m.end, perms: m.perms, name: m.name }));
        expect(ours).toEqual(mergedTruthMaps(live.maps));
      }
    });

    it('reads the same bytes as /proc/PID/mem for every readable mapping', () => {
      const truth = loadTruth(name);
      const checkpoint = open(name);
      let compared = 0;
      for (const live of truth.processes) {
        const memory = checkpoint.process(live.pid).memory();
        for (const mapping of live.maps) {
          if (NEVER_DUMPED.has(mapping.name) || mapping.memory.kind === 'unreadable' || mapping.memory.kind === 'skipped') continue;
          const start = parseAddress(mapping.start);
          const length = Number(parseAddress(mapping.end) - start);
          const read = memory.read(start, length);
          const where = `${name} pid ${live.pid} ${mapping.start} ${mapping.name}`;
          // Only what the live process could not read either (guard pages) may be unavailable.
          const unreadable = mapping.memory.unreadable.map((r) => ({ start: parseAddress(r.start), end: parseAddress(r.end) }));
          const unexplained = read.unavailable.filter((gap) => !unreadable.some((r) => r.start <= gap.start && gap.end <= r.end));
          expect(unexplained, where).toEqual([]);
          if (mapping.memory.kind === 'bytes') {
            const expected = Buffer.from(truthMemory(name, live.pid, mapping.start));
            maskKernelOwned(checkpoint, live.pid, start, [read.data, expected]);
            expect(read.data.equals(expected), where).toBe(true);
          } else {
            expect(createHash('sha256').update(read.data).digest('hex'), where).toBe(mapping.memory.sha256);
          }
          compared += length;
        }
      }
      expect(compared).toBeGreaterThan(0);
    });

    it('reports VVAR as unavailable rather than inventing bytes', () => {
      const truth = loadTruth(name);
      const checkpoint = open(name);
      const live = truth.processes[0]!;
      const vvar = live.maps.find((m) => m.name === '[vvar]');
      if (!vvar) return;
      const read = checkpoint.process(live.pid).memory().read(parseAddress(vvar.start), 16);
      expect(read.unavailable).toEqual([{ start: parseAddress(vvar.start), end: parseAddress(vvar.start) + 16n, reason: 'the kernel vvar area is never dumped' }]);
    });

    it('has the open files /proc/PID/fd showed', () => {
      const truth = loadTruth(name);
      const checkpoint = open(name);
      for (const live of truth.processes) {
        const fds = checkpoint.process(live.pid).fds();
        expect(fds.map((f) => ({ fd: f.fd, name: f.name }))).toEqual(live.fds.map((f) => ({ fd: f.fd, name: f.target })));
      }
    });
  });
}

describe.skipIf(!checkpointAvailability('resources').available)('search over shared memory', () => {
  it('finds the known strings in the memfd and the shared anonymous mapping at their live addresses', async () => {
    const { searchMemory } = await import('../../src/model/search.js');
    const truth = loadTruth('resources');
    const live = truth.processes[0]!;
    const checkpoint = open('resources');
    const process = checkpoint.process(live.pid);
    const pageSize = 4096n;
    for (const [prefix, pages] of [['memfd', 2], ['shared_anon', 3]] as const) {
      const base = parseAddress(live.facts[`${prefix}.addr`]!);
      for (let page = 0; page < pages; page++) {
        const text = live.facts[`${prefix}.page.${page}`]!;
        const matches = searchMemory(process, Buffer.from(text));
        expect(matches.map((m) => m.address), `${prefix} page ${page}`).toContain(base + BigInt(page) * pageSize);
      }
    }
  });
});
