/**
 * AArch64 checkpoints opened on this x86-64 machine, on images written by test/helpers/aarch64-images.ts
 * with known values (the real arm64 fixtures have their own tests): the page size comes from the saved
 * AT_PAGESZ (16 and 64 KiB pages read right), gdb-multiarch sees the registers, thread names and memory
 * through the stub with the architecture chosen by the target description, a gdb without aarch64 gets
 * one line naming gdb-multiarch, and an exported core opens in gdb-multiarch and lldb with the same values.
 *
 * Needs `npm run build` first (the plugin starts dist/). gdb-multiarch is installed by prepare-tests.sh.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/errors.js';
import { exportCoresSync } from '../../src/export/coredump.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { procFileContent } from '../../src/rsp/proc-files.js';
import { aarch64Checkpoint, stackByte, SYNTH_NAMES, SYNTH_PID, SYNTH_STACK, SYNTH_TIDS, synthRegisters } from '../helpers/aarch64-images.js';
import { image, imageDir } from '../helpers/build-image.js';
import { REPO_ROOT } from '../helpers/checkpoints.js';
import { PLUGIN } from '../helpers/gdb-session.js';
import { Magic } from '../../src/images/magic.js';

function hasCommand(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      return readdirSync(dir).includes(command);
    } catch {
      return false;
    }
  });
}

const multiarch = hasCommand('gdb-multiarch');
const lldb = hasCommand('lldb');
if (!multiarch) console.warn('skipping the gdb-multiarch tests: gdb-multiarch is not installed (test/setup/prepare-tests.sh installs it)');
if (!lldb) console.warn('skipping the lldb test: lldb is not installed');

const hex = (value: bigint | number): string => `0x${value.toString(16)}`;

/** `info registers` lines: name -> raw hex value. */
function registerLines(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(0x[0-9a-f]+)\s/.exec(line);
    if (m) found.set(m[1]!, m[2]!);
  }
  return found;
}

/** Checks the general, FP/SIMD and TLS registers gdb printed for thread `index` of the images. */
function expectRegisters(text: string, index: number): void {
  const r = synthRegisters(index);
  const lines = registerLines(text);
  r.x.forEach((value, n) => expect(lines.get(`x${n}`), `x${n}`).toBe(hex(value)));
  expect(lines.get('sp')).toBe(hex(r.sp));
  expect(lines.get('pc')).toBe(hex(r.pc));
  expect(lines.get('cpsr')).toBe(hex(r.pstate));
  expect(lines.get('fpsr')).toBe(hex(r.fpsr));
  expect(lines.get('fpcr')).toBe(hex(r.fpcr));
}

const pageSizes = [4096, 16384, 65536];
const dirs = new Map<number, string>();
let scratch: string;

