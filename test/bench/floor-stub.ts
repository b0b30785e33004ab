/**
 * The floor of gdb's remote layer for memory reads: a minimal gdb remote-protocol server on a Unix socket
 * (the kind of socket criu-load serves on) that answers every `m` and `x` read from precomputed bytes, with
 * no per-read work beyond framing (the checksum comes from prefix sums, the payload is a slice).
 *
 * Memory: `size` bytes at `base` hold distinct data, a 1 MiB pseudo-random sequence repeated, in which no
 * byte equals its neighbour (nothing a run-length encoder could shorten) and no byte needs the binary
 * escape (`#`, `$`, `}`, `*`), so an `x` reply of n bytes is exactly n payload bytes, the cheapest reply
 * possible. Every other address reads as zeros: gdb started without a file (`set architecture
 * i386:x86-64`) reads little, and a zero `r_debug` pointer ends any walk of the shared-library list.
 *
 * Offered features: PacketSize=40000 (as criu-load's helper), QStartNoAckMode+ and binary-upload+ (the
 * `x` packet, gdb 16 and later). Also answers `?`, `g` (zeros), `H`, `T`, `qC`, `qAttached` and the thread
 * list; anything else gets the empty reply ("not supported").
 *
 * Run as a program: `tsx test/bench/floor-stub.ts SOCKET BASE_HEX SIZE`; or use {@link startFloorStub}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The packet size offered to gdb (hex 40000), the same as criu-load's helper. */
const PACKET_SIZE = 0x40000;
/** Length of the distinct sequence; addresses in the region read it at (address - base) mod this. */
const PERIOD = 1 << 20;
/** The longest read answered: gdb never asks more than fits a reply. */
const MAX_READ = PACKET_SIZE / 2;
/** Bytes the binary reply escapes. */
const ESCAPED = new Set([0x23, 0x24, 0x2a, 0x7d]);
/** Registers for `g`: the 164 bytes of amd64's general registers, all zero. */
const REGISTERS = '0'.repeat(164 * 2);

/** Precomputed replies' material: the data, its hex text, and prefix sums of both for checksums. */
interface Material {
  readonly bytes: Buffer;
  readonly hex: Buffer;
  readonly byteSums: Uint8Array;
  readonly hexSums: Uint8Array;
}

function prefixSums(data: Buffer): Uint8Array {
  const sums = new Uint8Array(data.length + 1);
  for (let i = 0; i < data.length; i++) sums[i + 1] = (sums[i]! + data[i]!) & 0xff;
  return sums;
}

/** PERIOD + MAX_READ bytes (so any read in the region is one slice) of the distinct sequence. */
function material(): Material {
  const bytes = Buffer.allocUnsafe(PERIOD + MAX_READ);
  let state = 0x2545f491;
  let previous = -1;
  for (let i = 0; i < PERIOD; ) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const byte = state & 0xff;
    if (byte === previous || ESCAPED.has(byte)) continue;
    bytes[i++] = byte;
    previous = byte;
  }
  // The wrap-around copy keeps the no-equal-neighbours rule unless the sequence ends with its first byte.
  if (bytes[PERIOD - 1] === bytes[0]) bytes[PERIOD - 1] = bytes[0] === 0x41 ? 0x42 : 0x41;
  bytes.copy(bytes, PERIOD, 0, MAX_READ);
  const hex = Buffer.from(bytes.toString('hex'), 'latin1');
  return { bytes, hex, byteSums: prefixSums(bytes), hexSums: prefixSums(hex) };
}

function checksumOf(data: Buffer): number {
  let sum = 0;
  for (const byte of data) sum = (sum + byte) & 0xff;
  return sum;
}

function trailer(sum: number): Buffer {
  return Buffer.from(`#${(sum & 0xff).toString(16).padStart(2, '0')}`, 'latin1');
}

/** Serves one gdb connection. */
class FloorConnection {
  private pending: Buffer = Buffer.alloc(0);
  private noAck = false;
  private readonly zeros = Buffer.alloc(MAX_READ);
  private readonly zeroHex = Buffer.alloc(MAX_READ * 2, 0x30);

