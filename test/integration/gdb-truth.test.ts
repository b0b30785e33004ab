/**
 * gdb through criu-load against gdb attached to the live process, for every real checkpoint and every gdb of
 * the version matrix (test/helpers/gdb-versions.ts): the same processes as inferiors, the same threads with
 * the same names, the same backtraces with the same locals (`thread apply all bt full`, frame by frame), the
 * same register values, and the same globals. Each gdb is compared with what the same gdb version showed on
 * the live process; the AVX-512 registers, which gdb 13 misreads live on some CPUs, with ptrace's truth.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_NAMES, checkpointAvailability, fact, imagesDir, loadTruth, rootProcess, truthMemory } from '../helpers/checkpoints.js';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { allRegistersDifferences, trueRegisters } from '../helpers/registers.js';
import { frameFunctions, gdbOnCheckpoint, liveThreadRegisters, liveView, normalizedBacktrace, registerValues, threadBlocks, threadLocalSymbols } from '../helpers/gdb-session.js';

const servable = CHECKPOINT_NAMES.filter((name) => name !== 'incremental');

for (const gdb of gdbMatrix()) {
  warnIfUnavailable(gdb);
  for (const name of servable) {
    const availability = checkpointAvailability(name);
    describe.skipIf(!availability.available || !gdb.available)(`${gdb.label} on checkpoint ${name}`, () => {
      it('shows every process, thread, name, frame and local that gdb showed on the live process', { timeout: 180_000 }, async () => {
        const truth = loadTruth(name);
        const { pids, text, stderr } = await gdbOnCheckpoint(imagesDir(name), ['thread apply all bt full'], { gdb: gdb.command });
        expect(stderr).not.toMatch(/Traceback|Python Exception/);
        expect(pids.sort()).toEqual(truth.processes.map((p) => p.pid).sort());
        const all = threadBlocks(text);
        for (const live of truth.processes) {
          const tids = new Set(live.threads.map((t) => t.tid));
          const ours = all.filter((t) => tids.has(t.tid));
          const theirs = threadBlocks(liveView(live, gdb).backtracesFull);
          expect(ours.map((t) => ({ tid: t.tid, name: t.name }))).toEqual(live.threads.map((t) => ({ tid: t.tid, name: t.name })).sort((a, b) => a.tid - b.tid));
          expect(theirs.length).toBe(live.threads.length);
          for (const thread of theirs) {
            const mine = ours.find((t) => t.tid === thread.tid);
            expect(frameFunctions(mine?.body ?? ''), `${name} thread ${thread.tid} frames`).toEqual(frameFunctions(thread.body));
            expect(normalizedBacktrace(mine?.body ?? ''), `${name} thread ${thread.tid} bt full`).toBe(normalizedBacktrace(thread.body));
          }
        }
      });

      it('shows the register values of the live process', { timeout: 180_000 }, async () => {
        const truth = loadTruth(name);
        const names = new Set(truth.processes.flatMap((p) => p.threads.flatMap((t) => Object.keys(liveThreadRegisters(p, t, gdb)))));
        expect(names.size).toBeGreaterThan(20);
        const { text } = await gdbOnCheckpoint(imagesDir(name), [`thread apply all info registers ${[...names].join(' ')}`], { gdb: gdb.command });
        const ours = threadBlocks(text);
        for (const live of truth.processes) {
          for (const thread of live.threads) {
            const mine = registerValues(ours.find((t) => t.tid === thread.tid)?.body ?? '');
            for (const [register, value] of Object.entries(trueRegisters(thread, liveThreadRegisters(live, thread, gdb)))) {
              expect(mine[register], `${name} thread ${thread.tid} ${register}`).toBe(value);
            }
          }
        }
      });

      it('shows the globals of the program at their live addresses and values', { timeout: 180_000 }, async () => {
        const truth = loadTruth(name);
        const threadLocal = await threadLocalSymbols(truth.program.binary);
        const globals = (symbols: typeof truth.processes[number]['symbols']) => symbols.filter((s) => s.bytes && s.bytes.length > 0 && !threadLocal.has(s.name));
        let checked = 0;
        for (const [index, live] of truth.processes.entries()) {
          const probes = [`inferior ${index + 1}`, "python print('@@PID', gdb.selected_inferior().pid)"];
          for (const symbol of globals(live.symbols)) {
            probes.push(`python s='${symbol.name}'; v=gdb.parse_and_eval('&'+s); print('@@SYM', s, hex(int(v)), bytes(gdb.selected_inferior().read_memory(int(v), ${symbol.bytes!.length / 2})).hex())`);
          }
          const { text } = await gdbOnCheckpoint(imagesDir(name), probes, { gdb: gdb.command });
          const pid = Number(/^@@PID (\d+)$/m.exec(text)?.[1]);
          const process = truth.processes.find((p) => p.pid === pid)!;
          for (const symbol of globals(process.symbols)) {
            const line = new RegExp(`^@@SYM ${symbol.name} (0x[0-9a-f]+) ([0-9a-f]*)$`, 'm').exec(text);
            expect(line?.[1], `${name} pid ${pid} &${symbol.name}`).toBe(symbol.address);
            expect(line?.[2], `${name} pid ${pid} ${symbol.name}`).toBe(symbol.bytes);
            checked++;
          }
        }
        expect(checked).toBeGreaterThan(0);
      });
    });
  }

  describe.skipIf(!gdb.available)(`${gdb.label}: views beyond backtraces`, () => {
    it.skipIf(!checkpointAvailability('avx_regs').available)('info all-registers is what the live process had, AVX-512 included', { timeout: 120_000 }, async () => {
      const live = rootProcess(loadTruth('avx_regs'));
      const { text } = await gdbOnCheckpoint(imagesDir('avx_regs'), ['info all-registers'], { gdb: gdb.command });
      expect(allRegistersDifferences(text, liveView(live, gdb).allRegisters, live.threads[0]!)).toEqual([]);
      for (const last of fact(live, 'avx.mode') === 'avx512' ? ['zmm31', 'k7'] : ['ymm15']) expect(text).toMatch(new RegExp(`^${last}\\s`, 'm'));
    });

    it.skipIf(!checkpointAvailability('pie_callchain').available)(`reads a whole mapping byte for byte with ${gdb.major >= 16 ? 'binary x' : 'hex m'} packets`, { timeout: 120_000 }, async () => {
      const live = rootProcess(loadTruth('pie_callchain'));
      const heap = live.maps.find((m) => m.name === '[heap]')!;
      const out = join(mkdtempSync(join(tmpdir(), 'criu-gdb-dump-')), 'heap.bin');
      const { stdout, stderr } = await gdbOnCheckpoint(imagesDir('pie_callchain'), ['set debug remote 1', `dump binary memory ${out} ${heap.start} ${heap.end}`, 'set debug remote 0'], { gdb: gdb.command });
      const packet = gdb.major >= 16 ? /Sending packet: \$x[0-9a-f]+,[0-9a-f]+#/ : /Sending packet: \$m[0-9a-f]+,[0-9a-f]+#/;
      expect(`${stdout}${stderr}`).toMatch(packet);
      expect(readFileSync(out).equals(truthMemory('pie_callchain', live.pid, heap.start))).toBe(true);
      rmSync(dirname(out), { recursive: true, force: true });
    });

    it.skipIf(!checkpointAvailability('pie_callchain').available)('info proc shows the command line, cwd and exe from the images', { timeout: 120_000 }, async () => {
      const live = rootProcess(loadTruth('pie_callchain'));
      const { text } = await gdbOnCheckpoint(imagesDir('pie_callchain'), ['info proc', 'info proc mappings'], { gdb: gdb.command });
      expect(text).toContain(`cmdline = '${live.cmdline.join(' ')}'`);
      expect(text).toContain(`cwd = '${live.cwd}'`);
      expect(text).toContain(`exe = '${live.exe}'`);
      for (const mapping of live.maps.filter((m) => m.name.startsWith('/'))) {
        // gdb 16 and later pad addresses with zeros.
        const address = (hex: string): string => `0x0*${hex.slice(2)}`;
        expect(text).toMatch(new RegExp(`${address(mapping.start)}\\s+${address(mapping.end)}\\s.*${mapping.name.replace(/[.]/g, '\\.')}`));
      }
    });
  });
}

describe('gdb on the bundled demo checkpoint', () => {
  it('prints every thread backtrace with symbols of the static PIE binary', { timeout: 120_000 }, async () => {
    const { fixtureImagesDir, fixtureRootfs, loadFixtureTruth } = await import('../helpers/checkpoints.js');
    const truth = loadFixtureTruth('demo');
    const live = truth.processes[0]!;
    const { text } = await gdbOnCheckpoint(fixtureImagesDir('demo'), ['thread apply all bt'], { root: fixtureRootfs('demo') });
    const ours = threadBlocks(text);
    for (const thread of threadBlocks(live.gdb.backtraces)) {
      expect(frameFunctions(ours.find((t) => t.tid === thread.tid)?.body ?? '')).toEqual(frameFunctions(thread.body));
    }
    expect(ours.map((t) => t.name)).toEqual(['demo', 'stocker', 'clock']);
  });
});

describe('gdb views beyond backtraces', () => {
  it.skipIf(!checkpointAvailability('pie_callchain').available)('evaluates globals, structs, arrays, heap strings and locals as the program reported them', { timeout: 120_000 }, async () => {
    const truth = loadTruth('pie_callchain');
    const facts = truth.processes[0]!.facts;
    const { text } = await gdbOnCheckpoint(imagesDir('pie_callchain'), [
      'p g_answer',
      'p g_counter',
      'p g_message',
      'p g_record.tag',
      'p g_record.big',
      'p g_bss_array',
      'x/s g_heap_string',
      'frame function level_three',
      'p l3_name',
      'p l3_magic',
      'p who',
    ]);
    expect(text).toContain(`= ${facts['global.g_answer']}`);
    expect(text).toContain(`= ${facts['global.g_counter']}`);
    expect(text).toContain(`"${facts['global.g_message']}"`);
    expect(text).toContain(`= "${facts['global.g_record.tag']}\\000`); // a char array: its NULs follow
    expect(text).toContain(`= ${facts['global.g_record.big']}`);
    expect(text).toContain(`{${facts['global.g_bss_array']!.split(' ').join(', ')}}`);
    expect(text).toMatch(new RegExp(`^${facts['heap.string.addr']}:\\s+"${facts['global.g_heap_string']}"$`, 'm'));
    expect(text).toContain(`= "${facts['local.level_three.l3_name']}\\000`);
    expect(text).toContain(`= ${facts['local.level_three.l3_magic']}`);
    expect(text).toContain(`"${facts['local.level_three.who']}"`);
  });
});
