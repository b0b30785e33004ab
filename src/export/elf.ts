/**
 * ELF64 little-endian pieces of a Linux core file: the file header, program headers, the one section
 * header that extended numbering (PN_XNUM) needs, and notes. Pure encoders; the layout is decided by
 * core-writer.ts.
 *
 * Facts used (System V gABI and Linux's core format):
 * - a core is ET_CORE with no sections; PT_NOTE holds the notes, one PT_LOAD per dumped address range;
 * - when there are 0xffff (PN_XNUM) or more program headers, e_phnum is PN_XNUM and the real count is in
 *   sh_info of section header 0, which then must exist (e_shnum = 1, e_shentsize = 64);
 * - a note is namesz, descsz, type (32-bit each), then the name with its NUL, then the descriptor, each
 *   padded to 4 bytes (core notes use 4-byte alignment; p_align of PT_NOTE is 4).
 */

export const ELF_HEADER_SIZE = 64;
export const PROGRAM_HEADER_SIZE = 56;
export const SECTION_HEADER_SIZE = 64;

export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EV_CURRENT = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFOSABI_NONE = 0;

export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_NOTE = 4;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** e_phnum value meaning "the count is in section header 0's sh_info". */
export const PN_XNUM = 0xffff;
export const SHT_NULL = 0;
export const SHN_UNDEF = 0;

/** Note types of Linux cores (owner "CORE" unless said otherwise). */
export const NT = {
  PRSTATUS: 1,
  FPREGSET: 2,
  PRPSINFO: 3,
  AUXV: 6,
  SIGINFO: 0x53494749,
  FILE: 0x46494c45,
  /** Owner "LINUX". */
  X86_XSTATE: 0x202,
  /** Owner "LINUX": the user shadow-stack pointer (8 bytes). */
  X86_SHSTK: 0x204,
  /** Owner "LINUX": where each XSAVE component is in NT_X86_XSTATE (Linux 6.10+; gdb 15+ reads it). */
  X86_XSAVE_LAYOUT: 0x205,
  /** Owner "LINUX": AArch64 TPIDR_EL0 (8 bytes). */
  ARM_TLS: 0x401,
  /** Owner "LINUX": AArch64 pointer-authentication masks, data then instruction (2 x 8 bytes). */
  ARM_PAC_MASK: 0x406,
  /** Owner "LINUX": AArch64 pointer-authentication address keys APIA, APIB, APDA, APDB (4 x 16 bytes). */
  ARM_PACA_KEYS: 0x407,
  /** Owner "LINUX": AArch64 pointer-authentication generic key APGA (16 bytes). */
  ARM_PACG_KEYS: 0x408,
} as const;

/** What the ELF file header of a core needs. */
export interface ElfHeaderFields {
  machine: number;
  /** Real number of program headers; PN_XNUM is applied here when it is 0xffff or more. */
  phnum: number;
  phoff: bigint;
  /** Offset of the section header table (only with PN_XNUM), else 0. */
  shoff: bigint;
}

/** Whether `phnum` program headers need extended numbering. */
export function needsExtendedNumbering(phnum: number): boolean {
  return phnum >= PN_XNUM;
}

/** The 64-byte ELF header of a core file. */
export function encodeElfHeader(fields: ElfHeaderFields): Buffer {
  const out = Buffer.alloc(ELF_HEADER_SIZE);
  out.write('\x7fELF', 0, 'latin1');
  out[4] = ELFCLASS64;
  out[5] = ELFDATA2LSB;
  out[6] = EV_CURRENT;
  out[7] = ELFOSABI_NONE;
  out.writeUInt16LE(ET_CORE, 16);
  out.writeUInt16LE(fields.machine, 18);
  out.writeUInt32LE(EV_CURRENT, 20);
  out.writeBigUInt64LE(0n, 24); // e_entry
  out.writeBigUInt64LE(fields.phoff, 32);
  const extended = needsExtendedNumbering(fields.phnum);
  out.writeBigUInt64LE(extended ? fields.shoff : 0n, 40);
  out.writeUInt32LE(0, 48); // e_flags
  out.writeUInt16LE(ELF_HEADER_SIZE, 52);
  out.writeUInt16LE(PROGRAM_HEADER_SIZE, 54);
  out.writeUInt16LE(extended ? PN_XNUM : fields.phnum, 56);
  out.writeUInt16LE(extended ? SECTION_HEADER_SIZE : 0, 58);
  out.writeUInt16LE(extended ? 1 : 0, 60); // e_shnum
  out.writeUInt16LE(SHN_UNDEF, 62); // e_shstrndx
  return out;
}

