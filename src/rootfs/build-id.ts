import { readSync } from 'node:fs';

const NT_GNU_BUILD_ID = 3;
const PT_NOTE = 4;
/** Most program headers examined; real binaries have a few dozen. */
const MAX_PROGRAM_HEADERS = 512;
/** Largest PT_NOTE segment examined. */
const MAX_NOTE_BYTES = 64 * 1024;

/**
 * The GNU build-id of an ELF file (from its PT_NOTE segments), or undefined when the file is not a 64-bit
 * little-endian ELF or has no build-id. Reads only the headers and notes. The file is `size` bytes of `fd`
 * from `base` (a member of an archive), or the whole of `fd`.
 */
export function readBuildId(fd: number, base = 0, size = Number.MAX_SAFE_INTEGER): Buffer | undefined {
  const readAt = (position: number, length: number): Buffer => {
    const wanted = Math.max(0, Math.min(length, size - position));
    const buffer = Buffer.alloc(wanted);
    const n = wanted > 0 && position >= 0 ? readSync(fd, buffer, 0, wanted, base + position) : 0;
    return buffer.subarray(0, n);
  };
  const header = readAt(0, 64);
  if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  if (header[4] !== 2 || header[5] !== 1) return undefined; // ELFCLASS64, little-endian
  const phoff = Number(header.readBigUInt64LE(32));
  const phentsize = header.readUInt16LE(54);
  const phnum = Math.min(header.readUInt16LE(56), MAX_PROGRAM_HEADERS);
  if (phentsize < 56) return undefined;
  const table = readAt(phoff, phentsize * phnum);
  for (let i = 0; i + 1 <= phnum && (i + 1) * phentsize <= table.length; i++) {
    const ph = table.subarray(i * phentsize);
    if (ph.readUInt32LE(0) !== PT_NOTE) continue;
    const offset = Number(ph.readBigUInt64LE(8));
    const noteSize = Math.min(Number(ph.readBigUInt64LE(32)), MAX_NOTE_BYTES);
    const id = findBuildIdNote(readAt(offset, noteSize));
    if (id) return id;
  }
  return undefined;
}

function findBuildIdNote(notes: Buffer): Buffer | undefined {
  let at = 0;
  while (at + 12 <= notes.length) {
    const nameSize = notes.readUInt32LE(at);
    const descSize = notes.readUInt32LE(at + 4);
    const type = notes.readUInt32LE(at + 8);
    const nameStart = at + 12;
    const descStart = nameStart + align4(nameSize);
    const next = descStart + align4(descSize);
    if (next > notes.length || next <= at) return undefined;
    const name = notes.subarray(nameStart, nameStart + nameSize).toString('latin1');
    if (type === NT_GNU_BUILD_ID && name === 'GNU\0') return Buffer.from(notes.subarray(descStart, descStart + descSize));
    at = next;
  }
  return undefined;
}

function align4(value: number): number {
  return (value + 3) & ~3;
}
