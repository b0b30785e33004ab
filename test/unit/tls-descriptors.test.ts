/**
 * The dynamic symbol lookup and libthread_db descriptor decoding behind qGetTLSAddr, on real objects: this
 * machine's libc.so.6 (the one this test runs on) and small libraries built with each hash-table style.
 * Symbols are checked against readelf; each decoded descriptor against the field's offset and size in
 * libc's debug info (libc6-dbg), read by gdb; the thread-area register against <sys/reg.h>.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LookupError, TlsError } from '../../src/errors.js';
import { DynamicSymbolTable, type ReadExact } from '../../src/model/dynamic-symbols.js';
import { DESCRIPTOR_SYMBOLS, decodeDescriptor, readThreadDbLayout, type DescriptorRole } from '../../src/model/tls.js';
import { REPO_ROOT } from '../helpers/checkpoints.js';

/** The libc.so.6 this process runs on. */
const LIBC = /\s(\/\S*\/libc\.so\.6)$/m.exec(readFileSync('/proc/self/maps', 'utf8'))?.[1] ?? '/lib/x86_64-linux-gnu/libc.so.6';

/** An object's bytes laid out at its link-time addresses, as the loader maps its PT_LOAD segments (bias 0). */
function fileAsMemory(path: string): ReadExact {
  const file = readFileSync(path);
  const phoff = Number(file.readBigUInt64LE(32));
  const segments: { vaddr: bigint; offset: number; filesz: bigint; memsz: bigint }[] = [];
  for (let i = 0; i < file.readUInt16LE(56); i++) {
    const ph = file.subarray(phoff + i * file.readUInt16LE(54));
    if (ph.readUInt32LE(0) !== 1) continue;
    segments.push({ offset: Number(ph.readBigUInt64LE(8)), vaddr: ph.readBigUInt64LE(16), filesz: ph.readBigUInt64LE(32), memsz: ph.readBigUInt64LE(40) });
  }
  return (address, length) => {
    const segment = segments.find((s) => s.vaddr <= address && address + BigInt(length) <= s.vaddr + s.memsz);
    if (!segment) throw new LookupError(`0x${address.toString(16)} is not mapped`);
    const out = Buffer.alloc(length);
    const from = Number(address - segment.vaddr);
    const available = Math.max(0, Math.min(length, Number(segment.filesz) - from));
    file.copy(out, 0, segment.offset + from, segment.offset + from + available);
    return out;
  };
}

/** readelf's defined dynamic symbols: name → value and size. */
function readelfSymbols(path: string): Map<string, { value: bigint; size: bigint; type: string }> {
  const out = execFileSync('readelf', ['--dyn-syms', '-W', path], { encoding: 'utf8' });
  const symbols = new Map<string, { value: bigint; size: bigint; type: string }>();
  for (const m of out.matchAll(/^\s*\d+:\s+([0-9a-f]+)\s+(\d+)\s+(\w+)\s+\w+\s+\w+\s+(\w+)\s+([^\s@]+)/gm)) {
    if (m[4] === 'UND') continue;
    symbols.set(m[5]!, { value: BigInt(`0x${m[1]}`), size: BigInt(m[2]!), type: m[3]! });
  }
  return symbols;
}

function loadTable(path: string): DynamicSymbolTable {
  const table = DynamicSymbolTable.load(fileAsMemory(path), 0n, path);
  if (!table) throw new Error(`${path}: no dynamic symbol table`);
  return table;
}

