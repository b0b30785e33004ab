/**
 * Mutations of real checkpoint images for fuzzing: each takes a copy of a checkpoint directory and damages
 * it in one way a truncated copy or a hostile container could. Deterministic for a given random source.
 */
import { copyFileSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

/** A small deterministic PRNG (mulberry32), so that every failing case can be replayed from its seed. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Offsets of the u32 length prefixes of a framed image (after an 8- or 4-byte header). */
export function entryOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  let at = bytes.length >= 8 && bytes.readUInt32LE(0) === 0x54564319 ? 8 : 4;
  while (at + 4 <= bytes.length) {
    const length = bytes.readUInt32LE(at);
    if (at + 4 + length > bytes.length) break;
    offsets.push(at);
    at += 4 + length;
  }
  return offsets;
}

/** One field of a protobuf message: where it is and, for a varint, where its value is. */
interface WireField {
  start: number;
  end: number;
  wire: number;
  valueStart: number;
  valueEnd: number;
}

/** Reads a varint at `at`; undefined when it runs off the end or past 10 bytes. */
function readVarint(bytes: Buffer, at: number): { value: bigint; end: number } | undefined {
  let value = 0n;
  for (let i = 0; i < 10 && at + i < bytes.length; i++) {
    const byte = bytes[at + i]!;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return { value, end: at + i + 1 };
  }
  return undefined;
}

/** The fields of a protobuf message, or undefined when the bytes are not one. */
function wireFields(bytes: Buffer): WireField[] | undefined {
  const fields: WireField[] = [];
  for (let at = 0; at < bytes.length; ) {
    const key = readVarint(bytes, at);
    if (!key || key.value >> 3n === 0n) return undefined;
    const wire = Number(key.value & 7n);
    let valueStart = key.end;
    let valueEnd: number;
    if (wire === 0) {
      const value = readVarint(bytes, key.end);
      if (!value) return undefined;
      valueEnd = value.end;
    } else if (wire === 1) valueEnd = key.end + 8;
    else if (wire === 5) valueEnd = key.end + 4;
    else if (wire === 2) {
      const length = readVarint(bytes, key.end);
      if (!length) return undefined;
      valueStart = length.end;
      valueEnd = length.end + Number(length.value);
    } else return undefined;
    if (valueEnd > bytes.length) return undefined;
    fields.push({ start: at, end: valueEnd, wire, valueStart, valueEnd });
    at = valueEnd;
  }
  return fields;
}

/** Protobuf varint encoding. */
function encodeVarint(value: bigint): Buffer {
  const out: number[] = [];
  let v = value;
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return Buffer.from(out);
}

/** Counts and sizes at the edges: what a hostile image claims to make a reader allocate or loop. */
const EXTREMES = [2n ** 64n - 1n, 2n ** 63n - 1n, 2n ** 53n + 1n, 2n ** 40n, 2n ** 34n, 2n ** 34n - 1n, 2n ** 32n - 1n, 2n ** 31n, 2n ** 26n];

/**
 * Sets one varint of a random entry, at the top level or one message down, to `value` (a random extreme
 * when absent), re-encoding the enclosing lengths; `pick` chooses among the candidate fields.
 */
