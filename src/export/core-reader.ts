/**
 * Reads back the structure of an ELF64 little-endian core file: header, program headers (with extended
 * numbering), notes, and the CRIUGDB note. Reads only headers and the note segment, never segment data
 * unless asked.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CriuGdbError } from '../errors.js';
import { findCriuGdbInfo, type CriuGdbInfo } from './criugdb-note.js';
import { ELF_HEADER_SIZE, PN_XNUM, PROGRAM_HEADER_SIZE, PT_LOAD, PT_NOTE, SECTION_HEADER_SIZE, decodeNotes, type Note, type ProgramHeader } from './elf.js';

/** What {@link readCoreFile} finds. */
export interface CoreFile {
  machine: number;
  /** e_phnum as stored (PN_XNUM with extended numbering). */
  storedPhnum: number;
  /** The real number of program headers. */
  phnum: number;
  programHeaders: ProgramHeader[];
  notes: Note[];
  fileSize: bigint;
}

function readExact(fd: number, length: number, position: bigint, what: string): Buffer {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, Number(position) + done);
    if (n === 0) throw new CriuGdbError(`core file ends inside the ${what}`);
    done += n;
  }
  return out;
}

/** Parses the headers and notes of the core at `path`. */
export function readCoreFile(path: string): CoreFile {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd, { bigint: true }).size;
    const header = readExact(fd, ELF_HEADER_SIZE, 0n, 'ELF header');
    if (header.toString('latin1', 0, 4) !== '\x7fELF' || header[4] !== 2 || header[5] !== 1) throw new CriuGdbError(`${path}: not an ELF64 little-endian file`);
    if (header.readUInt16LE(16) !== 4) throw new CriuGdbError(`${path}: not a core file (e_type ${header.readUInt16LE(16)})`);
    const machine = header.readUInt16LE(18);
    const phoff = header.readBigUInt64LE(32);
    const shoff = header.readBigUInt64LE(40);
    const storedPhnum = header.readUInt16LE(56);
    let phnum = storedPhnum;
    if (storedPhnum === PN_XNUM) {
      if (shoff === 0n) throw new CriuGdbError(`${path}: e_phnum is PN_XNUM but there is no section header`);
      phnum = readExact(fd, SECTION_HEADER_SIZE, shoff, 'section header 0').readUInt32LE(44);
    }
    const table = readExact(fd, PROGRAM_HEADER_SIZE * phnum, phoff, 'program headers');
    const programHeaders: ProgramHeader[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = i * PROGRAM_HEADER_SIZE;
      programHeaders.push({
        type: table.readUInt32LE(at),
        flags: table.readUInt32LE(at + 4),
        offset: table.readBigUInt64LE(at + 8),
        vaddr: table.readBigUInt64LE(at + 16),
        filesz: table.readBigUInt64LE(at + 32),
        memsz: table.readBigUInt64LE(at + 40),
        align: table.readBigUInt64LE(at + 48),
      });
    }
    const notes: Note[] = [];
    for (const ph of programHeaders.filter((p) => p.type === PT_NOTE)) {
      notes.push(...decodeNotes(readExact(fd, Number(ph.filesz), ph.offset, 'note segment')));
    }
    return { machine, storedPhnum, phnum, programHeaders, notes, fileSize };
  } finally {
    closeSync(fd);
  }
}

/** The PT_LOAD headers of a core. */
export function loadSegments(core: CoreFile): ProgramHeader[] {
  return core.programHeaders.filter((p) => p.type === PT_LOAD);
}

/** The CRIUGDB note of the core at `path` (thread names, holes...), or undefined when it has none. */
export function readCriuGdbInfo(path: string): CriuGdbInfo | undefined {
  return findCriuGdbInfo(readCoreFile(path).notes);
}
