/** A register value as gdb's remote protocol carries it on little-endian machines: 8 bytes. */
export function u64(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt.asUintN(64, value));
  return out;
}

/** A 32-bit register value, little-endian: 4 bytes. */
export function u32(value: bigint | number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(value))));
  return out;
}
