/**
 * `criu-gdb coredump` on every real checkpoint, checked against the live process: gdb on each exported core
 * shows the backtraces (`thread apply all bt full`, frame by frame), the registers (AVX-512 included), the
 * globals and every byte of memory that gdb saw live; readelf validates the notes and segments without a
 * warning; lldb shows the leader's backtrace; holes read as inaccessible, not as zeros; zero pages stay
 * sparse. Also: `criu coredump` inside gdb, and gdb's own `gcore` on a criu-load session.
 * Needs `npm run build` first (npm test does it), gdb, readelf and lldb (test/setup/prepare-tests.sh).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/views/args.js';
import { coredumpCommand } from '../../src/cli/commands/coredump.js';
import { loadSegments, readCoreFile, readCriuGdbInfo } from '../../src/export/core-reader.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { NT } from '../../src/export/elf.js';
import { decodeFileNote } from '../../src/export/notes.js';
import {
  CHECKPOINT_NAMES,
  WORK_DIR,
  checkpointAvailability,
  checkpointDir,
  fact,
  imagesDir,
  loadTruth,
  parseAddress,
  type CheckpointName,
  type ProcessTruth,
} from '../helpers/checkpoints.js';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { allRegistersDifferences, loadedRegisterDifferences, loadedRegisters, trueRegisters } from '../helpers/registers.js';
import { frameFunctions, gdbOnCheckpoint, liveView, maskKernelOwned, normalizedBacktrace, registerValues, threadBlocks, threadLocalSymbols } from '../helpers/gdb-session.js';

const OUT = join(WORK_DIR, 'coredump');
const servable = CHECKPOINT_NAMES.filter((name) => name !== 'incremental');

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Exports every process of `name` with the CLI command into test/.work/coredump/<name>; returns its output. */
function exportCheckpoint(name: CheckpointName): string {
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  return coredumpCommand.run(parseArgs([imagesDir(name), '-o', dir], coredumpCommand.options));
}

function corePath(name: CheckpointName, pid: number): string {
  return join(OUT, name, `core.${pid}`);
}

/** gdb -batch on a core file, the commands' output between markers. */
async function gdbOnCore(exe: string, core: string, commands: readonly string[], gdb = 'gdb'): Promise<{ text: string; stdout: string; stderr: string }> {
  const args = ['-nx', '-batch', '-iex', 'set debuginfod enabled off', '-iex', 'set pagination off', '-iex', 'set width 0', exe, core];
  args.push('-ex', "python print('@@BEGIN')");
  for (const command of commands) args.push('-ex', command);
  args.push('-ex', "python print('@@END')");
  const result = await execa(gdb, args, { reject: false, timeout: 120_000 });
  // gdb names a thread of a core without libthread_db `Thread 1 (LWP 123)`; threadBlocks wants `(LWP 123)` inside.
  // Only stdout: interleaving it with stderr depends on when the two pipes are read.
  const text = (/^@@BEGIN$([\s\S]*?)^@@END$/m.exec(result.stdout)?.[1] ?? '').replace(/^(Thread \d+ )\((LWP \d+)\):$/gm, '$1(Thread ($2)):');
  return { text, stdout: result.stdout, stderr: result.stderr };
}

/**
 * gdb's warnings on a core that are not about the core's structure: a file named in NT_FILE that cannot be
 * opened because it was deleted (memfd, shared anonymous memory, unlinked files), which gdb prints for the
 * kernel's cores too.
 */
