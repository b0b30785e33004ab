/**
 * Thread-local storage of a checkpointed glibc process, located as libthread_db's `td_thr_tls_get_addr`
 * locates it, from the process's own memory.
 *
 * glibc (2.34 and later, in libc.so.6) exports the layout of its private structures as `_thread_db_*`
 * dynamic symbols: each field descriptor is three 32-bit words (size in bits, element count, offset), and
 * `_thread_db_const_thread_area` names the register that holds the thread pointer. With them:
 *   link map → `l_tls_modid`; thread pointer → `struct pthread` → its dtv; the dynamic linker's slotinfo list
 *   → the generation that module needs. When the thread's dtv is that recent and its slot for the module
 *   holds a pointer, that is the block; otherwise a module with static TLS (`l_tls_offset`) has its block
 *   at thread pointer − offset (x86_64 keeps the TCB at the thread pointer); otherwise the thread never
 *   allocated the block, and that is an error, never a guessed address.
 */
import { LookupError, TlsError } from '../errors.js';
import { DynamicSymbolTable, type ReadExact } from './dynamic-symbols.js';
import type { ProcessModel } from './process.js';

/** A libthread_db field descriptor: the field's size in bits, its element count (0: unbounded) and offset. */
export interface FieldDescriptor {
  bits: number;
  count: number;
  offset: number;
}

/** The `_thread_db_*` descriptors the lookup reads, by role. */
export const DESCRIPTOR_SYMBOLS = {
  linkMapModid: '_thread_db_link_map_l_tls_modid',
  linkMapTlsOffset: '_thread_db_link_map_l_tls_offset',
  pthreadDtv: '_thread_db_pthread_dtvp',
  dtvEntries: '_thread_db_dtv_dtv',
  dtvCounter: '_thread_db_dtv_t_counter',
  dtvPointer: '_thread_db_dtv_t_pointer_val',
  rtldGlobalVariable: '_thread_db___nptl_rtld_global',
  rtldSlotinfoList: '_thread_db_rtld_global__dl_tls_dtv_slotinfo_list',
  slotinfoListLength: '_thread_db_dtv_slotinfo_list_len',
  slotinfoListNext: '_thread_db_dtv_slotinfo_list_next',
  slotinfoListEntries: '_thread_db_dtv_slotinfo_list_slotinfo',
  slotinfoGeneration: '_thread_db_dtv_slotinfo_gen',
  slotinfoMap: '_thread_db_dtv_slotinfo_map',
} as const;

export type DescriptorRole = keyof typeof DESCRIPTOR_SYMBOLS;

/** The symbol whose 32-bit value is the ps_get_thread_area index of the thread pointer's register. */
export const THREAD_AREA_SYMBOL = '_thread_db_const_thread_area';

/** libc's pointer to the dynamic linker's `_rtld_global` (glibc 2.34 and later). */
const RTLD_GLOBAL_POINTER = '__nptl_rtld_global';
/** The dynamic linker's own symbol, for a libc without that pointer. */
const RTLD_GLOBAL = '_rtld_global';

/** ps_get_thread_area indexes on x86_64 (sys/reg.h): the thread pointer is the base of FS or GS. */
const THREAD_AREA_FS = 25;
const THREAD_AREA_GS = 26;

/** `l_tls_offset` values that mean "no static TLS block" (NO_TLS_OFFSET, FORCED_DYNAMIC_TLS_OFFSET). */
const NO_TLS_OFFSET = 0n;
const FORCED_DYNAMIC_TLS_OFFSET = -1n;

/** Longest module path read for a message. */
const MAX_MODULE_NAME = 4096;

/** Most slotinfo list entries walked (each holds 64 or more modules). */
const MAX_SLOTINFO_LISTS = 4096;

/** Decodes a 12-byte descriptor as libc stores it (native byte order). */
export function decodeDescriptor(bytes: Buffer, name: string): FieldDescriptor {
  if (bytes.length < 12) throw new TlsError('bad-descriptor', `${name} is ${bytes.length} bytes, not a 12-byte descriptor`);
  const bits = bytes.readUInt32LE(0);
  if (bits === 0 || (bits & 0xff000000) !== 0) {
    throw new TlsError('bad-descriptor', `${name} has a size of ${bits} bits (a libc of another byte order?)`);
  }
  return { bits, count: bytes.readUInt32LE(4), offset: bytes.readInt32LE(8) };
}

