/**
 * The table-driven decoder (src/images/decode.ts) against protobufjs, an independent implementation of the
 * wire format: every entry of the real checkpoints' main images decodes to the same fields and defaults,
 * and crafted payloads cover what real images rarely hold (packed runs, 10-byte varints, unknown fields,
 * wrong wire types, missing required fields).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeMessage, WireError } from '../../src/images/decode.js';
import { messageLayout } from '../../src/images/schema.js';
import { CHECKPOINTS_DIR, FIXTURES_DIR } from '../helpers/checkpoints.js';
import { messageType } from '../helpers/proto-types.js';

/** Image name patterns and the message types of their entries (the first entry's type, then the rest's). */
const IMAGE_TYPES: Array<{ pattern: RegExp; first: string; rest: string }> = [
  { pattern: /^core-\d+\.img$/, first: 'CoreEntry', rest: 'CoreEntry' },
  { pattern: /^mm-\d+\.img$/, first: 'MmEntry', rest: 'MmEntry' },
  { pattern: /^pstree\.img$/, first: 'PstreeEntry', rest: 'PstreeEntry' },
  { pattern: /^files\.img$/, first: 'FileEntry', rest: 'FileEntry' },
  { pattern: /^fdinfo-\d+\.img$/, first: 'FdinfoEntry', rest: 'FdinfoEntry' },
  { pattern: /^fs-\d+\.img$/, first: 'FsEntry', rest: 'FsEntry' },
  { pattern: /^ids-\d+\.img$/, first: 'TaskKobjIds', rest: 'TaskKobjIds' },
  { pattern: /^pagemap-\d+\.img$/, first: 'PagemapHead', rest: 'PagemapEntry' },
  { pattern: /^inventory\.img$/, first: 'InventoryEntry', rest: 'InventoryEntry' },
];

/** Plain, comparable form of a decoded value: 64-bit values as decimal strings, bytes as hex. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    if ('low' in value && 'high' in value && 'unsigned' in value) {
      const long = value as { low: number; high: number; unsigned: boolean };
      const bits = (BigInt(long.high >>> 0) << 32n) | BigInt(long.low >>> 0);
      return (long.unsigned ? bits : BigInt.asIntN(64, bits)).toString();
    }
    return Object.fromEntries(Object.keys(value).map((key) => [key, plain((value as Record<string, unknown>)[key])]));
  }
  return value;
}

/** Every field of `type` as read from `message` (present or default), recursively for present sub-messages. */
function everyField(type: protobuf.Type, message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    const present = Object.prototype.hasOwnProperty.call(message, field.name) && !(Array.isArray(value) && value.length === 0);
    out[`${field.name}?`] = present;
    if (field.resolvedType && 'fieldsArray' in field.resolvedType && value) {
      const sub = field.resolvedType as protobuf.Type;
      out[field.name] = Array.isArray(value) ? value.map((v: Record<string, unknown>) => everyField(sub, v)) : everyField(sub, value as Record<string, unknown>);
    } else if (field.type === 'bytes' && !field.repeated) out[field.name] = Buffer.from(value as Uint8Array).toString('hex');
    else out[field.name] = plain(Array.isArray(value) && value.length === 0 ? [] : value);
  }
  return out;
}

function expectSameDecoding(typeName: string, payload: Buffer): void {
  const type = messageType(typeName);
  const theirs = everyField(type, type.decode(payload) as unknown as Record<string, unknown>);
  const ours = everyField(type, decodeMessage(messageLayout(typeName), payload) as Record<string, unknown>);
  expect(ours).toEqual(theirs);
}