function unexpectedGdbWarnings(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => /warning|Traceback|Python Exception|too small|Couldn't read/i.test(line))
    .filter((line) => !/^warning: Can't open file .* \(deleted\) during file-backed mapping note processing$/.test(line));
}

/** Reads `length` bytes at `offset` of a file. */
function fileBytes(path: string, offset: bigint, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, Number(offset));
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The byte ranges [start, end) of `mapping` that the live process could read. */
function readableRanges(mapping: ProcessTruth['maps'][number]): Array<[bigint, bigint]> {
  const start = parseAddress(mapping.start);
  const end = parseAddress(mapping.end);
  if (mapping.memory.kind !== 'bytes') return [];
  const holes = mapping.memory.unreadable.map((r) => [parseAddress(r.start), parseAddress(r.end)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const ranges: Array<[bigint, bigint]> = [];
  let cursor = start;
  for (const [from, to] of holes) {
    if (from > cursor) ranges.push([cursor, from]);
    if (to > cursor) cursor = to;
  }
  if (cursor < end) ranges.push([cursor, end]);
  return ranges;
}

beforeAll(() => {
  mkdirSync(OUT, { recursive: true });
});

for (const name of servable) {
  const availability = checkpointAvailability(name);
  describe.skipIf(!availability.available)(`core files of checkpoint ${name}`, () => {
    let output = '';
    beforeAll(() => {
      output = exportCheckpoint(name);
    }, 300_000);

    it('writes one core per process, listing what is left out', () => {
      const truth = loadTruth(name);
      for (const live of truth.processes) {
        expect(existsSync(corePath(name, live.pid)), `core.${live.pid}`).toBe(true);
        expect(output).toContain(`core.${live.pid}: pid ${live.pid} (${live.comm})`);
      }
      expect(output).toMatch(/not in the core: 0x[0-9a-f]+-0x[0-9a-f]+ \[vvar\]: the kernel vvar area is never dumped/);
    });

    it('gdb shows every thread, frame and local that gdb showed on the live process', { timeout: 300_000 }, async () => {
      const truth = loadTruth(name);
      for (const live of truth.processes) {
        const { text, stderr } = await gdbOnCore(live.exe, corePath(name, live.pid), ['thread apply all bt full']);
        expect(unexpectedGdbWarnings(stderr)).toEqual([]);
        const ours = threadBlocks(text);
        expect(ours.map((t) => t.tid)).toEqual(live.threads.map((t) => t.tid).sort((a, b) => a - b));
        for (const thread of threadBlocks(live.gdb.backtracesFull)) {
          const mine = ours.find((t) => t.tid === thread.tid);
          expect(frameFunctions(mine?.body ?? ''), `${name} thread ${thread.tid} frames`).toEqual(frameFunctions(thread.body));
          expect(normalizedBacktrace(mine?.body ?? ''), `${name} thread ${thread.tid} bt full`).toBe(normalizedBacktrace(thread.body));
        }
      }
    });

    it('gdb shows the register values of the live process', { timeout: 300_000 }, async () => {
      const truth = loadTruth(name);
      for (const live of truth.processes) {
        const names = new Set(live.threads.flatMap((t) => Object.keys(t.registers)));
        const { text } = await gdbOnCore(live.exe, corePath(name, live.pid), [`thread apply all info registers ${[...names].join(' ')}`]);
        const ours = threadBlocks(text);
        for (const thread of live.threads) {
          const mine = registerValues(ours.find((t) => t.tid === thread.tid)?.body ?? '');
          for (const [register, value] of Object.entries(trueRegisters(thread))) {
            expect(mine[register], `${name} thread ${thread.tid} ${register}`).toBe(value);
          }
        }
      }
    });

    it('gdb shows the globals at their live addresses and values', { timeout: 300_000 }, async () => {
      const truth = loadTruth(name);
      const threadLocal = await threadLocalSymbols(truth.program.binary);
      let checked = 0;
      for (const live of truth.processes) {
        const globals = live.symbols.filter((s) => s.bytes && s.bytes.length > 0 && !threadLocal.has(s.name));
        const probes = globals.map(
          (s) => `python s='${s.name}'; v=gdb.parse_and_eval('&'+s); print('@@SYM', s, hex(int(v)), bytes(gdb.selected_inferior().read_memory(int(v), ${s.bytes!.length / 2})).hex())`,
        );
        const { text } = await gdbOnCore(live.exe, corePath(name, live.pid), probes);
        for (const symbol of globals) {
          const line = new RegExp(`^@@SYM ${symbol.name} (0x[0-9a-f]+) ([0-9a-f]*)$`, 'm').exec(text);
          expect(line?.[1], `${name} pid ${live.pid} &${symbol.name}`).toBe(symbol.address);
          expect(line?.[2], `${name} pid ${live.pid} ${symbol.name}`).toBe(symbol.bytes);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(0);
    });

    it('holds every byte the live process could read, except the ranges the CRIUGDB note lists', () => {
      const truth = loadTruth(name);
      const checkpoint = Checkpoint.open(imagesDir(name));
      try {
        for (const live of truth.processes) {
          const path = corePath(name, live.pid);
          const loads = loadSegments(readCoreFile(path));
          const holes = readCriuGdbInfo(path)!.unavailable.map((u) => [parseAddress(u.start), parseAddress(u.end)] as const);
          let compared = 0;
          for (const mapping of live.maps) {
            if (mapping.memory.kind !== 'bytes') continue;
            const start = parseAddress(mapping.start);
            const theirs = Buffer.from(readFileSync(join(checkpointDir(name), mapping.memory.file)));
            const ours = Buffer.alloc(theirs.length);
            for (const [from, to] of readableRanges(mapping)) {
              for (let page = from; page < to; page += 4096n) {
                const length = Number(to - page < 4096n ? to - page : 4096n);
                const load = loads.find((l) => l.vaddr <= page && page < l.vaddr + l.memsz);
                if (load) {
                  fileBytes(path, load.offset + (page - load.vaddr), length).copy(ours, Number(page - start));
                  compared++;
                } else {
                  expect(holes.some(([s, e]) => s <= page && page < e), `${name} pid ${live.pid} page 0x${page.toString(16)} ${mapping.name} is neither in the core nor listed`).toBe(true);
                  theirs.fill(0, Number(page - start), Number(page - start) + length);
                }
              }
            }
            maskKernelOwned(checkpoint, live.pid, start, [ours, theirs]);
            if (!ours.equals(theirs)) {
              const at = ours.findIndex((byte, i) => byte !== theirs[i]);
              expect.fail(`${name} pid ${live.pid}: ${mapping.name || 'anonymous'} mapping differs from the live memory at 0x${(start + BigInt(at)).toString(16)}`);
            }
          }
          expect(compared).toBeGreaterThan(10);
        }
      } finally {
        checkpoint.close();
      }
    });

    it('readelf validates the notes and segments without a warning', async () => {
      const truth = loadTruth(name);
      for (const live of truth.processes) {
        const result = await execa('readelf', ['-n', '-l', '-W', corePath(name, live.pid)], { reject: false });
        expect(result.exitCode).toBe(0);
        expect(result.stderr).toBe('');
        const count = (type: string): number => result.stdout.split('\n').filter((l) => l.includes(type)).length;
        expect(count('NT_PRSTATUS')).toBe(live.threads.length);
        expect(count('NT_FPREGSET')).toBe(live.threads.length);
        expect(count('NT_X86_XSTATE')).toBe(live.threads.length);
        expect(count('NT_PRPSINFO')).toBe(1);
        expect(count('NT_AUXV')).toBe(1);
        expect(count('NT_FILE')).toBe(1);
        const core = readCoreFile(corePath(name, live.pid));
        expect(result.stdout).toContain(`There are ${core.phnum} program headers`);
        expect((result.stdout.match(/^\s+LOAD\s/gm) ?? []).length).toBe(loadSegments(core).length);
        // NT_FILE lists the mapped files with their offsets, as the live maps had them.
        const files = decodeFileNote(core.notes.find((n) => n.type === NT.FILE)!.desc);
        for (const mapping of live.maps.filter((m) => m.name === live.exe)) {
          const entry = files.find((f) => f.start === parseAddress(mapping.start));
          expect(entry, `NT_FILE entry for ${mapping.start}`).toMatchObject({ end: parseAddress(mapping.end), offset: parseAddress(mapping.offset), name: mapping.name });
        }
      }
    });

    it('keeps thread names and the process links in the CRIUGDB note', () => {
      const truth = loadTruth(name);
      for (const live of truth.processes) {
        const info = readCriuGdbInfo(corePath(name, live.pid))!;
        expect(info.pid).toBe(live.pid);
        expect(info.threads.map((t) => ({ tid: t.tid, name: t.name }))).toEqual(live.threads.map((t) => ({ tid: t.tid, name: t.name })));
        expect([info.pgid, info.sid]).toEqual([live.pgid, live.sid]);
      }
    });

    it('leaves zero pages sparse', () => {
      const truth = loadTruth(name);
      for (const live of truth.processes) {
        const stat = statSync(corePath(name, live.pid));
        const du = Number(execFileSync('du', ['-B1', corePath(name, live.pid)]).toString().split('\t')[0]);
        expect(du).toBe(stat.blocks * 512);
        expect(stat.blocks * 512).toBeLessThan(stat.size);
      }
    });
  });
}

/*
 * The core's NT_X86_XSTATE uses the standard (Intel) offsets, which gdb 13 assumes, and NT_X86_XSAVE_LAYOUT
 * says so for gdb 14 and later; both must then show the registers the live process had, whatever CPU
 * exported the core. Live gdb's text is the truth for the registers every gdb reads the same way on every CPU.
 */
for (const gdb of gdbMatrix()) {
  warnIfUnavailable(gdb);
  describe.skipIf(!checkpointAvailability('avx_regs').available || !gdb.available)(`AVX-512 state in a core, read by ${gdb.label}`, () => {
    it('info all-registers is what the live process had', { timeout: 120_000 }, async () => {
      const truth = loadTruth('avx_regs');
      const live = truth.processes[0]!;
      const core = corePath('avx_regs', live.pid);
      if (!existsSync(core)) exportCheckpoint('avx_regs');
      const { text } = await gdbOnCore(live.exe, core, ['info all-registers'], gdb.command);
      expect(allRegistersDifferences(text, liveView(live, gdb).allRegisters, live.threads[0]!)).toEqual([]);
      for (const last of fact(live, 'avx.mode') === 'avx512' ? ['zmm31', 'k7'] : ['ymm15']) expect(text).toMatch(new RegExp(`^${last}\\s`, 'm'));
    });

    it('the vector and mask registers are the values the program loaded', { timeout: 120_000 }, async () => {
      const live = loadTruth('avx_regs').processes[0]!;
      const core = corePath('avx_regs', live.pid);
      if (!existsSync(core)) exportCheckpoint('avx_regs');
      const { text } = await gdbOnCore(live.exe, core, [`info registers ${[...loadedRegisters(live.facts).keys()].join(' ')}`], gdb.command);
      expect(loadedRegisterDifferences(text, live.facts)).toEqual([]);
    });
  });
}

describe.skipIf(!checkpointAvailability('pie_callchain').available)('holes in a core', () => {
  it('gdb cannot read a range the checkpoint does not hold, and reads no zeros there', { timeout: 120_000 }, async () => {
    const truth = loadTruth('pie_callchain');
    const live = truth.processes[0]!;
    const core = corePath('pie_callchain', live.pid);
    if (!existsSync(core)) exportCheckpoint('pie_callchain');
    const vvar = readCriuGdbInfo(core)!.unavailable.find((u) => /vvar/.test(u.reason))!;
    expect(vvar).toBeDefined();
    const { stdout, stderr } = await gdbOnCore(live.exe, core, [`x/2xg ${vvar.start}`]);
    expect(stderr).toMatch(new RegExp(`Cannot access memory at address ${vvar.start}`));
    expect(stdout).not.toMatch(new RegExp(`^${vvar.start}:\\s+0x`, 'm'));
  });
});

const lldbAvailable = hasCommand('lldb');

/**
 * glibc exports several names for one function (pause and __libc_pause, nanosleep and __GI___nanosleep...);
 * gdb and lldb may pick different ones. The name without glibc's prefixes identifies it.
 */
function alias(name: string): string {
  return name.replace(/^__GI_/, '').replace(/^__libc_/, '').replace(/^_+/, '');
}

describe.skipIf(!lldbAvailable)('lldb on the exported cores', () => {
  for (const name of servable.filter((n) => checkpointAvailability(n).available)) {
    it(`shows the leader's backtrace of ${name}`, { timeout: 120_000 }, async () => {
      const truth = loadTruth(name);
      const live = truth.processes[0]!;
      const core = corePath(name, live.pid);
      if (!existsSync(core)) exportCheckpoint(name);
      const result = await execa('lldb', ['--no-lldbinit', '--batch', '-o', 'thread backtrace', '--core', core, live.exe], { reject: false, timeout: 120_000 });
      const frames = [...result.stdout.matchAll(/^\s+\*? ?frame #\d+: (0x[0-9a-f]+) [^`\s]+`([^\s(]+)/gm)].map((m) => ({ pc: BigInt(m[1]!), name: alias(m[2]!) }));
      const leader = threadBlocks(live.gdb.backtraces).find((t) => t.tid === live.pid)!;
      const expected = frameFunctions(leader.body).map(alias);
      expect(frames.length, result.stdout).toBeGreaterThanOrEqual(expected.length);
      expect(frames.slice(0, expected.length).map((f) => f.name), result.stdout).toEqual(expected);
      // Where gdb printed a frame's pc, lldb's is the same.
      const pcs = [...leader.body.matchAll(/^#(\d+)\s+(0x[0-9a-f]+) in /gm)].map((m) => [Number(m[1]), BigInt(m[2]!)] as const);
      for (const [index, pc] of pcs) expect(frames[index]?.pc, `frame ${index}`).toBe(pc);
    });
  }
});

describe.skipIf(!checkpointAvailability('fork_tree').available)('criu coredump inside gdb', () => {
  it('exports every process of the loaded checkpoint', { timeout: 180_000 }, async () => {
    const truth = loadTruth('fork_tree');
    const dir = join(OUT, 'from-gdb');
    rmSync(dir, { recursive: true, force: true });
    const { text, stderr } = await gdbOnCheckpoint(imagesDir('fork_tree'), [`criu coredump ${dir}`]);
    expect(stderr).not.toMatch(/Traceback|Python Exception/);
    for (const live of truth.processes) {
      expect(text).toContain(`core.${live.pid}: pid ${live.pid}`);
      const { text: bt } = await gdbOnCore(live.exe, join(dir, `core.${live.pid}`), ['thread apply all bt']);
      const theirs = threadBlocks(live.gdb.backtraces)[0]!;
      expect(frameFunctions(threadBlocks(bt)[0]?.body ?? '')).toEqual(frameFunctions(theirs.body));
    }
  });

  it('exports one process with --pid', { timeout: 180_000 }, async () => {
    const truth = loadTruth('fork_tree');
    const child = truth.processes[1]!;
    const dir = join(OUT, 'from-gdb-pid');
    rmSync(dir, { recursive: true, force: true });
    await gdbOnCheckpoint(imagesDir('fork_tree'), [`criu coredump --pid ${child.pid} ${dir}`]);
    expect(existsSync(join(dir, `core.${child.pid}`))).toBe(true);
    expect(existsSync(join(dir, `core.${truth.rootPid}`))).toBe(false);
  });
});

for (const name of (['pie_callchain', 'named_threads'] as const).filter((n) => checkpointAvailability(n).available)) {
  describe(`gdb's gcore on a criu-load session of ${name}`, () => {
    it('writes a core on which gdb shows the live backtraces', { timeout: 180_000 }, async () => {
      const truth = loadTruth(name);
      const live = truth.processes[0]!;
      const dir = join(OUT, 'gcore');
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${name}.core`);
      rmSync(path, { force: true });
      const { stderr } = await gdbOnCheckpoint(imagesDir(name), [`gcore ${path}`]);
      expect(stderr).not.toMatch(/Traceback|Python Exception/);
      expect(existsSync(path)).toBe(true);
      const { text } = await gdbOnCore(live.exe, path, ['thread apply all bt']);
      const ours = threadBlocks(text);
      for (const thread of threadBlocks(live.gdb.backtraces)) {
        const mine = ours.find((t) => t.tid === thread.tid);
        expect(normalizedBacktrace(mine?.body ?? ''), `${name} thread ${thread.tid}`).toBe(normalizedBacktrace(thread.body));
      }
      // gcore used smaps: the heap, stacks and written pages are in, the untouched library text is not.
      const loads = loadSegments(readCoreFile(path));
      const libcText = live.maps.find((m) => /libc\.so/.test(m.name) && m.perms.includes('x'));
      if (libcText) expect(loads.some((l) => l.vaddr === parseAddress(libcText.start) && l.filesz > 0n)).toBe(false);
      const stack = live.maps.find((m) => m.name === '[stack]')!;
      expect(loads.some((l) => l.vaddr === parseAddress(stack.start) && l.filesz > 0n)).toBe(true);
    });
  });
}
