/**
 * Decodes a protobuf message by walking its {@link MessageLayout}: one loop over the wire, no generated code.
 *
 * Decoded messages are plain objects whose prototype holds the defaults: a field present on the wire is an
 * own property, an absent one reads as its default (an absent repeated field as an empty array). 64-bit integers
 * are bigints, bytes are views of the payload. As protobuf parsers do, unknown fields and fields sent with
 * another wire type than their own are skipped; packed and unpacked repeated scalars are both accepted.
 */
import { NO_VALUES, subLayout, type FieldLayout, type MessageLayout, type ScalarType } from './schema.js';

/** A payload that does not decode as its message type; the caller names the image and offset. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const GROUP_START = 3;
const GROUP_END = 4;
const FIXED32 = 5;

/** The wire type each scalar type is written with (packed repeated fields use LENGTH_DELIMITED). */
const WIRE_TYPES: Record<ScalarType | 'message', number> = {
  int32: VARINT, uint32: VARINT, sint32: VARINT, bool: VARINT, enum: VARINT,
  int64: VARINT, uint64: VARINT, sint64: VARINT,
  fixed32: FIXED32, sfixed32: FIXED32, float: FIXED32,
  fixed64: FIXED64, sfixed64: FIXED64, double: FIXED64,
  string: LENGTH_DELIMITED, bytes: LENGTH_DELIMITED, message: LENGTH_DELIMITED,
};

/** Nesting deeper than this is refused (the schema's deepest is a few levels; hostile data could recurse). */
const MAX_DEPTH = 64;

class Cursor {
  position: number;
  /** The two halves of the last 64-bit varint read by {@link varint64}. */
  low = 0;
  high = 0;

  constructor(
    readonly data: Buffer,
    start: number,
    /** The end of the message being read (nested messages narrow it, then restore it). */
    public end: number,
  ) {
    this.position = start;
  }

  private truncated(): never {
    throw new WireError(`truncated at byte ${this.position}`);
  }

  /** Reads a varint of up to 10 bytes into {@link low} and {@link high}. */
  varint64(): void {
    const data = this.data;
    let low = 0;
    let high = 0;
    let at = this.position;
    for (let shift = 0; shift < 28; shift += 7) {
      if (at >= this.end) this.truncated();
      const byte = data[at++]!;
      low |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.done(at, low, 0);
    }
    if (at >= this.end) this.truncated();
    let byte = data[at++]!;
    low |= (byte & 0x7f) << 28;
    high = (byte & 0x7f) >>> 4;
    if (byte < 0x80) return this.done(at, low, high);
    for (let shift = 3; shift < 32; shift += 7) {
      if (at >= this.end) this.truncated();
      byte = data[at++]!;
      high |= (byte & 0x7f) << shift;
      if (byte < 0x80) return this.done(at, low, high);
    }
    throw new WireError(`varint longer than 10 bytes at byte ${this.position}`);
  }

  private done(at: number, low: number, high: number): void {
    this.position = at;
    this.low = low >>> 0;
    this.high = high >>> 0;
  }

  /** A varint that must fit in 32 bits unsigned (lengths and tags). */
  uint32(): number {
    this.varint64();
    return this.low;
  }

  /**
   * Narrows the cursor to the length-delimited value that starts here (its varint length first); returns
   * the end to restore once the value is read.
   */
  enter(): number {
    const length = this.uint32();
    const start = this.take(length);
    const outer = this.end;
    this.position = start;
    this.end = start + length;
    return outer;
  }

  /** `length` bytes from here: [start, end). */
  take(length: number): number {
    const start = this.position;
    if (length > this.end - start) throw new WireError(`length ${length} at byte ${start} runs past the end of its message`);
    this.position = start + length;
    return start;
  }

  /** Skips a value of wire type `wire` (groups to their end). */
  skip(wire: number, field: number, depth: number): void {
    switch (wire) {
      case VARINT:
        this.varint64();
        return;
      case FIXED64:
        this.take(8);
        return;
      case LENGTH_DELIMITED:
        this.take(this.uint32());
        return;
      case FIXED32:
        this.take(4);
        return;
      case GROUP_START:
        if (depth >= MAX_DEPTH) throw new WireError('groups nested too deeply');
        for (;;) {
          if (this.position >= this.end) this.truncated();
          const tag = this.uint32();
          if ((tag & 7) === GROUP_END) {
            if (tag >>> 3 !== field) throw new WireError(`group ${field} ends as group ${tag >>> 3}`);
            return;
          }
          this.skip(tag & 7, tag >>> 3, depth + 1);
        }
      default:
        throw new WireError(`invalid wire type ${wire} at byte ${this.position}`);
    }
  }
}

