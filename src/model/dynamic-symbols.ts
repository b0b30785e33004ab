/**
 * The dynamic symbol table of an ELF object as it is loaded in a process: found from the ELF header at the
 * start of its first mapping, through PT_DYNAMIC, and looked up by name with the object's GNU or SysV hash
 * table, reading only the few bytes each step needs. 64-bit little-endian objects only.
 */
import { LookupError } from '../errors.js';

/** Reads `length` bytes at a virtual address, all of them, or throws (MemoryReader.readExact). */
export type ReadExact = (address: bigint, length: number) => Buffer;

/** A defined dynamic symbol: its run-time address and size. */
export interface DynamicSymbol {
  name: string;
  /** Run-time address (load bias applied); for a thread-local symbol (STT_TLS), its offset in the module's block. */
  address: bigint;
  size: bigint;
  /** ELF symbol type (STT_OBJECT 1, STT_FUNC 2, STT_TLS 6...). */
  type: number;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0n;
const DT_HASH = 4n;
const DT_STRTAB = 5n;
const DT_SYMTAB = 6n;
const DT_STRSZ = 10n;
const DT_SYMENT = 11n;
const DT_GNU_HASH = 0x6ffffef5n;
const SYMBOL_SIZE = 24;
const STT_TLS = 6;
const PAGE_MASK = 0xfffn;
/** Bounds that no real object reaches; they stop damaged tables from being walked forever. */
const MAX_PROGRAM_HEADERS = 512;
const MAX_DYNAMIC_ENTRIES = 4096;
const MAX_CHAIN_STEPS = 4096;
const MAX_NAME_BYTES = 4096;

/** The GNU hash of a symbol name (DT_GNU_HASH). */
export function gnuHash(name: Buffer): number {
  let hash = 5381;
  for (const byte of name) hash = (Math.imul(hash, 33) + byte) >>> 0;
  return hash;
}

/** The SysV ELF hash of a symbol name (DT_HASH). */
export function sysvHash(name: Buffer): number {
  let hash = 0;
  for (const byte of name) {
    hash = ((hash << 4) + byte) >>> 0;
    const high = hash & 0xf0000000;
    if (high !== 0) hash ^= high >>> 24;
    hash = (hash & ~high) >>> 0;
  }
  return hash;
}

/** The dynamic symbol table of one loaded ELF object. */
export class DynamicSymbolTable {
  private constructor(
    /** Path of the object, for messages. */
    readonly label: string,
    /** What its virtual addresses are moved by (0 for a non-PIE executable). */
    readonly loadBias: bigint,
    private readonly read: ReadExact,
    private readonly symtab: bigint,
    private readonly strtab: bigint,
    private readonly strsz: bigint,
    private readonly gnuHashTable: bigint | undefined,
    private readonly sysvHashTable: bigint | undefined,
  ) {}

