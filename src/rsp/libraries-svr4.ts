/**
 * The `qXfer:libraries-svr4:read` document: the dynamic linker's list of loaded objects, read from the
 * checkpoint's memory in one go so that gdb does not walk the link_map chain with a round trip per field.
 *
 * The list starts at the r_debug structure that DT_DEBUG in the executable's dynamic section points to; the
 * executable's program headers come from the auxiliary vector (AT_PHDR, AT_PHNUM), and its load bias from
 * PT_PHDR. The first link_map entry is the executable itself (reported as `main-lm`); entries without a
 * name are left out. Anything that cannot be read makes the document undefined, and gdb then walks the
 * list itself. x86_64 (LP64, little-endian) layouts only.
 */
import type { AuxvEntry } from '../images/mm.js';
import { xmlAttribute } from './xml.js';

/** Reads the available bytes at an address (fewer, or none, where memory ends). */
export type MemoryRead = (address: bigint, length: number) => Buffer;

const AT_PHDR = 3n;
const AT_PHENT = 4n;
const AT_PHNUM = 5n;
const PT_DYNAMIC = 2;
const PT_PHDR = 6;
const DT_NULL = 0n;
const DT_DEBUG = 21n;
const ELF64_PHDR_SIZE = 56;
const ELF64_DYN_SIZE = 16;
/** Upper bounds that keep a corrupt checkpoint from making the walk long. */
const MAX_DYNAMIC_ENTRIES = 4096;
const MAX_OBJECTS = 65536;
const MAX_NAME = 4096;

function readWords(read: MemoryRead, address: bigint, count: number): bigint[] | undefined {
  const bytes = read(address, count * 8);
  if (bytes.length < count * 8) return undefined;
  return Array.from({ length: count }, (_, i) => bytes.readBigUInt64LE(i * 8));
}

function auxvValue(auxv: readonly AuxvEntry[], type: bigint): bigint | undefined {
  return auxv.find((entry) => entry.type === type)?.value;
}

/** The address of r_debug, from the executable's DT_DEBUG; undefined when there is none (static, or not yet set). */
export function findRDebug(read: MemoryRead, auxv: readonly AuxvEntry[]): bigint | undefined {
  const phdr = auxvValue(auxv, AT_PHDR);
  const phnum = Number(auxvValue(auxv, AT_PHNUM) ?? 0n);
  const phent = Number(auxvValue(auxv, AT_PHENT) ?? BigInt(ELF64_PHDR_SIZE));
  if (phdr === undefined || phnum <= 0 || phnum > 0xffff || phent !== ELF64_PHDR_SIZE) return undefined;
  const headers = read(phdr, phnum * phent);
  if (headers.length < phnum * phent) return undefined;
  let bias: bigint | undefined;
  let dynamic: { vaddr: bigint; size: bigint } | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = i * phent;
    const type = headers.readUInt32LE(at);
    const vaddr = headers.readBigUInt64LE(at + 16);
    if (type === PT_PHDR) bias = BigInt.asUintN(64, phdr - vaddr);
    if (type === PT_DYNAMIC) dynamic = { vaddr, size: headers.readBigUInt64LE(at + 40) };
  }
  if (bias === undefined || dynamic === undefined) return undefined;
  const count = Math.min(MAX_DYNAMIC_ENTRIES, Number(dynamic.size / BigInt(ELF64_DYN_SIZE)));
  const entries = read(BigInt.asUintN(64, bias + dynamic.vaddr), count * ELF64_DYN_SIZE);
  for (let at = 0; at + ELF64_DYN_SIZE <= entries.length; at += ELF64_DYN_SIZE) {
    const tag = entries.readBigInt64LE(at);
    if (tag === DT_NULL) break;
    if (tag === DT_DEBUG) {
      const value = entries.readBigUInt64LE(at + 8);
      return value === 0n ? undefined : value;
    }
  }
  return undefined;
}

/** A NUL-terminated string at `address` (latin1), or undefined when unreadable or unterminated. */
function readCString(read: MemoryRead, address: bigint): string | undefined {
  let text = '';
  let at = address;
  while (text.length < MAX_NAME) {
    // Never read past the current page at once: the string may end right before unmapped memory.
    const pageLeft = 4096 - Number(at % 4096n);
    const chunk = read(at, Math.min(256, pageLeft));
    if (chunk.length === 0) return undefined;
    const end = chunk.indexOf(0);
    if (end >= 0) return text + chunk.subarray(0, end).toString('latin1');
    text += chunk.toString('latin1');
    at += BigInt(chunk.length);
  }
  return undefined;
}

function hex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/** `start` and `prev` of an annex `start=ADDR;prev=ADDR;` (gdb's incremental reads); empty for the whole list. */
function parseAnnex(annex: string): { start?: bigint; prev?: bigint } | undefined {
  const result: { start?: bigint; prev?: bigint } = {};
  for (const part of annex.split(';')) {
    if (part === '') continue;
    const match = /^(start|prev)=([0-9a-fA-F]{1,16})$/.exec(part);
    if (!match) return undefined;
    result[match[1] as 'start' | 'prev'] = BigInt(`0x${match[2]}`);
  }
  return result;
}

/**
 * The library list document for `annex` (empty, or `start=...;prev=...`), or undefined when the list cannot
 * be read (gdb then reads it itself).
 */
export function librariesSvr4Document(read: MemoryRead, auxv: readonly AuxvEntry[], annex: string): string | undefined {
  const request = parseAnnex(annex);
  if (!request) return undefined;
  let lm: bigint;
  let previous: bigint;
  if (request.start !== undefined) {
    lm = request.start;
    previous = request.prev ?? 0n;
  } else {
    const rDebug = findRDebug(read, auxv);
    if (rDebug === undefined) return undefined;
    const map = readWords(read, rDebug + 8n, 1);
    if (!map) return undefined;
    lm = map[0]!;
    previous = 0n;
  }
  let header = '<library-list-svr4 version="1.0"';
  const libraries: string[] = [];
  for (let count = 0; lm !== 0n && count < MAX_OBJECTS; count++) {
    const fields = readWords(read, lm, 5);
    if (!fields) return undefined;
    const [lAddr, lName, lLd, lNext, lPrev] = fields as [bigint, bigint, bigint, bigint, bigint];
    // A chain that does not link back is corrupt: stop where it breaks, as the dynamic linker's reader would.
    if (lPrev !== previous) break;
    if (previous === 0n) header += ` main-lm="${hex(lm)}"`;
    else {
      const name = lName === 0n ? '' : readCString(read, lName);
      if (name === undefined) return undefined;
      if (name !== '') libraries.push(`<library name="${xmlAttribute(name)}" lm="${hex(lm)}" l_addr="${hex(lAddr)}" l_ld="${hex(lLd)}"/>`);
    }
    previous = lm;
    lm = lNext;
  }
  return `${header}>${libraries.join('')}</library-list-svr4>`;
}