function unsigned64(low: number, high: number): bigint {
  return high === 0 ? BigInt(low) : (BigInt(high) << 32n) | BigInt(low);
}

/** One value of a scalar field whose wire type matched. */
function readScalar(cursor: Cursor, type: ScalarType): unknown {
  const data = cursor.data;
  switch (type) {
    case 'int32':
    case 'enum':
      cursor.varint64();
      return cursor.low | 0;
    case 'uint32':
      cursor.varint64();
      return cursor.low;
    case 'sint32':
      cursor.varint64();
      return (cursor.low >>> 1) ^ -(cursor.low & 1);
    case 'bool':
      cursor.varint64();
      return cursor.low !== 0 || cursor.high !== 0;
    case 'uint64':
      cursor.varint64();
      return unsigned64(cursor.low, cursor.high);
    case 'int64':
      cursor.varint64();
      return BigInt.asIntN(64, unsigned64(cursor.low, cursor.high));
    case 'sint64': {
      cursor.varint64();
      const zigzag = unsigned64(cursor.low, cursor.high);
      return (zigzag >> 1n) ^ -(zigzag & 1n);
    }
    case 'fixed32':
      return data.readUInt32LE(cursor.take(4));
    case 'sfixed32':
      return data.readInt32LE(cursor.take(4));
    case 'float':
      return data.readFloatLE(cursor.take(4));
    case 'fixed64':
      return data.readBigUInt64LE(cursor.take(8));
    case 'sfixed64':
      return data.readBigInt64LE(cursor.take(8));
    case 'double':
      return data.readDoubleLE(cursor.take(8));
    case 'string': {
      const length = cursor.uint32();
      const start = cursor.take(length);
      return data.toString('utf8', start, start + length);
    }
    case 'bytes': {
      const length = cursor.uint32();
      const start = cursor.take(length);
      return data.subarray(start, start + length);
    }
  }
}

function readMessage(cursor: Cursor, layout: MessageLayout, depth: number): object {
  if (depth > MAX_DEPTH) throw new WireError('messages nested too deeply');
  const message = Object.create(layout.defaults) as Record<string, unknown>;
  while (cursor.position < cursor.end) {
    const tag = cursor.uint32();
    const number = tag >>> 3;
    const wire = tag & 7;
    if (number === 0) throw new WireError(`field number 0 at byte ${cursor.position}`);
    const field = layout.fields.get(number);
    if (!field) {
      cursor.skip(wire, number, depth);
      continue;
    }
    readField(cursor, field, number, wire, message, depth);
  }
  for (const name of layout.required) {
    if (!Object.prototype.hasOwnProperty.call(message, name)) throw new WireError(`missing required field '${name}' of ${layout.name}`);
  }
  return message;
}

function readField(cursor: Cursor, field: FieldLayout, number: number, wire: number, message: Record<string, unknown>, depth: number): void {
  const expected = WIRE_TYPES[field.type];
  let value: unknown;
  if (field.type === 'message') {
    if (wire !== LENGTH_DELIMITED) return cursor.skip(wire, number, depth);
    const outer = cursor.enter();
    value = readMessage(cursor, subLayout(field), depth + 1);
    cursor.end = outer;
  } else if (wire === expected) {
    value = readScalar(cursor, field.type);
  } else if (field.repeated && wire === LENGTH_DELIMITED && expected !== LENGTH_DELIMITED) {
    // Packed: the values one after the other in one length-delimited run.
    const outer = cursor.enter();
    while (cursor.position < cursor.end) append(message, field.name, readScalar(cursor, field.type));
    cursor.end = outer;
    return;
  } else {
    return cursor.skip(wire, number, depth);
  }
  if (field.repeated) append(message, field.name, value);
  else message[field.name] = value;
}

/** Adds a value to a repeated field, giving the message its own array at the first value. */
function append(message: Record<string, unknown>, name: string, value: unknown): void {
  const list = message[name] as unknown[];
  if (list === NO_VALUES) message[name] = [value];
  else list.push(value);
}

/** Decodes `payload` as one message of `layout`; throws a {@link WireError} when it does not decode. */
export function decodeMessage(layout: MessageLayout, payload: Uint8Array): object {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return readMessage(new Cursor(data, 0, data.length), layout, 0);
}
