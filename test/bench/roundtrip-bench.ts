/**
 * Where the time of one memory round trip goes, for an 8-byte read and a 128 KiB read of the 2 GiB
 * checkpoint of test/bench/subjects.ts:
 *   - the floor: a minimal echo server over the same kind of Unix socket, answering every request with a
 *     reply of the same size as ours, from a lean client in another process;
 *   - the helper's own stages, in process: packet decoding, page lookup (spans), file reads, encoding (hex
 *     for `m`, binary for `x`) and framing;
 *   - the whole helper over the socket, from the same lean client (socket + event loop + all stages);
 *   - gdb over the same helper, per read, measured inside gdb's Python (gdb's remote layer on top), for every
 *     installed gdb, against gdb reading the same bytes from an ELF core (the anchor).
 * `tsx test/bench/roundtrip-bench.ts`
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { PageCache } from '../../src/model/page-cache.js';
import { binaryRunLength, framePacket, hexRunLength, memoryReply, PacketDecoder } from '../../src/rsp/packets.js';
import { gdbMatrix } from '../helpers/gdb-versions.js';
import { BENCH_WORK, PROJECT, makeCheckpoint, median, printTable, requireTools } from './subjects.js';

const PLUGIN = join(PROJECT, 'gdb-plugin', 'criu_gdb.py');

/** Median microseconds per call of `action`, over `rounds` rounds of `count` calls. */
function microsPerCall(count: number, action: (i: number) => void, rounds = 5): number {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < count; i++) action(i);
    samples.push(((performance.now() - start) * 1000) / count);
  }
  return median(samples);
}

/** A lean client: sends one framed packet at a time and waits for the end of the reply (`#` + 2 digits). */
class LeanClient {
  private pending: { resolve: () => void } | undefined;
  private seenHash = -1;
  private received = 0;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  static connect(path: string): Promise<LeanClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path, () => resolve(new LeanClient(socket)));
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  }

  private onData(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      this.received++;
      if (this.seenHash < 0 && byte === 0x23) this.seenHash = this.received;
    }
    if (this.seenHash > 0 && this.received >= this.seenHash + 2) {
      this.seenHash = -1;
      this.received = 0;
      const waiter = this.pending;
      this.pending = undefined;
      waiter?.resolve();
    }
  }

  request(packet: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.pending = { resolve };
      this.socket.write(packet);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

async function microsPerRequest(client: LeanClient, packet: Buffer, count: number): Promise<number> {
  const samples: number[] = [];
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let i = 0; i < count; i++) await client.request(packet);
    samples.push(((performance.now() - start) * 1000) / count);
  }
  return median(samples);
}

/** Runs `script` (an ES module body) in a child node process that prints READY when listening. */
async function startChild(script: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return child;
}

/** A minimal echo server: each `$...#cs` request is answered with a canned framed reply of `size` bytes. */
function echoServerScript(path: string, sizes: Record<string, number>): string {
  return `
    import { createServer } from 'node:net';
    const replies = new Map(Object.entries(${JSON.stringify(sizes)}).map(([k, n]) => [k, Buffer.concat([Buffer.from('$'), Buffer.alloc(n, 0x61), Buffer.from('#00')])]));
    createServer((socket) => {
      socket.setNoDelay(true);
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        let end;
        while ((end = text.indexOf('#')) >= 0 && text.length >= end + 3) {
          const request = text.slice(1, end);
          text = text.slice(end + 3);
          socket.write(replies.get(request[0] + request.split(',')[1]));
        }
      });
    }).listen(${JSON.stringify(path)}, () => console.log('READY'));`;
}

function helperServerScript(path: string, images: string, pid: number): string {
  return `
    import { Checkpoint } from './src/model/checkpoint.js';
    import { serveProcess } from './src/rsp/server.js';
    const checkpoint = Checkpoint.open(${JSON.stringify(images)});
    await serveProcess(checkpoint, ${pid}, ${JSON.stringify(path)});
    console.log('READY');`;
}

