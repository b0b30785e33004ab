/** Text building blocks of the views: tables, sizes, addresses, JSON. */
/** Formats rows as left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  // A loop, not Math.max(...column): a spread of a hundred thousand rows overflows the stack.
  const widths = header.map(() => 0);
  for (const row of all) row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Formats a byte count as B, KiB, MiB or GiB. */
export function formatBytes(bytes: number | bigint): string {
  const value = Number(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  let scaled = value;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${scaled.toFixed(scaled >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** Hex address without padding, as /proc shows it. */
export function hex(value: bigint | number): string {
  return value.toString(16);
}

/** `0x`-prefixed hex, for JSON addresses. */
export function hexAddress(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/** JSON.stringify that writes bigints as decimal numbers when safe and as strings otherwise. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
      return v;
    },
    2,
  );
}

/** Bytes as text: printable ASCII as is, anything else as `.`. */
export function printable(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
  return text;
}