describe(`dynamic symbols of ${LIBC}`, () => {
  const table = loadTable(LIBC);
  const truth = readelfSymbols(LIBC);

  it('finds every libthread_db descriptor, and other symbols, where readelf says they are', () => {
    const names = [...truth.keys()].filter((name) => name.startsWith('_thread_db_'));
    expect(names.length).toBeGreaterThan(40);
    for (const name of [...names, 'malloc', 'pthread_create', '__nptl_rtld_global', '__libc_single_threaded']) {
      const symbol = table.lookup(name);
      const expected = truth.get(name);
      expect(symbol, name).toBeDefined();
      expect(symbol!.address, name).toBe(expected!.value);
      expect(symbol!.size, name).toBe(expected!.size);
    }
    // A thread-local symbol's value is its offset in the module's block, not an address.
    expect(table.lookup('errno')?.address).toBe(truth.get('errno')?.value);
    expect(table.lookup('errno')?.type).toBe(6);
  });

  it('finds no symbol that is not defined', () => {
    for (const name of ['_thread_db_no_such_descriptor', '', 'mallo', 'malloc_', '_rtld_global']) expect(table.lookup(name), name).toBeUndefined();
  });

  it('stops at a damaged GNU hash chain that never ends, with an error', () => {
    const gnu = BigInt(`0x${/\(GNU_HASH\)\s+0x([0-9a-f]+)/.exec(execFileSync('readelf', ['-dW', LIBC], { encoding: 'utf8' }))?.[1] ?? '0'}`);
    expect(gnu).toBeGreaterThan(0n);
    const read = fileAsMemory(LIBC);
    const header = read(gnu, 16);
    const chains = gnu + 16n + BigInt(header.readUInt32LE(8)) * 8n + BigInt(header.readUInt32LE(0)) * 4n;
    // Once the table is loaded, every word from the chains on is a hash that matches nothing, without the end-of-chain bit.
    let damage = false;
    const damaged: ReadExact = (address, length) => (damage && address >= chains ? Buffer.alloc(length, 0x02) : read(address, length));
    const table = DynamicSymbolTable.load(damaged, 0n, LIBC)!;
    damage = true;
    const started = Date.now();
    expect(() => table.lookup('malloc')).toThrow(/GNU hash chain of malloc does not end/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

const work = mkdtempSync(join(tmpdir(), 'criu-gdb-tls-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(['sysv', 'gnu', 'both'])('a library with --hash-style=%s', (style) => {
  it('finds each symbol where readelf says it is', () => {
    const library = join(work, `lib-${style}.so`);
    execFileSync('gcc', ['-shared', '-fPIC', `-Wl,--hash-style=${style}`, '-o', library, join(REPO_ROOT, 'test', 'programs', 'tls_values_lib.c')]);
    const table = loadTable(library);
    const truth = readelfSymbols(library);
    expect(truth.size).toBeGreaterThan(2);
    for (const [name, expected] of truth) {
      expect(table.lookup(name)?.address, name).toBe(expected.value);
    }
    expect(table.lookup('lib_tls_value')?.type).toBe(6);
    expect(table.lookup('lib_tls_missing')).toBeUndefined();
    expect(table.lookup('strncpy')).toBeUndefined(); // imported, not defined
  });
});

/** `p/d EXPRESSION` for each expression, in libc's debug info; undefined when gdb cannot evaluate them. */
function gdbValues(expressions: readonly string[]): number[] | undefined {
  const args = ['-nx', '-batch', '-iex', 'set debuginfod enabled off'];
  for (const expression of expressions) args.push('-ex', `p/d ${expression}`);
  let out: string;
  try {
    out = execFileSync('gdb', [...args, LIBC], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch {
    return undefined;
  }
  const values = [...out.matchAll(/^\$\d+ = (-?\d+)$/gm)].map((m) => Number(m[1]));
  return values.length === expressions.length ? values : undefined;
}

/** Each descriptor's field in libc's own types: the object's type and the field's path in it. */
const FIELDS: Record<DescriptorRole, { type: string; field?: string; elements?: string }> = {
  linkMapModid: { type: 'struct link_map', field: 'l_tls_modid' },
  linkMapTlsOffset: { type: 'struct link_map', field: 'l_tls_offset' },
  pthreadDtv: { type: 'struct pthread', field: 'header.dtv' },
  dtvEntries: { type: 'dtv_t', elements: 'dtv_t' },
  dtvCounter: { type: 'dtv_t', field: 'counter' },
  dtvPointer: { type: 'dtv_t', field: 'pointer.val' },
  rtldGlobalVariable: { type: 'struct rtld_global *', elements: 'struct rtld_global *' },
  rtldSlotinfoList: { type: 'struct rtld_global', field: '_dl_tls_dtv_slotinfo_list' },
  slotinfoListLength: { type: 'struct dtv_slotinfo_list', field: 'len' },
  slotinfoListNext: { type: 'struct dtv_slotinfo_list', field: 'next' },
  slotinfoListEntries: { type: 'struct dtv_slotinfo_list', field: 'slotinfo', elements: 'struct dtv_slotinfo' },
  slotinfoGeneration: { type: 'struct dtv_slotinfo', field: 'gen' },
  slotinfoMap: { type: 'struct dtv_slotinfo', field: 'map' },
};

describe(`libthread_db layout of ${LIBC}`, () => {
  const read = fileAsMemory(LIBC);
  const table = loadTable(LIBC);
  const layout = readThreadDbLayout(table, read, () => []);
  const roles = Object.keys(DESCRIPTOR_SYMBOLS) as DescriptorRole[];
  const expressions = roles.flatMap((role) => {
    const { type, field, elements } = FIELDS[role];
    const offset = field === undefined ? '0' : `(long)&((${type} *)0)->${field}`;
    const bits = elements !== undefined ? `8 * sizeof(${elements})` : `8 * sizeof(((${type} *)0)->${field})`;
    return [offset, bits];
  });
  const debugInfo = gdbValues(expressions);

  it.skipIf(debugInfo === undefined)('decodes each descriptor to the offset and size libc debug info gives the field', () => {
    expect(layout).toBeDefined();
    roles.forEach((role, i) => {
      const descriptor = layout!.descriptors[role];
      expect(descriptor.offset, `${DESCRIPTOR_SYMBOLS[role]} offset`).toBe(debugInfo![2 * i]);
      expect(descriptor.bits, `${DESCRIPTOR_SYMBOLS[role]} size in bits`).toBe(debugInfo![2 * i + 1]);
    });
    // Unbounded arrays have no element count; the dtv is bounded by a huge one; plain fields have one.
    expect(layout!.descriptors.slotinfoListEntries.count).toBe(0);
    expect(layout!.descriptors.dtvEntries.count).toBeGreaterThan(1 << 20);
    expect(layout!.descriptors.linkMapModid.count).toBe(1);
  });
  if (debugInfo === undefined) console.warn(`skipping the descriptor offsets test: gdb cannot read libc's debug info for ${LIBC} (install libc6-dbg)`);

  it('names the thread pointer register as <sys/reg.h> numbers FS', () => {
    const header = ['/usr/include/x86_64-linux-gnu/sys/reg.h', '/usr/include/sys/reg.h'].find((path) => existsSync(path));
    expect(header, 'sys/reg.h (libc6-dev)').toBeDefined();
    const fs = /^#\s*define\s+FS\s+(\d+)/m.exec(readFileSync(header!, 'utf8'))?.[1];
    expect(layout?.threadArea).toBe(Number(fs));
  });

  it('rejects descriptors it cannot read', () => {
    const words = (...values: number[]): Buffer => Buffer.from(new Uint32Array(values).buffer);
    expect(decodeDescriptor(words(64, 1, 8), 'x')).toEqual({ bits: 64, count: 1, offset: 8 });
    expect(decodeDescriptor(words(64, 1, 0xfffffff8), 'x').offset).toBe(-8);
    expect(() => decodeDescriptor(words(0, 1, 8), 'x')).toThrow(TlsError);
    expect(() => decodeDescriptor(words(0x40000000, 0x1000000, 0x8000000), 'x')).toThrow(/byte order/);
    expect(() => decodeDescriptor(Buffer.alloc(8), 'x')).toThrow(/not a 12-byte descriptor/);
  });
});
