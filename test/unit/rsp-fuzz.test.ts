/**
 * The remote-protocol server under hostile input, over a real socket: malformed, oversized and unknown
 * packets, bad checksums and nonsense arguments all get a reply (or the protocol's NACK), and the server
 * stays in sync and alive: after every case a `qC` query still gets its answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { MAX_INCOMING_PACKET } from '../../src/rsp/packets.js';
import { serveProcess, type ProcessServer } from '../../src/rsp/server.js';
import { Random } from '../fuzz/mutate.js';
import { RspClient } from '../helpers/rsp-client.js';
import { fixtureImagesDir, fixtureRootfs, loadFixtureTruth } from '../helpers/checkpoints.js';

const truth = loadFixtureTruth('demo');
const pid = truth.processes[0]!.pid;
let dir: string;
let checkpoint: Checkpoint;
let server: ProcessServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'criu-gdb-rsp-fuzz-'));
  checkpoint = Checkpoint.open(fixtureImagesDir('demo'), { root: fixtureRootfs('demo') });
  server = await serveProcess(checkpoint, pid, join(dir, 'demo.sock'));
});

afterAll(async () => {
  await server.close();
  checkpoint.close();
  rmSync(dir, { recursive: true, force: true });
});

const SENTINEL = new RegExp(`^QCp${pid.toString(16)}\\.`);

/** Packet templates with random arguments: every kind gdb sends, with nonsense where numbers go. */
function randomPacket(random: Random): string {
  const hex = (): string => random.pick(['0', 'ffffffffffffffff', '7fffffffffff', random.int(2 ** 31).toString(16), '-1', 'zz', '', '1'.repeat(40)]);
  const templates = [
    () => `m${hex()},${hex()}`,
    () => `M${hex()},${hex()}:${hex()}`,
    () => `X${hex()},${hex()}:\x7d\x03`,
    () => `p${hex()}`,
    () => `P${hex()}=${hex()}`,
    () => `g`,
    () => `G${hex()}`,
    () => `H${random.pick(['g', 'c', 'x'])}${random.pick(['p' + hex() + '.' + hex(), hex(), '-1', '0'])}`,
    () => `T${random.pick(['p' + hex() + '.' + hex(), hex()])}`,
    () => `qXfer:${random.pick(['features', 'threads', 'auxv', 'exec-file', 'libraries', 'nope'])}:${random.pick(['read', 'write'])}:${random.pick(['target.xml', '', hex(), '../../etc/passwd'])}:${hex()},${hex()}`,
    () => `vFile:${random.pick(['open', 'pread', 'close', 'fstat', 'readlink', 'pwrite', 'unlink', 'setfs', 'bogus'])}:${[hex(), hex(), hex()].join(',')}`,
    () => `vFile:open:${Buffer.from(random.pick(['/etc/passwd', '/proc/1/mem', `/proc/${pid}/maps`, '../../x', '/proc/self/environ', 'a'.repeat(5000)])).toString('hex')},0,0`,
    () => `vCont;${random.pick(['c', 's', 'r0,1', 't'])}`,
    () => `qGetTLSAddr:${random.pick(['p' + hex() + '.' + hex(), hex(), `p${pid.toString(16)}.${pid.toString(16)}`])},${hex()},${hex()}`,
    () => random.pick(['c', 's', 'k', 'D', '?', 'vCont?', 'vKill;1', 'qC', 'qAttached', 'qfThreadInfo', 'qsThreadInfo', 'qOffsets', 'QStartNoAckMode']),
    () => `Z0,${hex()},${hex()}`,
    () => `q${'x'.repeat(random.int(3000))}`,
    () => String.fromCharCode(...Array.from({ length: random.int(100) }, () => 32 + random.int(90))).replace(/[#$}*]/g, 'a'),
  ];
  return random.pick(templates)();
}

describe('remote-protocol server under hostile input', () => {
  it('answers 3000 random packets and stays in sync', { timeout: 60_000 }, async () => {
    const client = await RspClient.connect(server.socketPath);
    const random = new Random(42);
    let previous = '';
    for (let i = 0; i < 3000; i++) {
      const packet = randomPacket(random);
      if (packet === 'QStartNoAckMode' || packet.startsWith('k')) continue; // no-ack is tested on its own; kill has no reply
      client.send(packet);
      client.send('qC');
      const replies = await client.until(SENTINEL);
      if (packet === 'qC') await client.until(SENTINEL); // the sentinel's own reply
      // One reply for the packet, one for the sentinel (a random qC is its own sentinel).
      expect(replies.length, `reply to ${JSON.stringify(packet.slice(0, 80))} after ${JSON.stringify(previous.slice(0, 80))}: ${JSON.stringify(replies.map((r) => r.slice(0, 40)))}`).toBe(packet === 'qC' ? 1 : 2);
      previous = packet;
    }
    client.close();
  });

  it('NACKs bad checksums and skips garbage between packets', async () => {
    const client = await RspClient.connect(server.socketPath);
    client.sendRaw('$g#00');
    client.sendRaw('random garbage \x00\xff without framing');
    client.send('qC');
    await client.until(SENTINEL);
    client.close();
  });

  it('refuses an oversized packet without buffering it, then carries on', async () => {
    const client = await RspClient.connect(server.socketPath);
    client.sendRaw(Buffer.concat([Buffer.from('$'), Buffer.alloc(MAX_INCOMING_PACKET + 100, 0x41), Buffer.from('#00')]));
    const replies = await client.until(/^E\.packet too long$/);
    expect(replies.at(-1)).toBe('E.packet too long');
    client.send('qC');
    await client.until(SENTINEL);
    client.close();
  });

  it('refuses writes and resumption with the read-only error, and never serves files outside the root', async () => {
    const client = await RspClient.connect(server.socketPath);
    for (const packet of ['M1000,4:00000000', 'X1000,1:a', 'G00', 'P0=00']) {
      client.send(packet);
      expect((await client.until(/^E\./)).at(-1)).toBe('E.the checkpoint is read-only');
    }
    // A request to run stops at once, where the process was, at the end of its recorded history.
    for (const packet of ['c', 'vCont;c', 's', 'vCont;s:p1.1', 'C05']) {
      client.send(packet);
      expect((await client.until(/^T/)).at(-1)).toMatch(/^T00replaylog:end;thread:p[0-9a-f]+\.[0-9a-f]+;$/);
    }
    client.send(`vFile:open:${Buffer.from('/etc/passwd').toString('hex')},0,0`);
    expect((await client.until(/^F/)).at(-1)).toBe('F-1,2');
    client.send(`vFile:open:${Buffer.from('/proc/1/environ').toString('hex')},0,0`);
    expect((await client.until(/^F/)).at(-1)).toBe('F-1,2');
    client.send(`vFile:open:${Buffer.from(`/proc/${pid}/maps`).toString('hex')},1,0`);
    expect((await client.until(/^F/)).at(-1)).toBe('F-1,1e');
    client.close();
  });

  it('keeps answering in no-ack mode', async () => {
    const client = await RspClient.connect(server.socketPath);
    client.send('QStartNoAckMode');
    await client.until(/^OK$/);
    client.sendRaw('$g#00');
    client.send('qC');
    await client.until(SENTINEL);
    expect(client.pending()).not.toContain('-');
    client.close();
  });
});
