import { describe, expect, it } from 'vitest';
import { binaryRunLength, checksum, escapeBinary, framePacket, hexRunLength, MAX_INCOMING_PACKET, memoryReply, PacketDecoder, runLengthEncode, unescapeBinary } from '../../src/rsp/packets.js';

describe('remote protocol framing', () => {
  it('frames packets with a modulo-256 checksum', () => {
    expect(framePacket('OK').toString()).toBe('$OK#9a');
    expect(checksum(Buffer.from('qSupported'))).toBe('37');
  });

  it('escapes and unescapes the four special bytes', () => {
    const raw = Buffer.from([0x23, 0x24, 0x7d, 0x2a, 0x41]);
    const escaped = escapeBinary(raw);
    expect(escaped.toString('hex')).toBe('7d037d047d5d7d0a41');
    expect(unescapeBinary(escaped).equals(raw)).toBe(true);
  });

  it('decodes packets split across chunks, acks and interrupts', () => {
    const decoder = new PacketDecoder();
    expect(decoder.push(Buffer.from('+$qSupp'))).toEqual([{ type: 'ack' }]);
    expect(decoder.push(Buffer.from('orted#3'))).toEqual([]);
    expect(decoder.push(Buffer.from('7\x03-'))).toEqual([
      { type: 'packet', payload: Buffer.from('qSupported') },
      { type: 'interrupt' },
      { type: 'nack' },
    ]);
  });

  it('reports a bad checksum instead of the packet', () => {
    const decoder = new PacketDecoder();
    expect(decoder.push(Buffer.from('$g#00'))).toEqual([{ type: 'bad-checksum', payload: Buffer.from('g') }]);
  });

  it('skips garbage between packets', () => {
    const decoder = new PacketDecoder();
    expect(decoder.push(Buffer.from('garbage$g#67'))).toEqual([{ type: 'packet', payload: Buffer.from('g') }]);
  });

  it('drops an oversized packet without buffering it, then recovers', () => {
    const decoder = new PacketDecoder();
    const huge = Buffer.alloc(MAX_INCOMING_PACKET + 10, 0x41);
    expect(decoder.push(Buffer.concat([Buffer.from('$'), huge]))).toEqual([]);
    expect(decoder.push(Buffer.from('AAAA#00$g#67'))).toEqual([{ type: 'oversized' }, { type: 'packet', payload: Buffer.from('g') }]);
  });
});

describe('run-length encoding', () => {
  function decode(text: string): string {
    return text.replace(/(.)\*(.)/g, (_m, char: string, count: string) => char.repeat(count.charCodeAt(0) - 29 + 1));
  }

  it('round-trips runs of every length, never using # or $ as a count', () => {
    for (let run = 1; run <= 300; run++) {
      const text = `ab${'0'.repeat(run)}cd`;
      const encoded = runLengthEncode(Buffer.from(text)).toString('latin1');
      expect(decode(encoded)).toBe(text);
      expect(encoded).not.toMatch(/\*[#$]/);
    }
  });

  it('shrinks a zero page to a few dozen bytes', () => {
    expect(runLengthEncode(Buffer.from('0'.repeat(8192))).length).toBeLessThan(300);
  });
});

describe('hex run-length encoding of memory', () => {
  it('equals hex encoding followed by run-length encoding', () => {
    const samples = [Buffer.alloc(0), Buffer.alloc(4096), Buffer.from('0011223344556677', 'hex'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256))];
    for (let i = 0; i < 50; i++) samples.push(Buffer.from(Array.from({ length: 1 + ((i * 37) % 300) }, (_, j) => (j % (1 + (i % 5)) === 0 ? 0 : (i * j) % 256))));
    for (const sample of samples) {
      expect(hexRunLength(sample).equals(runLengthEncode(Buffer.from(sample.toString('hex'))))).toBe(true);
    }
  });
});

describe('binary run-length encoding of memory (x packet replies)', () => {
  /** What gdb does with a reply: expand runs of the byte before `*` at the frame level, then unescape. */
  function gdbDecode(reply: Buffer): Buffer {
    const expanded: number[] = [];
    for (let i = 0; i < reply.length; i++) {
      if (reply[i] === 0x2a && expanded.length > 0) {
        const previous = expanded[expanded.length - 1]!;
        for (let n = reply[++i]! - 29; n > 0; n--) expanded.push(previous);
      } else expanded.push(reply[i]!);
    }
    return unescapeBinary(Buffer.from(expanded));
  }

  it('round-trips runs of every byte that needs escaping and of plain bytes, with no raw # $ or count # $', () => {
    for (const byte of [0x00, 0x23, 0x24, 0x2a, 0x7d, 0x41, 0xff]) {
      for (let run = 1; run <= 200; run += 7) {
        const data = Buffer.concat([Buffer.from([1, 2]), Buffer.alloc(run, byte), Buffer.from([byte ^ 1])]);
        const reply = binaryRunLength(data);
        expect(gdbDecode(reply).equals(data), `byte ${byte} run ${run}`).toBe(true);
        expect(reply.includes(0x23) || reply.includes(0x24)).toBe(false);
      }
    }
  });

  it('round-trips pseudo-random memory and shrinks a zero page', () => {
    let seed = 12345;
    const random = Buffer.from(Array.from({ length: 70_000 }, () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16) & 0xff));
    expect(gdbDecode(binaryRunLength(random)).equals(random)).toBe(true);
    expect(binaryRunLength(Buffer.alloc(4096)).length).toBeLessThan(150);
  });
});

describe('framed memory replies (one allocation)', () => {
  it('equal the payload encoded, then framed with its checksum computed independently', () => {
    const independentFrame = (payload: Buffer): string => {
      let sum = 0;
      for (const byte of payload) sum = (sum + byte) % 256;
      return `$${payload.toString('latin1')}#${sum.toString(16).padStart(2, '0')}`;
    };
    let seed = 99;
    const samples = [Buffer.alloc(0), Buffer.alloc(4096), Buffer.alloc(37, 0x23), Buffer.from('7d2a2324', 'hex')];
    for (let i = 0; i < 30; i++) samples.push(Buffer.from(Array.from({ length: 1 + i * 97 }, (_, j) => (j % (2 + (i % 4)) === 0 ? 0 : ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16) & 0xff))));
    for (const sample of samples) {
      const hex = runLengthEncode(Buffer.from(sample.toString('hex')));
      expect(memoryReply(sample, 'hex').bytes.toString('latin1')).toBe(independentFrame(hex));
      const binary = Buffer.concat([Buffer.from('b'), binaryRunLength(sample)]);
      expect(memoryReply(sample, 'binary').bytes.toString('latin1')).toBe(independentFrame(binary));
    }
  });
});