beforeAll(() => {
  for (const size of pageSizes) dirs.set(size, aarch64Checkpoint(size));
  scratch = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'aarch64-test-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the page size comes from the checkpoint', () => {
  it.each(pageSizes)('reads %i-byte pages at the offsets the pagemap gives', async (size) => {
    const checkpoint = await Checkpoint.open(dirs.get(size)!);
    try {
      expect(checkpoint.pageSize).toBe(size);
      const process = checkpoint.process(SYNTH_PID);
      // The last bytes of the second page: a 4 KiB reading of a larger page would miss them.
      const offset = 2 * size - 16;
      const read = process.memory().read(SYNTH_STACK + BigInt(offset), 16);
      expect(read.unavailable).toEqual([]);
      expect([...read.data]).toEqual(Array.from({ length: 16 }, (_, i) => stackByte(offset + i)));
      const mapping = process.mappings()[0]!;
      expect(process.coverage(mapping).present).toBe(2);
    } finally {
      checkpoint.close();
    }
  });

  it.each(pageSizes)('shows gdb %i-byte pages in the synthesized /proc/PID/smaps', async (size) => {
    const checkpoint = await Checkpoint.open(dirs.get(size)!);
    try {
      const smaps = procFileContent(checkpoint.process(SYNTH_PID), 'smaps')!.toString();
      const kib = size / 1024;
      expect(smaps).toMatch(new RegExp(`^KernelPageSize:\\s+${kib} kB$`, 'm'));
      expect(smaps).toMatch(new RegExp(`^MMUPageSize:\\s+${kib} kB$`, 'm'));
      // Both pages of the stack are in the images.
      expect(smaps).toMatch(new RegExp(`^Rss:\\s+${2 * kib} kB$`, 'm'));
    } finally {
      checkpoint.close();
    }
  });

  it('refuses a saved page size that is not a power of two from 4 to 64 KiB', async () => {
    const dir = aarch64Checkpoint(16384);
    const mm = image(Magic.mm, [{ type: 'MmEntry', fields: { mm_start_code: 0, mm_end_code: 0, mm_start_data: 0, mm_end_data: 0, mm_start_stack: 0, mm_start_brk: 0, mm_brk: 0, mm_arg_start: 0, mm_arg_end: 0, mm_env_start: 0, mm_env_end: 0, exe_file_id: 0, mm_saved_auxv: ['6', '12288', '0', '0'] } }]);
    const files = Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name))]));
    const bad = imageDir({ ...files, [`mm-${SYNTH_PID}.img`]: mm });
    const checkpoint = await Checkpoint.open(bad);
    try {
      expect(() => checkpoint.pageSize).toThrow(CheckpointError);
      expect(() => checkpoint.pageSize).toThrow(/AT_PAGESZ\) 12288 is not a power of two from 4096 to 65536 bytes/);
    } finally {
      checkpoint.close();
    }
  });
});

describe.skipIf(!multiarch)('gdb-multiarch with criu-load on an aarch64 checkpoint', () => {
  it('chooses aarch64 from the target description and shows the saved registers, names and memory', { timeout: 180_000 }, async () => {
    const dir = dirs.get(16384)!;
    const word = SYNTH_STACK + 16384n + 0x20n;
    const result = await execa(
      'gdb-multiarch',
      ['-nx', '-batch', '-iex', 'set pagination off', '-iex', 'set width 0', '-iex', `source ${PLUGIN}`,
        '-ex', `criu-load ${dir}`, '-ex', 'show architecture', '-ex', 'info threads',
        '-ex', 'echo @@regs1\\n', '-ex', 'info registers', '-ex', 'p/x $tpidr', '-ex', 'p/x $v7.q.u[0]', '-ex', `x/1xg ${hex(word)}`,
        '-ex', 'thread 2', '-ex', 'echo @@regs2\\n', '-ex', 'info registers', '-ex', 'p/x $tpidr', '-ex', 'p/x $v7.q.u[0]'],
      { reject: false, timeout: 120_000 },
    );
    const out = result.stdout;
    expect(out, result.stderr).toContain('(currently "aarch64")');
    for (const [i, tid] of SYNTH_TIDS.entries()) expect(out).toMatch(new RegExp(`Thread ${SYNTH_PID}\\.${tid} "${SYNTH_NAMES[i]}"`));
    const [, first = '', second = ''] = out.split(/@@regs\d\n/);
    expectRegisters(first, 0);
    expectRegisters(second, 1);
    for (const [index, part] of [first, second].entries()) {
      const r = synthRegisters(index);
      const values = [...part.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => m[1]);
      expect(values[0]).toBe(hex(r.tls));
      expect(values[1]).toBe(hex(BigInt(`0x${Buffer.from(r.v[7]!).reverse().toString('hex')}`)));
    }
    const expected = Buffer.from(Array.from({ length: 8 }, (_, i) => stackByte(16384 + 0x20 + i))).readBigUInt64LE();
    expect(out).toMatch(new RegExp(`${hex(word)}:\\s+0x0*${expected.toString(16)}\\b`));
  });
});

