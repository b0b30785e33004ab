/**
 * Helpers for the hostile-checkpoint tests: copies of real checkpoints to edit, raw protobuf encoding for
 * entries too large or too many to build through the schema, and a CLI run that reports its peak RSS.
 */
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from './checkpoints.js';

export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

const scratch: string[] = [];

/** A fresh private directory, removed by {@link removeScratch}. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `criu-gdb-hostile-${prefix}-`));
  scratch.push(dir);
  return dir;
}

/** Removes every directory made by {@link scratchDir}. */
export function removeScratch(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A copy of the images directory `images` in a fresh scratch directory. */
export function copyImages(images: string): string {
  const dir = scratchDir('images');
  cpSync(images, dir, { recursive: true });
  return dir;
}

/** Protobuf varint encoding of a non-negative integer. */
export function varint(value: number | bigint): Buffer {
  let v = BigInt(value);
  const bytes: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    bytes.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return Buffer.from(bytes);
}

/** A varint field. */
export function varintField(field: number, value: number | bigint): Buffer {
  return Buffer.concat([varint((field << 3) | 0), varint(value)]);
}

/** A length-delimited field. */
export function bytesField(field: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(payload.length), payload]);
}

/** The u32 length prefix CRIU puts before an entry. */
export function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(length);
  return prefix;
}

/** The header (magic words) and first entry's payload of a one-entry image file. */
export function splitSingleEntry(file: string): { header: Buffer; payload: Buffer } {
  const bytes = readFileSync(file);
  const header = bytes.subarray(0, 8);
  const length = bytes.readUInt32LE(8);
  return { header: Buffer.from(header), payload: Buffer.from(bytes.subarray(12, 12 + length)) };
}

/** What a bounded CLI run did. */
export interface BoundedRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the CLI, in MiB (from GNU time). */
  peakMiB: number;
  seconds: number;
  timedOut: boolean;
  /** Peak bytes under the run's private TMPDIR, in MiB (sampled). */
  peakDiskMiB: number;
  /** What the run left in its TMPDIR. */
  leftInTmp: string[];
}

/**
 * Runs the CLI under GNU time with a hard timeout and returns its exit status, output and peak RSS.
 * `env` adds to the environment.
 */
export async function runBounded(args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<BoundedRun> {
  const started = performance.now();
  // A private TMPDIR for the run, so that its temporary disk use can be measured alone.
  const tmp = scratchDir('tmp');
  const disk = watchDisk(tmp);
  const result = await execa('/usr/bin/time', ['-f', 'PEAK-KB %M', 'node', CLI, ...args], {
    reject: false,
    timeout: options.timeoutMs ?? 60_000,
    env: { TMPDIR: tmp, ...options.env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const peakDiskMiB = disk.stop() / (1024 * 1024);
  const left = readdirSync(tmp);
  const seconds = (performance.now() - started) / 1000;
  const lines = result.stderr.split('\n');
  const peakLine = lines.find((line) => line.startsWith('PEAK-KB '));
  const peakMiB = peakLine ? Number(peakLine.slice(8)) / 1024 : Number.NaN;
  const stderr = lines.filter((line) => !line.startsWith('PEAK-KB ') && !line.startsWith('Command exited with non-zero status')).join('\n');
  return { exitCode: result.exitCode, stdout: result.stdout, stderr, peakMiB, seconds, timedOut: result.timedOut, peakDiskMiB, leftInTmp: left };
}

/** Appends raw protobuf bytes into one growing buffer: fast enough for millions of entries. */
export class RawWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialBytes = 1 << 20) {
    this.buffer = Buffer.alloc(initialBytes);
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const bigger = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }

  /** Appends raw bytes. */
  bytes(data: Buffer): this {
    this.room(data.length);
    data.copy(this.buffer, this.length);
    this.length += data.length;
    return this;
  }

  /** Appends a varint (numbers up to 2^53). */
  varint(value: number): this {
    this.room(10);
    let v = value;
    while (v >= 0x80) {
      this.buffer[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buffer[this.length++] = v;
    return this;
  }

  /** Appends a varint field. */
  field(number: number, value: number): this {
    return this.varint(number << 3).varint(value);
  }

  /** Appends a framed entry (u32 length, then the payload `fill` writes). */
  entry(fill: (writer: this) => void): this {
    this.room(4);
    const at = this.length;
    this.length += 4;
    fill(this);
    this.buffer.writeUInt32LE(this.length - at - 4, at);
    return this;
  }

  /** The bytes written. */
  result(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/** Bytes allocated on disk under `dir` now (files' blocks, recursively); 0 when it is gone. */
export function diskBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const stat = lstatSync(path);
      total += stat.isDirectory() ? diskBytes(path) : stat.blocks * 512;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

/** Samples {@link diskBytes} of `dir` every few milliseconds until `stop`, which returns the peak seen. */
export function watchDisk(dir: string): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, diskBytes(dir));
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, diskBytes(dir));
    },
  };
}

/**
 * Writes `out` as a zstd-compressed tar: the members `before` (headers and data made by `write`), then the
 * real archive `tar`. Data is streamed through the zstd program, so gigabytes of zeros cost no memory.
 */
export async function zstdTar(out: string, tar: string, before: Array<{ header: Buffer; zeroBytes: number }>): Promise<void> {
  const script = ['set -e', '{'];
  const files: string[] = [];
  let pending: Buffer[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const file = `${out}.h${files.length}`;
    writeFileSync(file, Buffer.concat(pending));
    pending = [];
    files.push(file);
    script.push(`cat '${file}'`);
  };
  for (const { header, zeroBytes } of before) {
    pending.push(header);
    if (zeroBytes === 0) continue;
    flush();
    script.push(`head -c ${zeroBytes + ((512 - (zeroBytes % 512)) % 512)} /dev/zero`);
  }
  flush();
  script.push(`cat '${tar}'`, `} | zstd -q -1 -f -o '${out}'`);
  await execa('bash', ['-c', script.join('\n')]);
  for (const file of files) rmSync(file);
}

/**
 * Writes `out`: a zstd tar with one member `name` of `copies` x 512 MiB of zeros in front of the real
 * archive `tar`. The zeros are compressed once and their frame repeated, so a bomb of many GiB is cheap.
 */
export async function zstdZeroBomb(out: string, tar: string, name: string, copies: number): Promise<void> {
  const size = copies * 512 * 1024 * 1024;
  const { header } = await import('./build-archive.js');
  writeFileSync(`${out}.h`, header({ name }, size));
  const script = [
    'set -e',
    `head -c ${512 * 1024 * 1024} /dev/zero | zstd -q -1 -c > '${out}.z'`,
    `zstd -q -1 -c '${out}.h' > '${out}.hz'`,
    `zstd -q -1 -c '${tar}' > '${out}.tz'`,
    `{ cat '${out}.hz'; for i in $(seq ${copies}); do cat '${out}.z'; done; cat '${out}.tz'; } > '${out}'`,
    `rm -f '${out}.h' '${out}.z' '${out}.hz' '${out}.tz'`,
  ];
  await execa('bash', ['-c', script.join('\n')]);
}