/** Microseconds per read of `length` bytes at `address`, 2000 reads, from gdb's Python; NaN on failure. */
function gdbReadMicros(command: string, args: string[], address: bigint, length: number, count: number): number {
  const probe = `python import time; inf=gdb.selected_inferior(); a=0x${address.toString(16)}; t=time.perf_counter()\n`;
  const loop = `python\nfor i in range(${count}): inf.read_memory(a + (i % 64) * ${length}, ${length})\nprint('@@MICROS', (time.perf_counter()-t)*1e6/${count})\nend`;
  const result = spawnSync(command, ['-nx', '-batch', ...args, '-ex', probe.trim(), '-ex', loop], { encoding: 'utf8', input: '' });
  return Number(/^@@MICROS (\S+)$/m.exec(result.stdout)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  requireTools();
  const subject = makeCheckpoint('large', 2048);
  const checkpoint = Checkpoint.open(subject.dir);
  const process0 = checkpoint.processes[0]!;
  const memory = process0.memory();
  const small = 8;
  const big = 128 * 1024;
  const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-roundtrip-'));
  const rows: string[][] = [];
  try {
    // In-process stages.
    const request = (kind: string, length: number): Buffer => framePacket(`${kind}${subject.region.toString(16)},${length.toString(16)}`);
    for (const length of [small, big]) {
      const count = length === small ? 20000 : 400;
      const decoder = new PacketDecoder();
      const framed = request('m', length);
      const at = (i: number): bigint => subject.region + BigInt((i % 4096) * length);
      const data = memory.readAvailable(subject.region, length);
      const hex = hexRunLength(data);
      rows.push([`${length} B`, 'decode request', microsPerCall(count, () => decoder.push(framed)).toFixed(2)]);
      rows.push([`${length} B`, 'page lookup (spans)', microsPerCall(count, (i) => memory.spans(at(i), at(i) + BigInt(length))).toFixed(2)]);
      rows.push([`${length} B`, 'lookup + file read', microsPerCall(count, (i) => memory.readAvailable(at(i), length)).toFixed(2)]);
      const cache = new PageCache(memory);
      rows.push([`${length} B`, 'through the page cache', microsPerCall(count, (i) => cache.readAvailable(at(i % 64), length)).toFixed(2)]);
      rows.push([`${length} B`, 'hex encode (m)', microsPerCall(count, () => hexRunLength(data)).toFixed(2)]);
      rows.push([`${length} B`, 'binary encode (x)', microsPerCall(count, () => binaryRunLength(data)).toFixed(2)]);
      rows.push([`${length} B`, 'frame reply', microsPerCall(count, () => framePacket(hex)).toFixed(2)]);
      rows.push([`${length} B`, 'encode + frame in one (m)', microsPerCall(count, () => memoryReply(data, 'hex')).toFixed(2)]);
      rows.push([`${length} B`, 'encode + frame in one (x)', microsPerCall(count, () => memoryReply(data, 'binary')).toFixed(2)]);
    }
    // Over the socket, lean client in this process, servers in children.
    const echoPath = join(dir, 'echo.sock');
    const helperPath = join(dir, 'helper.sock');
    const sizes = { [`m${small.toString(16)}`]: small * 2, [`m${big.toString(16)}`]: big * 2, [`x${small.toString(16)}`]: small + 1, [`x${big.toString(16)}`]: big + 1 };
    const echo = await startChild(echoServerScript(echoPath, sizes));
    const helper = await startChild(helperServerScript(helperPath, subject.dir, process0.pid));
    try {
      const echoClient = await LeanClient.connect(echoPath);
      const helperClient = await LeanClient.connect(helperPath);
      await helperClient.request(framePacket('QStartNoAckMode'));
      for (const kind of ['m', 'x']) {
        for (const length of [small, big]) {
          const packet = request(kind, length);
          const count = length === small ? 5000 : 200;
          rows.push([`${length} B`, `socket floor: echo, ${kind}`, (await microsPerRequest(echoClient, packet, count)).toFixed(2)]);
          rows.push([`${length} B`, `helper over the socket, ${kind}`, (await microsPerRequest(helperClient, packet, count)).toFixed(2)]);
        }
      }
      echoClient.close();
      helperClient.close();
    } finally {
      echo.kill();
      helper.kill();
    }
    console.log('One memory round trip, by stage (µs per request, median)');
    printTable(['read', 'stage', 'µs'], rows);

    // Through gdb: criu-load against an ELF core of the same checkpoint.
    const exported = join(BENCH_WORK, 'roundtrip-core');
    rmSync(exported, { recursive: true, force: true });
    spawnSync('node', [join(PROJECT, 'dist', 'src', 'cli', 'main.js'), 'coredump', subject.dir, '-o', exported], { stdio: 'ignore' });
    const core = spawnSync('sh', ['-c', `ls ${exported}/core.*`], { encoding: 'utf8' }).stdout.trim();
    const gdbRows: string[][] = [];
    for (const version of gdbMatrix().filter((g) => g.available)) {
      for (const length of [small, big]) {
        const count = length === small ? 5000 : 100;
        const loaded = gdbReadMicros(version.command, ['-iex', `source ${PLUGIN}`, '-ex', `criu-load ${subject.dir}`], subject.region, length, count);
        const onCore = gdbReadMicros(version.command, [join(BENCH_WORK, 'bigmem'), core], subject.region, length, count);
        gdbRows.push([version.label, `${length} B`, loaded.toFixed(1), onCore.toFixed(1), `${(loaded / onCore).toFixed(1)}x`]);
      }
    }
    rmSync(exported, { recursive: true, force: true });
    console.log('\nThrough gdb: inferior.read_memory from Python (µs per read, 64 distinct addresses in turn)');
    printTable(['gdb', 'read', 'criu-load', 'ELF core', 'ratio'], gdbRows);
  } finally {
    checkpoint.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