/** The layout of one glibc, read from the descriptors its libc exports. */
export interface ThreadDbLayout {
  /** The object that exports the descriptors (libc.so.6). */
  library: string;
  descriptors: Record<DescriptorRole, FieldDescriptor>;
  /** ps_get_thread_area index of the thread pointer's register. */
  threadArea: number;
  /** Address of the dynamic linker's `_rtld_global`. */
  rtldGlobal: bigint;
}

/** The libthread_db layout of the glibc whose symbol table is `table`; undefined when it has no descriptors. */
export function readThreadDbLayout(table: DynamicSymbolTable, read: ReadExact, otherTables: () => Iterable<DynamicSymbolTable>): ThreadDbLayout | undefined {
  const first = table.lookup(DESCRIPTOR_SYMBOLS.linkMapModid);
  if (!first) return undefined;
  const descriptors = {} as Record<DescriptorRole, FieldDescriptor>;
  for (const [role, name] of Object.entries(DESCRIPTOR_SYMBOLS) as [DescriptorRole, string][]) {
    const symbol = table.lookup(name);
    if (!symbol) throw new TlsError('no-descriptors', `${table.label} exports some libthread_db descriptors but not ${name}`);
    descriptors[role] = decodeDescriptor(read(symbol.address, 12), name);
  }
  const area = table.lookup(THREAD_AREA_SYMBOL);
  if (!area) throw new TlsError('no-descriptors', `${table.label} does not say which register holds the thread pointer (${THREAD_AREA_SYMBOL})`);
  const threadArea = read(area.address, 4).readUInt32LE(0);
  const layout: Omit<ThreadDbLayout, 'rtldGlobal'> = { library: table.label, descriptors, threadArea };
  const pointer = table.lookup(RTLD_GLOBAL_POINTER);
  if (pointer) return { ...layout, rtldGlobal: fetch(read, descriptors.rtldGlobalVariable, RTLD_GLOBAL_POINTER, pointer.address, 0n) };
  for (const other of [table, ...otherTables()]) {
    const rtld = other.lookup(RTLD_GLOBAL);
    if (rtld) return { ...layout, rtldGlobal: rtld.address };
  }
  throw new TlsError('no-descriptors', `neither ${RTLD_GLOBAL_POINTER} nor the dynamic linker's ${RTLD_GLOBAL} is exported, so the TLS modules are unknown`);
}

/** Address of element `index` of the field `descriptor` describes, in the object at `base`. */
function fieldAddress(descriptor: FieldDescriptor, name: string, base: bigint, index: bigint): bigint {
  if (index !== 0n && descriptor.count !== 0 && index >= BigInt(descriptor.count)) {
    throw new TlsError('unreadable', `index ${index} is beyond the ${descriptor.count} elements of ${name}`);
  }
  return BigInt.asUintN(64, base + BigInt(descriptor.offset) + BigInt(descriptor.bits / 8) * index);
}

/** Reads the value of element `index` of a field (8, 16, 32 or 64 bits, unsigned). */
function fetch(read: ReadExact, descriptor: FieldDescriptor, name: string, base: bigint, index: bigint): bigint {
  const at = fieldAddress(descriptor, name, base, index);
  switch (descriptor.bits) {
    case 8:
      return BigInt(read(at, 1).readUInt8(0));
    case 16:
      return BigInt(read(at, 2).readUInt16LE(0));
    case 32:
      return BigInt(read(at, 4).readUInt32LE(0));
    case 64:
      return read(at, 8).readBigUInt64LE(0);
    default:
      throw new TlsError('bad-descriptor', `${name} is a ${descriptor.bits}-bit field, not a value`);
  }
}

function hex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/** Locates thread-local variables of one checkpointed process. */
export class ThreadLocalStorage {
  private layoutResult: { layout: ThreadDbLayout } | { error: TlsError } | undefined;
  private readonly tables = new Map<bigint, DynamicSymbolTable | undefined>();