/**
 * Section header 0 of a core with extended numbering: SHT_NULL, sh_info = the real program header count.
 * sh_size and sh_link stay 0 because e_shnum (1) and e_shstrndx (SHN_UNDEF) need no extension.
 */
export function encodeExtendedNumberingSection(phnum: number): Buffer {
  const out = Buffer.alloc(SECTION_HEADER_SIZE);
  out.writeUInt32LE(SHT_NULL, 4);
  out.writeUInt32LE(phnum, 44); // sh_info
  return out;
}

/** One program header. */
export interface ProgramHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/** Writes `header` as 56 bytes at `at` of `out`. */
export function writeProgramHeader(out: Buffer, at: number, header: ProgramHeader): void {
  out.writeUInt32LE(header.type, at);
  out.writeUInt32LE(header.flags, at + 4);
  out.writeBigUInt64LE(header.offset, at + 8);
  out.writeBigUInt64LE(header.vaddr, at + 16);
  out.writeBigUInt64LE(0n, at + 24); // p_paddr
  out.writeBigUInt64LE(header.filesz, at + 32);
  out.writeBigUInt64LE(header.memsz, at + 40);
  out.writeBigUInt64LE(header.align, at + 48);
}

/** p_flags of a mapping from its `rwxp` permissions. */
export function segmentFlags(perms: string): number {
  return (perms[0] === 'r' ? PF_R : 0) | (perms[1] === 'w' ? PF_W : 0) | (perms[2] === 'x' ? PF_X : 0);
}

/** A note before encoding. */
export interface Note {
  /** Owner, e.g. `CORE`, `LINUX`, `CRIUGDB` (written with its NUL). */
  name: string;
  type: number;
  desc: Buffer;
}

/** Rounds `value` up to a multiple of 4. */
export function align4(value: number): number {
  return (value + 3) & ~3;
}

/** Bytes the encoded note takes. */
export function noteSize(note: Note): number {
  return 12 + align4(Buffer.byteLength(note.name) + 1) + align4(note.desc.length);
}

/** Encodes one note with 4-byte padding of the name and the descriptor. */
export function encodeNote(note: Note): Buffer {
  const nameBytes = Buffer.byteLength(note.name) + 1;
  const out = Buffer.alloc(noteSize(note));
  out.writeUInt32LE(nameBytes, 0);
  out.writeUInt32LE(note.desc.length, 4);
  out.writeUInt32LE(note.type >>> 0, 8);
  out.write(note.name, 12, 'utf8');
  note.desc.copy(out, 12 + align4(nameBytes));
  return out;
}

/** Decodes a run of notes (a PT_NOTE segment's bytes). Throws on a note that runs past the end. */
export function decodeNotes(data: Buffer): Note[] {
  const notes: Note[] = [];
  let at = 0;
  while (at + 12 <= data.length) {
    const namesz = data.readUInt32LE(at);
    const descsz = data.readUInt32LE(at + 4);
    const type = data.readUInt32LE(at + 8);
    const nameStart = at + 12;
    const descStart = nameStart + align4(namesz);
    const end = descStart + align4(descsz);
    if (descStart + descsz > data.length) throw new Error(`note at offset ${at} runs past the end of the note segment`);
    const name = data.toString('utf8', nameStart, nameStart + Math.max(0, namesz - 1));
    notes.push({ name, type, desc: Buffer.from(data.subarray(descStart, descStart + descsz)) });
    at = end;
  }
  return notes;
}