function entriesOf(file: string, headerBytes: number): Buffer[] {
  const data = readFileSync(file);
  const entries: Buffer[] = [];
  for (let at = headerBytes; at + 4 <= data.length; ) {
    const length = data.readUInt32LE(at);
    entries.push(data.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return entries;
}

function imageDirectories(): string[] {
  const dirs = [join(FIXTURES_DIR, 'demo', 'checkpoint'), join(FIXTURES_DIR, 'pie-threads', 'checkpoint')];
  if (existsSync(CHECKPOINTS_DIR)) {
    for (const name of readdirSync(CHECKPOINTS_DIR)) {
      const images = join(CHECKPOINTS_DIR, name, 'images');
      if (existsSync(join(images, 'inventory.img'))) dirs.push(images);
    }
  }
  return dirs;
}

describe('the table-driven decoder', () => {
  it('decodes every entry of the real checkpoints as protobufjs does', () => {
    let entries = 0;
    const seen = new Set<string>();
    for (const dir of imageDirectories()) {
      for (const name of readdirSync(dir)) {
        const kind = IMAGE_TYPES.find((k) => k.pattern.test(name));
        if (!kind) continue;
        seen.add(kind.first);
        const list = entriesOf(join(dir, name), name === 'inventory.img' ? 4 : 8);
        for (const [index, payload] of list.entries()) {
          expectSameDecoding(index === 0 ? kind.first : kind.rest, payload);
          entries++;
        }
      }
    }
    expect([...seen].sort()).toEqual([...new Set(IMAGE_TYPES.map((k) => k.first))].sort());
    expect(entries).toBeGreaterThan(100);
  });

  it('reads extreme integers, packed and unpacked runs, defaults and repeated fields as protobufjs does', () => {
    const core = messageType('CoreEntry');
    const cases: Array<[string, Record<string, unknown>]> = [
      ['CoreEntry', {
        mtype: 1,
        tc: { task_state: 1, exit_code: -5, personality: 0xffffffff, flags: 0, blk_sigset: '18446744073709551615', comm: 'x\u00e9\u{1f600}' },
        thread_core: { futex_rla: '0', futex_rla_len: 0, sched_nice: -20, blk_sigset: '1', comm: '' },
      }],
      ['MmEntry', { mm_start_code: '0', mm_end_code: '18446744073709551615', mm_start_data: '0', mm_end_data: '0', mm_start_stack: '0', mm_start_brk: '0', mm_brk: '0', mm_arg_start: '0', mm_arg_end: '0', mm_env_start: '0', mm_env_end: '0', exe_file_id: 7, mm_saved_auxv: ['1', '18446744073709551615', '0'], vmas: [] }],
      ['FdinfoEntry', { id: 1, flags: 0, type: 1, fd: 2147483647 }],
      ['FileLockEntry', { flag: 4294967295, type: 1, pid: -1, fd: -2147483648, start: '-9223372036854775808', len: '-1' }],
    ];
    for (const [typeName, fields] of cases) {
      const type = messageType(typeName);
      expectSameDecoding(typeName, Buffer.from(type.encode(type.fromObject(fields)).finish()));
    }
    // A packed run of the repeated auxv words (field 14 of MmEntry, wire type 2), which protobufjs reads too.
    const mm = messageType('MmEntry');
    const unpacked = Buffer.from(mm.encode(mm.fromObject(cases[1]![1])).finish());
    const auxvField = mm.fields['mm_saved_auxv']!.id;
    const packedWords = Buffer.from([0x01, 0x80, 0x01, 0x00]);
    const packed = Buffer.concat([unpacked.subarray(0, 0), Buffer.from([((auxvField << 3) | 2) & 0x7f | ((auxvField << 3) > 0x7f ? 0x80 : 0), ...((auxvField << 3) > 0x7f ? [(auxvField << 3) >> 7] : []), packedWords.length]), packedWords, stripField(unpacked, auxvField)]);
    expectSameDecoding('MmEntry', packed);
    expect(core.fields['mtype']?.required).toBe(true);
  });

  it('skips unknown fields and fields sent with another wire type, and refuses what does not decode', () => {
    const type = messageType('FdinfoEntry');
    const valid = Buffer.from(type.encode(type.fromObject({ id: 3, flags: 2, type: 1, fd: 9 })).finish());
    const layout = messageLayout('FdinfoEntry');
    // Unknown field 99 (varint), unknown group 98, then the known fields.
    const unknown = Buffer.concat([Buffer.from([0x98, 0x06, 0x2a, 0x93, 0x06, 0x08, 0x01, 0x94, 0x06]), valid]);
    expect(plain(decodeMessage(layout, unknown))).toEqual(plain(type.decode(valid)));
    // Field 1 (id) sent as a length-delimited value: skipped, so the later valid id wins and nothing is misread.
    const wrongWire = Buffer.concat([Buffer.from([0x0a, 0x02, 0xff, 0xff]), valid]);
    expect(plain(decodeMessage(layout, wrongWire))).toEqual(plain(type.decode(valid)));
    const refused: Array<[string, Buffer, RegExp]> = [
      ['truncated varint', Buffer.from([0x08, 0x80]), /truncated/],
      ['length past the end', Buffer.from([0x0a, 0x05, 0x00]), /runs past the end/],
      ['11-byte varint', Buffer.concat([Buffer.from([0x08]), Buffer.alloc(10, 0xff), Buffer.from([0x01])]), /longer than 10 bytes/],
      ['invalid wire type', Buffer.from([0x0e]), /invalid wire type 6/],
      ['field number 0', Buffer.from([0x00, 0x00]), /field number 0/],
      ['missing required', Buffer.from([0x08, 0x03]), /missing required field 'flags' of FdinfoEntry/],
      ['unterminated group', Buffer.from([0x93, 0x06, 0x08, 0x01]), /truncated/],
    ];
    for (const [what, payload, message] of refused) {
      expect(() => decodeMessage(layout, payload), what).toThrow(WireError);
      expect(() => decodeMessage(layout, payload), what).toThrow(message);
    }
  });
});

/** `payload` without the entries of field `number` (varint or length-delimited ones only). */
function stripField(payload: Buffer, number: number): Buffer {
  const kept: Buffer[] = [];
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = payload[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < payload.length) {
    const start = at;
    const tag = varint();
    if (tag % 8 === 0) varint();
    else at += varint();
    if (Math.floor(tag / 8) !== number) kept.push(payload.subarray(start, at));
  }
  return Buffer.concat(kept);
}