  /**
   * The table of the object whose first mapping (file offset 0) starts at `start`. Undefined when those bytes
   * are not a 64-bit little-endian ELF header, or the object has no dynamic symbol table. Throws a
   * LookupError when the memory it needs is unavailable.
   */
  static load(read: ReadExact, start: bigint, label: string): DynamicSymbolTable | undefined {
    const header = read(start, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return undefined;
    const phoff = header.readBigUInt64LE(32);
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    if (phentsize < 56 || phnum === 0 || phnum > MAX_PROGRAM_HEADERS) return undefined;
    const table = read(start + phoff, phentsize * phnum);
    let firstLoad: bigint | undefined;
    let dynamic: { vaddr: bigint; size: bigint } | undefined;
    for (let i = 0; i < phnum; i++) {
      const ph = table.subarray(i * phentsize);
      const type = ph.readUInt32LE(0);
      if (type === PT_LOAD && firstLoad === undefined && ph.readBigUInt64LE(8) === 0n) firstLoad = ph.readBigUInt64LE(16) & ~PAGE_MASK;
      if (type === PT_DYNAMIC) dynamic = { vaddr: ph.readBigUInt64LE(16), size: ph.readBigUInt64LE(40) };
    }
    if (firstLoad === undefined || dynamic === undefined) return undefined;
    const bias = start - firstLoad;
    const entries = Math.min(Number(dynamic.size / 16n), MAX_DYNAMIC_ENTRIES);
    const bytes = read(dynamic.vaddr + bias, entries * 16);
    const values = new Map<bigint, bigint>();
    for (let i = 0; i < entries; i++) {
      const tag = bytes.readBigInt64LE(i * 16);
      if (tag === DT_NULL) break;
      if (!values.has(tag)) values.set(tag, bytes.readBigUInt64LE(i * 16 + 8));
    }
    // The dynamic linker rewrites the address entries of a loaded object to run-time addresses on most
    // architectures (x86_64 included); an entry still below the bias is a link-time address.
    const address = (tag: bigint): bigint | undefined => {
      const value = values.get(tag);
      if (value === undefined) return undefined;
      return value < bias ? value + bias : value;
    };
    const symtab = address(DT_SYMTAB);
    const strtab = address(DT_STRTAB);
    const strsz = values.get(DT_STRSZ);
    const syment = values.get(DT_SYMENT) ?? BigInt(SYMBOL_SIZE);
    const gnu = address(DT_GNU_HASH);
    const sysv = address(DT_HASH);
    if (symtab === undefined || strtab === undefined || strsz === undefined || syment !== BigInt(SYMBOL_SIZE)) return undefined;
    if (gnu === undefined && sysv === undefined) return undefined;
    return new DynamicSymbolTable(label, bias, read, symtab, strtab, strsz, gnu, sysv);
  }

  /** The defined symbol called `name`, or undefined. Throws a LookupError when the table's memory is unavailable. */
  lookup(name: string): DynamicSymbol | undefined {
    const wanted = Buffer.from(name, 'latin1');
    if (this.gnuHashTable !== undefined) return this.lookupGnu(this.gnuHashTable, wanted, name);
    if (this.sysvHashTable !== undefined) return this.lookupSysv(this.sysvHashTable, wanted, name);
    return undefined;
  }

  private lookupGnu(table: bigint, wanted: Buffer, name: string): DynamicSymbol | undefined {
    const header = this.read(table, 16);
    const buckets = header.readUInt32LE(0);
    const symoffset = header.readUInt32LE(4);
    const bloomWords = header.readUInt32LE(8);
    if (buckets === 0) return undefined;
    const hash = gnuHash(wanted);
    const bucketsAt = table + 16n + BigInt(bloomWords) * 8n;
    let index = this.read(bucketsAt + BigInt((hash % buckets) * 4), 4).readUInt32LE(0);
    if (index === 0 || index < symoffset) return undefined;
    const chainAt = bucketsAt + BigInt(buckets) * 4n;
    for (let step = 0; step < MAX_CHAIN_STEPS; step++, index++) {
      const chain = this.read(chainAt + BigInt(index - symoffset) * 4n, 4).readUInt32LE(0);
      if ((chain | 1) === (hash | 1)) {
        const symbol = this.symbolIfNamed(index, wanted, name);
        if (symbol) return symbol;
      }
      if (chain & 1) return undefined;
    }
    throw new LookupError(`${this.label}: the GNU hash chain of ${name} does not end`);
  }

  private lookupSysv(table: bigint, wanted: Buffer, name: string): DynamicSymbol | undefined {
    const header = this.read(table, 8);
    const buckets = header.readUInt32LE(0);
    const chains = header.readUInt32LE(4);
    if (buckets === 0) return undefined;
    let index = this.read(table + 8n + BigInt((sysvHash(wanted) % buckets) * 4), 4).readUInt32LE(0);
    const chainAt = table + 8n + BigInt(buckets) * 4n;
    for (let step = 0; index !== 0; step++) {
      if (step >= MAX_CHAIN_STEPS) throw new LookupError(`${this.label}: the SysV hash chain of ${name} does not end`);
      if (index >= chains) return undefined;
      const symbol = this.symbolIfNamed(index, wanted, name);
      if (symbol) return symbol;
      index = this.read(chainAt + BigInt(index) * 4n, 4).readUInt32LE(0);
    }
    return undefined;
  }

  /** Symbol `index` when it is defined and called `wanted`. */
  private symbolIfNamed(index: number, wanted: Buffer, name: string): DynamicSymbol | undefined {
    const entry = this.read(this.symtab + BigInt(index) * BigInt(SYMBOL_SIZE), SYMBOL_SIZE);
    const nameOffset = BigInt(entry.readUInt32LE(0));
    const sectionIndex = entry.readUInt16LE(6);
    if (sectionIndex === 0 || wanted.length >= MAX_NAME_BYTES) return undefined;
    const length = BigInt(wanted.length + 1);
    if (nameOffset + length > this.strsz) return undefined;
    const stored = this.read(this.strtab + nameOffset, wanted.length + 1);
    if (stored[wanted.length] !== 0 || !stored.subarray(0, wanted.length).equals(wanted)) return undefined;
    const type = entry[4]! & 0xf;
    const value = entry.readBigUInt64LE(8);
    const address = type === STT_TLS ? value : value + this.loadBias;
    return { name, address, size: entry.readBigUInt64LE(16), type };
  }
}