/** Whether the system gdb was built without aarch64 (a native x86-64 gdb). */
async function systemGdbLacksAarch64(): Promise<boolean> {
  if (!hasCommand('gdb')) return false;
  const probe = await execa('gdb', ['-nx', '-batch', '-ex', 'python print("aarch64" in gdb.architecture_names())'], { reject: false });
  return probe.stdout.trim() === 'False';
}

describe('a gdb without aarch64', () => {
  it('says in one line to install gdb-multiarch', { timeout: 180_000 }, async (context) => {
    if (!(await systemGdbLacksAarch64())) {
      console.warn('skipping: the system gdb supports aarch64 (or is missing), so there is no gdb without it to try');
      context.skip();
    }
    const result = await execa('gdb', ['-nx', '-batch', '-iex', `source ${PLUGIN}`, '-ex', `criu-load ${dirs.get(4096)!}`, '-ex', 'info inferiors'], { reject: false, timeout: 120_000 });
    const lines = result.stderr.split('\n').filter((line) => line.includes('gdb-multiarch'));
    expect(lines).toEqual([`pid ${SYNTH_PID} is an aarch64 process and this gdb cannot debug aarch64 programs: install gdb-multiarch (apt install gdb-multiarch) and run criu-load from it`]);
    // Nothing was connected.
    expect(result.stdout).not.toMatch(/process \d+/);
  });
});

describe('exported aarch64 cores', () => {
  let core: string;
  beforeAll(async () => {
    const checkpoint = await Checkpoint.open(dirs.get(16384)!);
    try {
      const out = join(scratch, 'cores');
      const [report] = exportCoresSync(checkpoint, { outDir: out });
      core = report!.path;
    } finally {
      checkpoint.close();
    }
  });

  it.skipIf(!multiarch)('open in gdb-multiarch with the registers, threads and memory of the checkpoint', { timeout: 180_000 }, async () => {
    const word = SYNTH_STACK + 16384n + 0x20n;
    const result = await execa(
      'gdb-multiarch',
      ['-nx', '-batch', '-ex', `core-file ${core}`, '-ex', 'show architecture', '-ex', 'info threads', '-ex', 'echo @@regs1\\n', '-ex', 'info registers',
        '-ex', 'p/x $tpidr', '-ex', 'p/x $v7.q.u[0]', '-ex', `x/1xg ${hex(word)}`, '-ex', 'thread 2', '-ex', 'echo @@regs2\\n', '-ex', 'info registers', '-ex', 'p/x $tpidr', '-ex', 'p/x $v7.q.u[0]'],
      { reject: false, timeout: 120_000 },
    );
    const out = result.stdout;
    expect(out, result.stderr).toContain('(currently "aarch64")');
    // Threads in core order: the leader first (LWP ids from NT_PRSTATUS).
    expect(out).toMatch(new RegExp(`LWP ${SYNTH_TIDS[0]}`));
    expect(out).toMatch(new RegExp(`LWP ${SYNTH_TIDS[1]}`));
    const [, first = '', second = ''] = out.split(/@@regs\d\n/);
    const byThread = new Map<number, string>();
    // gdb numbers core threads in note order (leader = 1) but shows the most recent first; match by pc.
    for (const part of [first, second]) {
      const pc = registerLines(part).get('pc');
      const index = [0, 1].find((i) => hex(synthRegisters(i).pc) === pc);
      expect(index, `pc ${pc}`).toBeDefined();
      byThread.set(index!, part);
    }
    for (const [index, part] of byThread) {
      expectRegisters(part, index);
      const r = synthRegisters(index);
      const values = [...part.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => m[1]);
      expect(values[0]).toBe(hex(r.tls));
      expect(values[1]).toBe(hex(BigInt(`0x${Buffer.from(r.v[7]!).reverse().toString('hex')}`)));
    }
    const expected = Buffer.from(Array.from({ length: 8 }, (_, i) => stackByte(16384 + 0x20 + i))).readBigUInt64LE();
    expect(out).toMatch(new RegExp(`${hex(word)}:\\s+0x0*${expected.toString(16)}\\b`));
  });

  it.skipIf(!lldb)('open in lldb with the general and FP/SIMD registers of the leader', { timeout: 180_000 }, async () => {
    // lldb 14 does not read NT_ARM_TLS from cores (no tpidr register there); gdb-multiarch checks it above.
    const result = await execa('lldb', ['--no-lldbinit', '--batch', '-o', 'register read x0 x29 x30 sp pc cpsr fpsr fpcr v7', '--core', core], { reject: false, timeout: 120_000 });
    const out = result.stdout;
    const r = synthRegisters(0);
    const value = (name: string): string | undefined => new RegExp(`^\\s*${name} = (0x[0-9a-f]+|\\{[^}]*\\})`, 'm').exec(out)?.[1];
    expect(BigInt(value('x0') ?? '-1'), out + result.stderr).toBe(r.x[0]);
    // lldb shows x29 and x30 by their ABI names.
    expect(BigInt(value('fp')!)).toBe(r.x[29]);
    expect(BigInt(value('lr')!)).toBe(r.x[30]);
    expect(BigInt(value('sp')!)).toBe(r.sp);
    expect(BigInt(value('pc')!)).toBe(r.pc);
    expect(BigInt(value('cpsr')!)).toBe(r.pstate);
    expect(BigInt(value('fpsr')!)).toBe(BigInt(r.fpsr));
    expect(BigInt(value('fpcr')!)).toBe(BigInt(r.fpcr));
    const v7 = value('v7');
    expect(v7).toBe(`{${[...r.v[7]!].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ')}}`);
  });
});

