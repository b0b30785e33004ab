import { ImageError } from '../errors.js';

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/**
 * A minimal protobuf wire-format reader for the one image that grows with the checkpoint (the pagemap):
 * reading thousands of small entries through reflection costs tens of milliseconds; this costs one.
 * Only varint fields are returned; other wire types are skipped with bounds checks.
 */
export class WireReader {
  private position = 0;

  constructor(
    private readonly data: Buffer,
    private readonly image: string,
    /** Offset of `data` in the image, for error messages. */
    private readonly base: number,
  ) {}

  get atEnd(): boolean {
    return this.position >= this.data.length;
  }

  private fail(problem: string): never {
    throw new ImageError('bad-entry', this.image, this.base + this.position, problem);
  }

  /** Reads one varint as a bigint (up to 64 bits). */
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.data.length) this.fail('varint runs past the end of the entry');
      const byte = this.data[this.position++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    return this.fail('varint is longer than 10 bytes');
  }

  /** Reads the next field: its number and, for varints, its value (undefined for skipped wire types). */
  field(): { number: number; value: bigint | undefined } {
    const key = this.varint();
    const number = Number(key >> 3n);
    const type = Number(key & 7n);
    if (number === 0) this.fail('field number 0');
    switch (type) {
      case VARINT:
        return { number, value: this.varint() };
      case FIXED64:
        this.skip(8);
        return { number, value: undefined };
      case FIXED32:
        this.skip(4);
        return { number, value: undefined };
      case LENGTH_DELIMITED: {
        const length = this.varint();
        if (length > BigInt(this.data.length - this.position)) this.fail(`field ${number} of ${length} bytes runs past the end of the entry`);
        this.skip(Number(length));
        return { number, value: undefined };
      }
      default:
        return this.fail(`field ${number} has unsupported wire type ${type}`);
    }
  }

  /**
   * Counts the elements of repeated field `number` in the rest of the data without decoding them: each
   * occurrence is one element, except a packed run of varints (`packed`), whose elements are its bytes
   * without the continuation bit. Lets a caller refuse a claimed count before protobufjs allocates it.
   * Damaged data ends the count where it starts: the decoder then reports the damage itself.
   */
  countRepeated(number: number, packed: boolean): number {
    let count = 0;
    try {
      this.countInto(number, packed, (n) => (count += n));
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
    }
    return count;
  }

  private countInto(number: number, packed: boolean, add: (n: number) => void): void {
    while (!this.atEnd) {
      const key = this.varint();
      const field = Number(key >> 3n);
      const type = Number(key & 7n);
      if (type === LENGTH_DELIMITED) {
        const length = this.varint();
        if (length > BigInt(this.data.length - this.position)) this.fail(`field ${field} of ${length} bytes runs past the end of the entry`);
        const end = this.position + Number(length);
        if (field === number && !packed) add(1);
        else if (field === number) for (let at = this.position; at < end; at++) if ((this.data[at]! & 0x80) === 0) add(1);
        this.position = end;
        continue;
      }
      if (field === number) add(1);
      if (type === VARINT) this.varint();
      else if (type === FIXED64) this.skip(8);
      else if (type === FIXED32) this.skip(4);
      else this.fail(`field ${field} has unsupported wire type ${type}`);
    }
  }

  private skip(bytes: number): void {
    if (this.position + bytes > this.data.length) this.fail('field runs past the end of the entry');
    this.position += bytes;
  }
}