function setVarint(bytes: Buffer, random: Random, value?: bigint, wanted?: (field: number, nested: boolean) => boolean): { bytes: Buffer; detail: string } | undefined {
  const offsets = entryOffsets(bytes);
  const candidates: Array<{ entry: number; outer?: WireField; field: WireField; number: number }> = [];
  for (const entry of offsets) {
    const payload = bytes.subarray(entry + 4, entry + 4 + bytes.readUInt32LE(entry));
    for (const field of wireFields(payload) ?? []) {
      const number = Number((readVarint(payload, field.start)?.value ?? 0n) >> 3n);
      if (field.wire === 0 && (wanted?.(number, false) ?? true)) candidates.push({ entry, field, number });
      if (field.wire !== 2) continue;
      for (const inner of wireFields(payload.subarray(field.valueStart, field.valueEnd)) ?? []) {
        const innerNumber = Number((readVarint(payload, field.valueStart + inner.start)?.value ?? 0n) >> 3n);
        if (inner.wire === 0 && (wanted?.(innerNumber, true) ?? true)) candidates.push({ entry, outer: field, field: inner, number: innerNumber });
      }
    }
  }
  if (candidates.length === 0) return undefined;
  const { entry, outer, field, number } = random.pick(candidates);
  const extreme = value ?? random.pick(EXTREMES);
  const payload = bytes.subarray(entry + 4, entry + 4 + bytes.readUInt32LE(entry));
  let changed: Buffer;
  if (!outer) changed = Buffer.concat([payload.subarray(0, field.valueStart), encodeVarint(extreme), payload.subarray(field.valueEnd)]);
  else {
    const inner = payload.subarray(outer.valueStart, outer.valueEnd);
    const newInner = Buffer.concat([inner.subarray(0, field.valueStart), encodeVarint(extreme), inner.subarray(field.valueEnd)]);
    const key = payload.subarray(outer.start, readVarint(payload, outer.start)!.end);
    changed = Buffer.concat([payload.subarray(0, outer.start), key, encodeVarint(BigInt(newInner.length)), newInner, payload.subarray(outer.end)]);
  }
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(changed.length);
  const out = Buffer.concat([bytes.subarray(0, entry), prefix, changed, bytes.subarray(entry + 4 + payload.length)]);
  return { bytes: out, detail: `field ${outer ? 'nested ' : ''}${number} of the entry at ${entry} set to ${extreme}` };
}

/** What a mutation did, for the report. */
export interface Mutation {
  kind: string;
  image: string;
  detail: string;
}

type Mutator = (dir: string, image: string, bytes: Buffer, random: Random) => string;

