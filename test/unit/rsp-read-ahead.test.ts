/**
 * The server makes the reply to the read that would continue a sequential run before gdb asks for it. Over a
 * real socket: runs of `m` and `x` reads, jumps away from a run, and switches of encoding and length all get
 * exactly the bytes the checkpoint's memory model reads at those addresses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { serveProcess, type ProcessServer } from '../../src/rsp/server.js';
import { RspClient } from '../helpers/rsp-client.js';
import { fixtureImagesDir, fixtureRootfs, loadFixtureTruth } from '../helpers/checkpoints.js';

const pid = loadFixtureTruth('demo').processes[0]!.pid;
let dir: string;
let checkpoint: Checkpoint;
let server: ProcessServer;
let client: RspClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'criu-gdb-read-ahead-'));
  checkpoint = Checkpoint.open(fixtureImagesDir('demo'), { root: fixtureRootfs('demo') });
  server = await serveProcess(checkpoint, pid, join(dir, 'demo.sock'));
  client = await RspClient.connect(join(dir, 'demo.sock'));
  client.send('QStartNoAckMode');
  await client.until(/^OK$/);
});

afterAll(async () => {
  client.close();
  await server.close();
  checkpoint.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Reads `length` bytes at `address` with `m` (hex) or `x` (binary), as the reply's bytes. */
async function read(kind: 'm' | 'x', address: bigint, length: number): Promise<Buffer> {
  client.send(`${kind}${address.toString(16)},${length.toString(16)}`);
  const [reply = ''] = (await client.until(/^(b|[0-9a-f]|E)/s)).slice(-1);
  expect(reply, `${kind} ${address.toString(16)},${length}`).not.toMatch(/^E/);
  return kind === 'm' ? Buffer.from(expandRuns(reply), 'hex') : unescape(Buffer.from(expandRuns(reply.slice(1)), 'latin1'));
}

/** Expands gdb's run-length encoding (`c*N`: N - 29 more copies of c). */
function expandRuns(text: string): string {
  return text.replace(/(.)\*(.)/gs, (_, char: string, count: string) => char.repeat(count.charCodeAt(0) - 29 + 1));
}

function unescape(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) out.push(data[i] === 0x7d ? data[++i]! ^ 0x20 : data[i]!);
  return Buffer.from(out);
}

describe('memory replies made ahead of a sequential run', () => {
  it('give every read the bytes of the memory model, in runs, after jumps, and across encodings', async () => {
    const process = checkpoint.process(pid);
    const mapping = process.mappings().find((m) => m.end - m.start >= 0x4000n && process.memory().read(m.start, 0x4000).unavailable.length === 0);
    expect(mapping).toBeDefined();
    const base = mapping!.start;
    const truth = (at: bigint, length: number): Buffer => process.memory().read(at, length).data;
    const plan: Array<[kind: 'm' | 'x', offset: number, length: number]> = [
      // A run (the third read on is answered from the reply made ahead), then a jump back into it.
      ['x', 0, 256], ['x', 256, 256], ['x', 512, 256], ['x', 768, 256], ['x', 128, 256],
      // The run goes on in hex: the binary reply made ahead must not be used for it.
      ['x', 1024, 512], ['x', 1536, 512], ['m', 2048, 512], ['m', 2560, 512], ['m', 3072, 512],
      // Same address, other length; then a run of whole pages.
      ['m', 3584, 100], ['x', 0, 4096], ['x', 4096, 4096], ['x', 8192, 4096], ['x', 12288, 4096],
    ];
    for (const [kind, offset, length] of plan) {
      const at = base + BigInt(offset);
      expect((await read(kind, at, length)).equals(truth(at, length)), `${kind} +${offset},${length}`).toBe(true);
    }
  });
});