describe('the CLI on an aarch64 checkpoint', () => {
  const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
  const cli = (...args: string[]) => execa('node', [CLI, ...args], { reject: false, timeout: 120_000 });

  it('lists, maps, summarizes, reads, searches and exports it', { timeout: 240_000 }, async () => {
    const dir = dirs.get(16384)!;
    const ps = await cli('ps', dir);
    expect(ps.stdout, ps.stderr).toMatch(new RegExp(`thread ${SYNTH_TIDS[1]} ${SYNTH_NAMES[1]}`));
    const info = JSON.parse((await cli('info', dir, '--json')).stdout) as { architecture: string; memory: { pageSize: number; pages: { present: number } } };
    expect(info).toMatchObject({ architecture: 'aarch64', memory: { pageSize: 16384, pages: { present: 2 } } });
    expect((await cli('info', dir)).stdout).toMatch(/^Architecture\s+aarch64, 16 KiB pages$/m);
    const maps = await cli('maps', dir);
    expect(maps.stdout).toMatch(new RegExp(`${SYNTH_STACK.toString(16)}-${(SYNTH_STACK + 32768n).toString(16)}\\s+rw-p`));
    const offset = 16384 + 100;
    const read = await cli('read', dir, hex(SYNTH_STACK + BigInt(offset)), '4');
    const bytes = Array.from({ length: 4 }, (_, i) => stackByte(offset + i).toString(16).padStart(2, '0')).join(' ');
    expect(read.stdout).toContain(bytes);
    const needle = Buffer.from(Array.from({ length: 6 }, (_, i) => stackByte(offset + i))).toString('hex');
    const search = await cli('search', dir, needle, '--hex');
    expect(search.stdout).toContain(hex(SYNTH_STACK + BigInt(offset)));
    const out = join(scratch, 'cli-cores');
    const dump = await cli('coredump', dir, '-o', out);
    expect(dump.exitCode, dump.stderr).toBe(0);
    expect(readdirSync(out)).toEqual([`core.${SYNTH_PID}`]);
  });

  it.skipIf(!multiarch)('starts gdb-multiarch for it from the launcher', { timeout: 180_000 }, async () => {
    const result = await execa('node', [CLI, dirs.get(4096)!, '--', '-batch', '-ex', 'show architecture'], { reject: false, timeout: 120_000, env: { CRIU_GDB_GDB: '' } });
    expect(result.stdout, result.stderr).toContain('(currently "aarch64")');
  });
});