  constructor(private readonly process: ProcessModel) {}

  private readonly read: ReadExact = (address, length) => this.process.memory().readExact(address, length);

  /**
   * Address of the variable at `offset` in the TLS block of the module whose link map is at `linkMap`, for
   * thread `tid` (qGetTLSAddr). Throws a TlsError, with a one-line message, when it cannot be located.
   */
  address(tid: number, linkMap: bigint, offset: bigint): bigint {
    const layout = this.layout();
    const base = this.withUnreadable(`thread ${tid}`, () => this.blockAddress(layout, tid, linkMap));
    return BigInt.asUintN(64, base + offset);
  }

  /** The glibc layout, found once (or the reason there is none). */
  layout(): ThreadDbLayout {
    this.layoutResult ??= this.findLayout();
    if ('error' in this.layoutResult) throw this.layoutResult.error;
    return this.layoutResult.layout;
  }

  private findLayout(): { layout: ThreadDbLayout } | { error: TlsError } {
    let libcProblem: string | undefined;
    for (const object of this.loadedObjects()) {
      try {
        const table = this.table(object.start, object.name);
        if (!table) continue;
        const layout = readThreadDbLayout(table, this.read, () => this.allTables());
        if (layout) return { layout };
      } catch (error) {
        if (error instanceof TlsError) return { error };
        if (!(error instanceof LookupError)) throw error;
        if (object.isLibc) libcProblem ??= `${object.name}: ${error.message}`;
      }
    }
    if (libcProblem !== undefined) {
      return { error: new TlsError('unreadable', `libc's libthread_db layout descriptors cannot be read from the checkpoint (${libcProblem})`) };
    }
    return {
      error: new TlsError(
        'no-descriptors',
        `no loaded library exports libthread_db's layout descriptors (glibc 2.34 and later has them in libc.so.6; musl and static programs do not)`,
      ),
    };
  }

  /** ELF objects mapped from offset 0 of a file, libc first, each once. */
  private loadedObjects(): { start: bigint; name: string; isLibc: boolean }[] {
    const seen = new Set<string>();
    const objects: { start: bigint; name: string; isLibc: boolean }[] = [];
    for (const mapping of this.process.mappings()) {
      if (mapping.kind !== 'file-private' || mapping.offset !== 0n || seen.has(mapping.name)) continue;
      seen.add(mapping.name);
      objects.push({ start: mapping.start, name: mapping.name, isLibc: /(^|\/)libc\.so(\.|$)/.test(mapping.name) });
    }
    return [...objects.filter((o) => o.isLibc), ...objects.filter((o) => !o.isLibc)];
  }

  private table(start: bigint, name: string): DynamicSymbolTable | undefined {
    if (!this.tables.has(start)) this.tables.set(start, DynamicSymbolTable.load(this.read, start, name));
    return this.tables.get(start);
  }

  /** Every loaded object's table that can be read. */
  private *allTables(): Iterable<DynamicSymbolTable> {
    for (const object of this.loadedObjects()) {
      let table: DynamicSymbolTable | undefined;
      try {
        table = this.table(object.start, object.name);
      } catch (error) {
        if (!(error instanceof LookupError)) throw error;
      }
      if (table) yield table;
    }
  }

