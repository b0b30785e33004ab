/**
 * Typed access to decoded protobuf messages.
 *
 * The decoder (decode.ts) hands back loosely typed objects; these accessors turn them into the plain,
 * strictly typed values the model uses. Presence of optional (proto2) fields is honoured. A decoded
 * message is kept as the opaque type {@link Decoded}.
 */

/** A message as decode.ts decoded it. */
export type Decoded = object;

function raw(message: Decoded, field: string): unknown {
  return (message as Record<string, unknown>)[field];
}

/** Whether an optional field was present on the wire (or a repeated field is non-empty). */
export function has(message: Decoded, field: string): boolean {
  if (!Object.prototype.hasOwnProperty.call(message, field)) return false;
  const value = raw(message, field);
  return !(Array.isArray(value) && value.length === 0) && value !== undefined && value !== null;
}

/** A decoded integer (a bigint for 64-bit types, else a number) as a bigint. */
export function toBigInt(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  return 0n;
}

/** A uint64/fixed64 field (0n when absent). */
export function u64(message: Decoded, field: string): bigint {
  return toBigInt(raw(message, field));
}

/** An int64/sint64 field (0n when absent). */
export function i64(message: Decoded, field: string): bigint {
  return toBigInt(raw(message, field));
}

/** An optional 64-bit field, undefined when absent. */
export function optU64(message: Decoded, field: string): bigint | undefined {
  return has(message, field) ? u64(message, field) : undefined;
}

/** A 32-bit integer, enum or 64-bit value known to fit in a JS number (0 when absent). */
export function num(message: Decoded, field: string): number {
  const value = raw(message, field);
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  return 0;
}

/** An optional number field, undefined when absent. */
export function optNum(message: Decoded, field: string): number | undefined {
  return has(message, field) ? num(message, field) : undefined;
}

/** A bool field (false when absent). */
export function bool(message: Decoded, field: string): boolean {
  return raw(message, field) === true;
}

/** An optional bool field, undefined when absent. */
export function optBool(message: Decoded, field: string): boolean | undefined {
  return has(message, field) ? bool(message, field) : undefined;
}

/** A string field ('' when absent). */
export function str(message: Decoded, field: string): string {
  const value = raw(message, field);
  return typeof value === 'string' ? value : '';
}

/** An optional string field, undefined when absent. */
export function optStr(message: Decoded, field: string): string | undefined {
  return has(message, field) ? str(message, field) : undefined;
}

/** A bytes field (empty when absent). */
export function bytes(message: Decoded, field: string): Buffer {
  const value = raw(message, field);
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return Buffer.alloc(0);
}

/** A sub-message field, undefined when absent. */
export function sub(message: Decoded, field: string): Decoded | undefined {
  const value = raw(message, field);
  return has(message, field) && typeof value === 'object' && value !== null ? value : undefined;
}

/** A repeated sub-message field. */
export function subs(message: Decoded, field: string): Decoded[] {
  const value = raw(message, field);
  return Array.isArray(value) ? value.filter((v): v is Decoded => typeof v === 'object' && v !== null) : [];
}

/** A repeated 64-bit integer field. */
export function u64s(message: Decoded, field: string): bigint[] {
  const value = raw(message, field);
  return Array.isArray(value) ? value.map((v) => toBigInt(v)) : [];
}

/** A repeated 32-bit integer field. */
export function nums(message: Decoded, field: string): number[] {
  const value = raw(message, field);
  return Array.isArray(value) ? value.map((v) => (typeof v === 'number' ? v : Number(toBigInt(v)))) : [];
}

/** A repeated string field. */
export function strs(message: Decoded, field: string): string[] {
  const value = raw(message, field);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