const mutators: Record<string, Mutator> = {
  truncate(dir, image, bytes, random) {
    const at = random.int(bytes.length);
    writeFileSync(join(dir, image), bytes.subarray(0, at));
    return `cut to ${at} bytes`;
  },
  bitflip(dir, image, bytes, random) {
    const copy = Buffer.from(bytes);
    const flips = 1 + random.int(8);
    for (let i = 0; i < flips; i++) copy[random.int(copy.length)]! ^= 1 << random.int(8);
    writeFileSync(join(dir, image), copy);
    return `${flips} bits flipped`;
  },
  hugeLength(dir, image, bytes, random) {
    const offsets = entryOffsets(bytes);
    if (offsets.length === 0) return mutators['bitflip']!(dir, image, bytes, random);
    const copy = Buffer.from(bytes);
    const at = random.pick(offsets);
    const value = random.pick([0xffffffff, 0x7fffffff, 0x10000000, bytes.length]);
    copy.writeUInt32LE(value, at);
    writeFileSync(join(dir, image), copy);
    return `length at ${at} set to ${value}`;
  },
  wrongMagic(dir, image, bytes, random) {
    const copy = Buffer.from(bytes);
    copy.writeUInt32LE(random.int(0xffffffff), copy.length >= 8 ? 4 : 0);
    writeFileSync(join(dir, image), copy);
    return 'magic replaced';
  },
  wrongWireType(dir, image, bytes, random) {
    // Rewrite the first key byte of a random entry: same field number, another wire type.
    const offsets = entryOffsets(bytes);
    if (offsets.length === 0) return mutators['bitflip']!(dir, image, bytes, random);
    const copy = Buffer.from(bytes);
    const at = random.pick(offsets) + 4;
    if (at >= copy.length) return 'no entry body';
    copy[at] = (copy[at]! & ~7) | random.pick([1, 2, 3, 5, 6, 7].filter((t) => t !== (copy[at]! & 7)));
    writeFileSync(join(dir, image), copy);
    return `wire type changed at ${at}`;
  },
  duplicateEntry(dir, image, bytes, random) {
    const offsets = entryOffsets(bytes);
    if (offsets.length === 0) return mutators['truncate']!(dir, image, bytes, random);
    const at = random.pick(offsets);
    const entry = bytes.subarray(at, at + 4 + bytes.readUInt32LE(at));
    writeFileSync(join(dir, image), Buffer.concat([bytes, entry]));
    return `entry at ${at} appended again`;
  },
  garbageTail(dir, image, bytes, random) {
    const tail = Buffer.alloc(1 + random.int(64));
    for (let i = 0; i < tail.length; i++) tail[i] = random.int(256);
    writeFileSync(join(dir, image), Buffer.concat([bytes, tail]));
    return `${tail.length} random bytes appended`;
  },
  remove(dir, image) {
    unlinkSync(join(dir, image));
    return 'image removed';
  },
  empty(dir, image) {
    writeFileSync(join(dir, image), Buffer.alloc(0));
    return 'image emptied';
  },
  symlinkOutside(dir, image, _bytes, random) {
    unlinkSync(join(dir, image));
    symlinkSync(random.pick(['/etc/passwd', '/proc/self/mem', '/dev/zero', '../../../../etc/shadow']), join(dir, image));
    return 'image replaced by a symlink outside the checkpoint';
  },
  parentCycle(dir, _image, _bytes, random) {
    rmSync(join(dir, 'parent'), { force: true });
    symlinkSync(random.pick(['.', '..', '/', '/etc', `../${dir.split('/').pop() ?? ''}`]), join(dir, 'parent'));
    return 'parent symlink made to loop or leave';
  },
  extremeVarint(dir, image, bytes, random) {
    // Any varint of an entry (counts, sizes, addresses, lengths) pushed to an extreme.
    const changed = setVarint(bytes, random);
    if (!changed) return mutators['hugeLength']!(dir, image, bytes, random);
    writeFileSync(join(dir, image), changed.bytes);
    return changed.detail;
  },
  extremePages(dir, image, bytes, random) {
    // nr_pages of a pagemap run near 2^34 (64 TiB) or beyond, whatever image was drawn.
    const pagemaps = readdirSync(dir).filter((name) => /^pagemap-\d+\.img$/.test(name));
    if (pagemaps.length === 0) return mutators['extremeVarint']!(dir, image, bytes, random);
    const pagemap = random.pick(pagemaps);
    const value = random.pick([2n ** 34n, 2n ** 34n - 1n, 2n ** 34n + 1n, 2n ** 40n, 2n ** 52n, 2n ** 32n - 1n]);
    // PagemapEntry: compat_nr_pages 2, nr_pages 5 (the head entry has neither).
    const changed = setVarint(readFileSync(join(dir, pagemap)), random, value, (field, nested) => !nested && (field === 2 || field === 5));
    if (!changed) return 'no pagemap run';
    writeFileSync(join(dir, pagemap), changed.bytes);
    return `${pagemap}: ${changed.detail}`;
  },
  countFlood(dir, image, bytes, random) {
    // One entry repeated until the image holds 50,000 entries: counts bounded only by the budget.
    const offsets = entryOffsets(bytes);
    if (offsets.length === 0) return mutators['truncate']!(dir, image, bytes, random);
    const at = random.pick(offsets);
    const entry = bytes.subarray(at, at + 4 + bytes.readUInt32LE(at));
    const copies = Math.max(0, 50_000 - offsets.length);
    writeFileSync(join(dir, image), Buffer.concat([bytes, ...Array.from({ length: copies }, () => entry)]));
    return `entry at ${at} repeated ${copies} times`;
  },
  swapImages(dir, image, _bytes, random) {
    const others = readdirSync(dir).filter((name) => name.endsWith('.img') && name !== image && lstatSync(join(dir, name)).isFile());
    if (others.length === 0) return 'nothing to swap';
    const other = random.pick(others);
    copyFileSync(join(dir, other), join(dir, image));
    return `replaced by a copy of ${other}`;
  },
};

/** Names of every mutation. */
export const MUTATIONS = Object.keys(mutators);

/** Applies mutation `kind` to `image` in `dir` (a scratch copy of a checkpoint). */
export function mutate(dir: string, kind: string, image: string, random: Random): Mutation {
  const mutator = mutators[kind];
  if (!mutator) throw new Error(`unknown mutation ${kind}`);
  const bytes = readFileSync(join(dir, image));
  return { kind, image, detail: mutator(dir, image, bytes, random) };
}
