/**
 * criu-load lets gdb cache the checkpoint's memory (memory regions with the cache attribute, page-sized
 * cache lines), on every gdb of the version matrix:
 *   - reads through the cache equal the live process's bytes, and the cache really holds lines;
 *   - a native inferior debugged alongside reads its own memory (outside the checkpoint's ranges) and sees
 *     its memory change after it runs;
 *   - criu-unload gives back gdb's settings and memory regions exactly as they were.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, checkpointAvailability, imagesDir, loadTruth, truthBytes } from '../helpers/checkpoints.js';
import { gdbMatrix, warnIfUnavailable } from '../helpers/gdb-versions.js';
import { PLUGIN } from '../helpers/gdb-session.js';

const NAME = 'pie_callchain';
const availability = checkpointAvailability(NAME);
const compilerThere = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
const SETTINGS = ['info mem', 'show mem inaccessible-by-default', 'show dcache line-size', 'show dcache size'];

let work: string;
let native: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'criu-gdb-memory-cache-'));
  native = join(work, 'native');
  writeFileSync(`${native}.c`, 'volatile long value = 1;\nint main(void) {\n  value = 2;\n  value = 3;\n  return 0;\n}\n');
  if (compilerThere) await execa('gcc', ['-O0', '-g', '-o', native, `${native}.c`]);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function gdbBatch(command: string, commands: string[]): Promise<string> {
  const args = ['-nx', '-batch', '-iex', 'set pagination off', '-iex', 'set width 0', '-iex', `source ${PLUGIN}`];
  for (const line of commands) args.push('-ex', line);
  const result = await execa(command, args, { reject: false, timeout: 120_000, env: { HOME: REPO_ROOT } });
  return `${result.stdout}\n${result.stderr}`;
}

/** The text between `@@name` markers printed with `python print('@@name')`. */
function section(text: string, name: string): string {
  return new RegExp(`^@@${name}\\n([\\s\\S]*?)^@@`, 'm').exec(text)?.[1]?.trim() ?? '';
}

for (const gdb of gdbMatrix()) {
  warnIfUnavailable(gdb);
  describe.skipIf(!availability.available || !compilerThere || !gdb.available)(`${gdb.label}: gdb's cache on checkpoint memory`, () => {
    it('serves cached reads equal to the live bytes, leaves a native inferior working, and restores every setting', { timeout: 180_000 }, async () => {
      const truth = loadTruth(NAME);
      const live = truth.processes.find((p) => p.pid === truth.rootPid)!;
      const heap = live.maps.find((m) => m.name === '[heap]')!;
      const exe = live.maps.find((m) => m.memory.kind === 'bytes' && m.name.endsWith('/pie_callchain'))!;
      const reads = [BigInt(heap.start) + 0x10n, BigInt(heap.start) + 0x2f8n, BigInt(exe.start) + 0x40n];
      const readAll = `python print(';'.join(bytes(gdb.selected_inferior().read_memory(a, 24)).hex() for a in [${reads.map((a) => `0x${a.toString(16)}`).join(', ')}]))`;
      const mark = (name: string): string => `python print('@@${name}')`;
      const output = await gdbBatch(gdb.command, [
        mark('before'), ...SETTINGS,
        mark('loading'),
        `criu-load ${imagesDir(NAME)}`,
        mark('first'), readAll,
        mark('second'), readAll,
        mark('dcache'), 'info dcache',
        'add-inferior -no-connection', 'inferior 2', `file ${native}`, 'break main', 'run',
        mark('native-before'), 'print value', 'next', 'next',
        mark('native-after'), 'print value', 'kill', 'inferior 1',
        'criu-unload',
        mark('after'), ...SETTINGS,
        mark('end'),
      ]);
      const expected = reads.map((address) => truthBytes(NAME, live.pid, address, 24).toString('hex')).join(';');
      expect(section(output, 'first')).toBe(expected);
      expect(section(output, 'second')).toBe(expected);
      expect(section(output, 'dcache')).toMatch(/Dcache 4096 lines of 4096 bytes each/);
      expect(section(output, 'dcache')).toMatch(/Cache state: [1-9]\d* active lines/);
      expect(section(output, 'native-before')).toMatch(/^\$1 = 1$/m);
      expect(section(output, 'native-after')).toMatch(/^\$2 = 3$/m);
      expect(section(output, 'after')).toBe(section(output, 'before'));
      expect(section(output, 'before')).toMatch(/There are no memory regions defined/);
    });
  });
}