  /** Turns a memory gap met on the way into a TlsError that says what was being read. */
  private withUnreadable<T>(what: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      if (error instanceof TlsError || !(error instanceof LookupError)) throw error;
      throw new TlsError('unreadable', `cannot locate the thread-local storage of ${what}: ${error.message}`);
    }
  }

  /** The thread pointer of `tid`, from the register libc names. */
  private threadPointer(layout: ThreadDbLayout, tid: number): bigint {
    const live = this.process.liveRegisters(tid);
    if (!live) throw new TlsError('no-thread-pointer', `thread ${tid} has no saved registers, so its thread pointer is unknown`);
    const registers = live.registers;
    if (registers.arch !== 'x86_64') throw new TlsError('bad-descriptor', `thread-local storage of ${registers.arch} processes is not located by criu-gdb yet (gdb 17 and later locate it themselves)`);
    const { gp } = registers;
    let pointer: bigint;
    if (layout.threadArea === THREAD_AREA_FS) pointer = gp.fsBase;
    else if (layout.threadArea === THREAD_AREA_GS) pointer = gp.gsBase;
    else throw new TlsError('bad-descriptor', `${layout.library} keeps the thread pointer in thread area ${layout.threadArea}, which is not fs or gs`);
    if (pointer === 0n) throw new TlsError('no-thread-pointer', `thread ${tid} has no thread pointer yet`);
    return pointer;
  }

  private blockAddress(layout: ThreadDbLayout, tid: number, linkMap: bigint): bigint {
    const d = layout.descriptors;
    const S = DESCRIPTOR_SYMBOLS;
    const read = this.read;
    const modid = fetch(read, d.linkMapModid, S.linkMapModid, linkMap, 0n);
    if (modid === 0n) throw new TlsError('no-tls', `the module of link map ${hex(linkMap)} has no thread-local storage`);
    const threadPointer = this.threadPointer(layout, tid);

    // The dynamic linker's slotinfo entry for the module: which link map it is, and the dtv generation it needs.
    let list = fetch(read, d.rtldSlotinfoList, S.rtldSlotinfoList, layout.rtldGlobal, 0n);
    let first = 0n;
    for (let steps = 0; list !== 0n; steps++) {
      if (steps >= MAX_SLOTINFO_LISTS) throw new TlsError('unreadable', `the dynamic linker's TLS slotinfo list does not end`);
      const length = fetch(read, d.slotinfoListLength, S.slotinfoListLength, list, 0n);
      if (modid < first + length) break;
      first += length;
      list = fetch(read, d.slotinfoListNext, S.slotinfoListNext, list, 0n);
    }
    if (list === 0n) throw new TlsError('unreadable', `TLS module ${modid} is not in the dynamic linker's slotinfo list`);
    const slot = fieldAddress(d.slotinfoListEntries, S.slotinfoListEntries, list, modid - first);
    const map = fetch(read, d.slotinfoMap, S.slotinfoMap, slot, 0n);
    if (map === 0n) throw new TlsError('not-allocated', `TLS module ${modid} has been unloaded`);
    const generation = fetch(read, d.slotinfoGeneration, S.slotinfoGeneration, slot, 0n);

    const dtv = fetch(read, d.pthreadDtv, S.pthreadDtv, threadPointer, 0n);
    const dtvGeneration = fetch(read, d.dtvCounter, S.dtvCounter, fieldAddress(d.dtvEntries, S.dtvEntries, dtv, 0n), 0n);
    if (dtvGeneration >= generation) {
      const block = fetch(read, d.dtvPointer, S.dtvPointer, fieldAddress(d.dtvEntries, S.dtvEntries, dtv, modid), 0n);
      // TLS_DTV_UNALLOCATED is -1; glibc marks every unallocated slot with the low bit.
      if ((block & 1n) === 0n && block !== 0n) return block;
    }
    const staticOffset = BigInt.asIntN(64, fetch(read, d.linkMapTlsOffset, S.linkMapTlsOffset, map, 0n));
    if (staticOffset !== NO_TLS_OFFSET && staticOffset !== FORCED_DYNAMIC_TLS_OFFSET) return BigInt.asUintN(64, threadPointer - staticOffset);
    throw new TlsError('not-allocated', `thread ${tid} has not allocated its thread-local storage of ${this.moduleName(map, modid)} yet`);
  }

  /**
   * The path of the module whose link map is at `map`, from `l_name` (the second word of the public part of
   * `struct link_map`, <link.h>), for messages; `TLS module N` when it cannot be read.
   */
  private moduleName(map: bigint, modid: bigint): string {
    const fallback = `TLS module ${modid}`;
    try {
      const memory = this.process.memory();
      const name = memory.readAvailable(memory.readExact(map + 8n, 8).readBigUInt64LE(0), MAX_MODULE_NAME);
      const end = name.indexOf(0);
      if (end < 0) return fallback;
      return end === 0 ? `the executable (${fallback})` : `${name.subarray(0, end).toString('utf8')} (${fallback})`;
    } catch (error) {
      if (error instanceof LookupError) return fallback;
      throw error;
    }
  }
}
