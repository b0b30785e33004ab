/**
 * Framing of gdb's remote serial protocol: `$payload#cs` packets, `+`/`-` acknowledgements, the `^C`
 * interrupt byte, and the binary escape (`}` then byte XOR 0x20) used by binary payloads.
 */

/** Largest packet accepted from gdb; longer ones are discarded and answered with an error. */
export const MAX_INCOMING_PACKET = 1 << 20;

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** What the decoder found in the byte stream. */
export type Incoming =
  | { type: 'packet'; payload: Buffer }
  | { type: 'bad-checksum'; payload: Buffer }
  | { type: 'oversized' }
  | { type: 'ack' }
  | { type: 'nack' }
  | { type: 'interrupt' };

/** Modulo-256 sum of the bytes, as two hex digits. */
export function checksum(data: Buffer): string {
  return sumBytes(data, 0, data.length).toString(16).padStart(2, '0');
}

function sumBytes(data: Buffer, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += data[i]!;
  return sum & 0xff;
}

/** Frames a payload as `$payload#cs`. */
export function framePacket(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const out = Buffer.allocUnsafe(body.length + 4);
  out[0] = 0x24; // '$'
  body.copy(out, 1);
  return closeFrame(out, body.length + 1);
}

/** Writes `#` and the checksum of out[1, end) at `end`; returns the framed packet. */
function closeFrame(out: Buffer, end: number): Buffer {
  const sum = sumBytes(out, 1, end);
  out[end] = 0x23; // '#'
  out[end + 1] = HEX_DIGITS[sum >> 4]!;
  out[end + 2] = HEX_DIGITS[sum & 15]!;
  return out.subarray(0, end + 3);
}

/** A reply already framed as `$payload#cs`, sent as it is. */
export class FramedPacket {
  constructor(readonly bytes: Buffer) {}
}

/**
 * The framed reply to a memory read, built in one allocation: `m` replies are hex digits, `x` replies `b`
 * and the binary bytes; both run-length encoded.
 */
export function memoryReply(data: Buffer, encoding: 'hex' | 'binary'): FramedPacket {
  const out = Buffer.allocUnsafe(data.length * 2 + 5);
  out[0] = 0x24; // '$'
  let end: number;
  if (encoding === 'hex') end = putHexRuns(out, 1, data);
  else {
    out[1] = 0x62; // 'b'
    end = putBinaryRuns(out, 2, data);
  }
  return new FramedPacket(closeFrame(out, end));
}

/**
 * Writes `run` copies of `char` at `out[at]`, run-length encoded: a run becomes the character, `*`, and
 * 29 + the number of extra repeats. Counts that would encode as `#` or `$` are avoided. Returns the new end.
 */
function putRun(out: Buffer, at: number, char: number, run: number): number {
  while (run > 0) {
    let repeats = run - 1 > 97 ? 97 : run - 1;
    if (repeats === 6 || repeats === 7) repeats = 5;
    if (repeats >= 3) {
      out[at++] = char;
      out[at++] = 0x2a; // '*'
      out[at++] = 29 + repeats;
      run -= repeats + 1;
    } else {
      for (; run > 0; run--) out[at++] = char;
    }
  }
  return at;
}

/**
 * Run-length encodes `count` printable characters given by `charAt`. One pass, one allocation (the output
 * is never longer than the input).
 */
function encodeRuns(count: number, charAt: (index: number) => number): Buffer {
  const out = Buffer.allocUnsafe(count);
  let length = 0;
  let i = 0;
  while (i < count) {
    const char = charAt(i);
    let run = 1;
    while (i + run < count && charAt(i + run) === char) run++;
    i += run;
    length = putRun(out, length, char, run);
  }
  return out.subarray(0, length);
}

/**
 * Run-length encodes a reply made of printable characters (register replies). gdb decodes it for free and
 * processes far fewer bytes for zeros.
 */
export function runLengthEncode(text: Buffer): Buffer {
  return encodeRuns(text.length, (i) => text[i]!);
}

/**
 * Hex-encodes memory and run-length encodes the digits in one pass: the reply to an `m` packet.
 * Equivalent to `runLengthEncode(Buffer.from(data.toString('hex')))`.
 */
export function hexRunLength(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length * 2);
  return out.subarray(0, putHexRuns(out, 0, data));
}

/** Writes the run-length encoded hex digits of `data` at `out[at]`; returns the new end. */
function putHexRuns(out: Buffer, at: number, data: Buffer): number {
  const count = data.length * 2;
  let i = 0;
  while (i < count) {
    const char = HEX_DIGITS[(data[i >> 1]! >> ((i & 1) === 0 ? 4 : 0)) & 15]!;
    let next = i + 1;
    while (next < count && HEX_DIGITS[(data[next >> 1]! >> ((next & 1) === 0 ? 4 : 0)) & 15] === char) next++;
    const run = next - i;
    i = next;
    if (run < 4) {
      out[at++] = char;
      if (run > 1) out[at++] = char;
      if (run > 2) out[at++] = char;
    } else at = putRun(out, at, char, run);
  }
  return at;
}