  constructor(
    private readonly socket: Socket,
    private readonly memory: Material,
    private readonly base: bigint,
    private readonly size: bigint,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => socket.destroy());
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      let start = 0;
      // Acks, nacks and interrupts carry nothing this server needs.
      while (start < this.pending.length && this.pending[start] !== 0x24) start++;
      const end = this.pending.indexOf(0x23, start);
      if (start >= this.pending.length || end < 0 || end + 2 >= this.pending.length) {
        this.pending = this.pending.subarray(start);
        return;
      }
      const packet = this.pending.toString('latin1', start + 1, end);
      this.pending = this.pending.subarray(end + 3);
      if (!this.noAck) this.socket.write('+');
      this.answer(packet);
    }
  }

  private answer(packet: string): void {
    const kind = packet[0];
    if (kind === 'm' || kind === 'x') {
      this.readMemory(packet.slice(1), kind === 'x');
      return;
    }
    this.send(this.reply(packet));
    if (packet === 'QStartNoAckMode') this.noAck = true;
  }

  private reply(packet: string): string {
    if (packet.startsWith('qSupported')) return `PacketSize=${PACKET_SIZE.toString(16)};QStartNoAckMode+;binary-upload+`;
    if (packet === 'QStartNoAckMode') return 'OK';
    if (packet === '?') return 'S05';
    if (packet === 'g') return REGISTERS;
    if (packet[0] === 'H' || packet[0] === 'T') return 'OK';
    if (packet === 'qAttached') return '1';
    if (packet === 'qC') return 'QC1';
    if (packet === 'qfThreadInfo') return 'm1';
    if (packet === 'qsThreadInfo') return 'l';
    if (packet === 'D') return 'OK';
    return '';
  }

  private send(body: string): void {
    const data = Buffer.from(body, 'latin1');
    this.socket.write(Buffer.concat([Buffer.from('$'), data, trailer(checksumOf(data))]));
  }

  /** Answers `ADDR,LENGTH` with slices of the precomputed material. */
  private readMemory(args: string, binary: boolean): void {
    const comma = args.indexOf(',');
    const address = BigInt(`0x${args.slice(0, comma)}`);
    const length = Math.min(parseInt(args.slice(comma + 1), 16), MAX_READ);
    const offset = address - this.base;
    const head = binary ? 'b' : '';
    let payload: Buffer;
    let sum: number;
    if (offset >= 0n && offset + BigInt(length) <= this.size) {
      const at = Number(offset % BigInt(PERIOD));
      if (binary) {
        payload = this.memory.bytes.subarray(at, at + length);
        sum = 0x62 + this.memory.byteSums[at + length]! - this.memory.byteSums[at]!;
      } else {
        payload = this.memory.hex.subarray(2 * at, 2 * (at + length));
        sum = this.memory.hexSums[2 * (at + length)]! - this.memory.hexSums[2 * at]!;
      }
    } else if (offset + BigInt(length) <= 0n || offset >= this.size) {
      payload = binary ? this.zeros.subarray(0, length) : this.zeroHex.subarray(0, 2 * length);
      sum = binary ? 0x62 : 0x30 * 2 * length;
    } else {
      // A read across an edge of the region (rare): assembled byte by byte.
      const bytes = Buffer.alloc(length);
      for (let i = 0; i < length; i++) {
        const at = offset + BigInt(i);
        if (at >= 0n && at < this.size) bytes[i] = this.memory.bytes[Number(at % BigInt(PERIOD))]!;
      }
      payload = binary ? bytes : Buffer.from(bytes.toString('hex'), 'latin1');
      sum = checksumOf(payload) + (binary ? 0x62 : 0);
    }
    this.socket.cork();
    this.socket.write(`$${head}`, 'latin1');
    this.socket.write(payload);
    this.socket.write(trailer(sum));
    this.socket.uncork();
  }
}

/** Serves the floor on `socketPath` until the process ends. */
export function serveFloor(socketPath: string, base: bigint, size: bigint): void {
  rmSync(socketPath, { force: true });
  const memory = material();
  createServer((socket) => new FloorConnection(socket, memory, base, size)).listen(socketPath);
}

/** A running floor stub (a child process). */
export interface FloorStub {
  readonly socket: string;
  stop(): void;
}

/**
 * Starts the floor stub in a child process (the benches run gdb synchronously) and waits for its socket.
 * The child runs this file with the same loader as the calling process (tsx).
 */
export function startFloorStub(socketPath: string, base: bigint, size: number): FloorStub {
  rmSync(socketPath, { force: true });
  const child: ChildProcess = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), socketPath, base.toString(16), String(size)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 300 && !existsSync(socketPath); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  if (!existsSync(socketPath)) {
    child.kill();
    throw new Error(`the floor stub did not open ${socketPath}`);
  }
  return {
    socket: socketPath,
    stop: () => {
      child.kill();
      rmSync(socketPath, { force: true });
    },
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [socketPath, baseHex, size] = process.argv.slice(2);
  if (socketPath === undefined || baseHex === undefined || size === undefined) {
    console.error('usage: floor-stub.ts SOCKET BASE_HEX SIZE');
    process.exit(2);
  }
  serveFloor(socketPath, BigInt(`0x${baseHex}`), BigInt(size));
}
