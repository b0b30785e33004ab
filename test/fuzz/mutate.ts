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