const NEEDS_ESCAPE = new Set([0x23, 0x24, 0x7d, 0x2a]); // # $ } *
/** 1 for the bytes that need escaping, by byte value (a table: the hot loop of binary replies reads it). */
const ESCAPED = new Uint8Array(256).fill(0);
for (const byte of NEEDS_ESCAPE) ESCAPED[byte] = 1;

/** Escapes binary data for a reply (`#`, `$`, `}` and `*` become `}` + byte^0x20). */
export function escapeBinary(data: Buffer): Buffer {
  let extra = 0;
  for (const byte of data) if (NEEDS_ESCAPE.has(byte)) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let at = 0;
  for (const byte of data) {
    if (NEEDS_ESCAPE.has(byte)) {
      out[at++] = 0x7d;
      out[at++] = byte ^ 0x20;
    } else out[at++] = byte;
  }
  return out;
}

/**
 * Escapes and run-length encodes memory in one pass: the reply data of an `x` packet. Escaped bytes are
 * never run-length encoded, since gdb expands runs before it unescapes.
 */
export function binaryRunLength(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length * 2);
  return out.subarray(0, putBinaryRuns(out, 0, data));
}

/** Writes the escaped, run-length encoded bytes of `data` at `out[at]`; returns the new end. */
function putBinaryRuns(out: Buffer, at: number, data: Buffer): number {
  const end = data.length;
  let length = at;
  let i = 0;
  while (i < end) {
    const byte = data[i]!;
    let next = i + 1;
    while (next < end && data[next] === byte) next++;
    let run = next - i;
    i = next;
    if (ESCAPED[byte] === 1) {
      for (; run > 0; run--) {
        out[length++] = 0x7d;
        out[length++] = byte ^ 0x20;
      }
    } else if (run < 4) {
      for (; run > 0; run--) out[length++] = byte;
    } else length = putRun(out, length, byte, run);
  }
  return length;
}

/** Undoes {@link escapeBinary} on a payload gdb sent (X and vFile:pwrite packets). */
export function unescapeBinary(data: Buffer): Buffer {
  if (!data.includes(0x7d)) return data;
  const out = Buffer.allocUnsafe(data.length);
  let at = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    if (byte === 0x7d && i + 1 < data.length) out[at++] = data[++i]! ^ 0x20;
    else out[at++] = byte;
  }
  return out.subarray(0, at);
}

/**
 * Incremental decoder for the byte stream from gdb. Feed it chunks; it yields complete items. Garbage
 * between packets is skipped; a packet longer than {@link MAX_INCOMING_PACKET} is dropped whole.
 */
export class PacketDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private discarding = false;

  /** Appends `chunk` and returns every complete item it finishes. */
  push(chunk: Buffer): Incoming[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const items: Incoming[] = [];
    for (;;) {
      if (this.discarding) {
        const end = this.buffer.indexOf(0x23);
        if (end < 0 || end + 2 >= this.buffer.length) {
          // Keep only what may still hold the end marker.
          this.buffer = end < 0 ? Buffer.alloc(0) : this.buffer.subarray(end);
          return items;
        }
        this.buffer = this.buffer.subarray(end + 3);
        this.discarding = false;
        items.push({ type: 'oversized' });
        continue;
      }
      const start = this.findStart();
      if (start < 0) return items;
      const first = this.buffer[start]!;
      if (first !== 0x24) {
        this.buffer = this.buffer.subarray(start + 1);
        items.push(first === 0x2b ? { type: 'ack' } : first === 0x2d ? { type: 'nack' } : { type: 'interrupt' });
        continue;
      }
      const end = this.buffer.indexOf(0x23, start + 1);
      if (end < 0) {
        if (this.buffer.length - start > MAX_INCOMING_PACKET) {
          this.discarding = true;
          this.buffer = Buffer.alloc(0);
        } else if (start > 0) this.buffer = this.buffer.subarray(start);
        return items;
      }
      if (end + 2 >= this.buffer.length) {
        if (start > 0) this.buffer = this.buffer.subarray(start);
        return items;
      }
      const payload = Buffer.from(this.buffer.subarray(start + 1, end));
      const sent = this.buffer.subarray(end + 1, end + 3).toString('latin1').toLowerCase();
      this.buffer = this.buffer.subarray(end + 3);
      if (payload.length > MAX_INCOMING_PACKET) items.push({ type: 'oversized' });
      else items.push({ type: sent === checksum(payload) ? 'packet' : 'bad-checksum', payload });
    }
  }

  /** Index of the next `$`, `+`, `-` or `^C`; skips anything else. */
  private findStart(): number {
    for (let i = 0; i < this.buffer.length; i++) {
      const byte = this.buffer[i]!;
      if (byte === 0x24 || byte === 0x2b || byte === 0x2d || byte === 0x03) return i;
    }
    this.buffer = Buffer.alloc(0);
    return -1;
  }
}
