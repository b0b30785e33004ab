/**
 * gdb through criu-load against gdb attached to the live process, for every real checkpoint: the same
 * processes as inferiors, the same threads with the same names, the same backtraces with the same locals
 * (`thread apply all bt full`, frame by frame), the same register values, and the same globals.
 */
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_NAMES, checkpointAvailability, imagesDir, loadTruth, type CheckpointName } from '../helpers/checkpoints.js';
import { frameFunctions, gdbOnCheckpoint, normalizedBacktrace, registerValues, threadBlocks, threadLocalSymbols } from '../helpers/gdb-session.js';

const servable = CHECKPOINT_NAMES.filter((name) => name !== 'incremental');

for (const name of servable) {
  const availability = checkpointAvailability(name);
  describe.skipIf(!availability.available)(`gdb on checkpoint ${name}`, () => {
    it('shows every process, thread, name, frame and local that gdb showed on the live process', { timeout: 180_000 }, async () => {
      const truth = loadTruth(name);
      const { pids, text, stderr } = await gdbOnCheckpoint(imagesDir(name), ['thread apply all bt full']);
      expect(stderr).not.toMatch(/Traceback|Python Exception/);
      expect(pids.sort()).toEqual(truth.processes.map((p) => p.pid).sort());
      const all = threadBlocks(text);
      for (const live of truth.processes) {
        const tids = new Set(live.threads.map((t) => t.tid));
        const ours = all.filter((t) => tids.has(t.tid));
        const theirs = threadBlocks(live.gdb.backtracesFull);
        expect(ours.map((t) => ({ tid: t.tid, name: t.name }))).toEqual(live.threads.map((t) => ({ tid: t.tid, name: t.name })).sort((a, b) => a.tid - b.tid));
        for (const thread of theirs) {
          const mine = ours.find((t) => t.tid === thread.tid);
          expect(frameFunctions(mine?.body ?? ''), `${name} thread ${thread.tid} frames`).toEqual(frameFunctions(thread.body));
          expect(normalizedBacktrace(mine?.body ?? ''), `${name} thread ${thread.tid} bt full`).toBe(normalizedBacktrace(thread.body));
        }
      }
    });

    it('shows the register values gdb showed on the live process', { timeout: 180_000 }, async () => {
      const truth = loadTruth(name);
      const names = new Set(truth.processes.flatMap((p) => p.threads.flatMap((t) => Object.keys(t.registers))));
      expect(names.size).toBeGreaterThan(20);
      const { text } = await gdbOnCheckpoint(imagesDir(name), [`thread apply all info registers ${[...names].join(' ')}`]);
      const ours = threadBlocks(text);
      for (const live of truth.processes) {
        for (const thread of live.threads) {
          const mine = registerValues(ours.find((t) => t.tid === thread.tid)?.body ?? '');
          for (const [register, value] of Object.entries(thread.registers)) {
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
        const { text } = await gdbOnCheckpoint(imagesDir(name), probes);
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
  it.skipIf(!checkpointAvailability('avx_regs').available)('info all-registers is what live gdb printed, AVX-512 included', { timeout: 120_000 }, async () => {
    const truth = loadTruth('avx_regs');
    const live = truth.processes[0]!;
    const { text } = await gdbOnCheckpoint(imagesDir('avx_regs'), ['info all-registers']);
    const lines = (t: string) => t.trim().split('\n').map((l) => l.trimEnd());
    expect(lines(text)).toEqual(lines(live.gdb.allRegisters));
    expect(text).toMatch(/^zmm31\s/m);
    expect(text).toMatch(/^k7\s/m);
  });

  it.skipIf(!checkpointAvailability('pie_callchain').available)('info proc shows the command line, cwd and exe from the images', { timeout: 120_000 }, async () => {
    const truth = loadTruth('pie_callchain');
    const live = truth.processes[0]!;
    const { text } = await gdbOnCheckpoint(imagesDir('pie_callchain'), ['info proc', 'info proc mappings']);
    expect(text).toContain(`cmdline = '${live.cmdline.join(' ')}'`);
    expect(text).toContain(`cwd = '${live.cwd}'`);
    expect(text).toContain(`exe = '${live.exe}'`);
    for (const mapping of live.maps.filter((m) => m.name.startsWith('/'))) {
      expect(text).toMatch(new RegExp(`${mapping.start}\\s+${mapping.end}\\s.*${mapping.name.replace(/[.]/g, '\\.')}`));
    }
  });

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
