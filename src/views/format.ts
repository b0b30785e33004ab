/** Text building blocks of the views: tables, sizes, addresses, JSON. */
/**
 * `text` with every control character (C0, DEL, C1) but those in `keep` written as `\xNN`, so that text
 * from images (thread names, paths, config.dump fields) cannot drive the terminal: set its title, clear
 * it, write the clipboard (OSC 52) or start a new table row.
 */
export function escapeControls(text: string, keep = ''): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (char) => (keep.includes(char) ? char : `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/**
 * Formats rows as left-aligned columns separated by two spaces; the last column is not padded. Control
 * characters in cells are escaped ({@link escapeControls}), newlines included: one row is one line.
 */
export function formatTable(header: readonly string[], cells: readonly (readonly string[])[]): string {
  const rows = cells.map((row) => row.map((cell) => escapeControls(cell)));
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
  try {
    return JSON.stringify(value, (_key, v: unknown) => jsonBigint(v), 2);
  } catch (error) {
    // JSON.stringify recurses: a tree as deep as a chain of processes overflows the call stack. Such a
    // tree is written without indentation, which would grow with the square of its depth.
    if (!(error instanceof RangeError)) throw error;
    return deepJson(value);
  }
}

function jsonBigint(v: unknown): unknown {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  return v;
}

/** A value as JSON.stringify would make it (toJSON, bigints as {@link toJson} has them), before nesting. */
function jsonValue(v: unknown): unknown {
  const own = typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function' ? (v as { toJSON: () => unknown }).toJSON() : v;
  return jsonBigint(own);
}

function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/** {@link toJson}'s value as compact JSON, made with an explicit stack instead of recursion. */
function deepJson(value: unknown): string {
  type Level = { items: Array<[string | undefined, unknown]>; next: number; close: string };
  const out: string[] = [];
  const stack: Level[] = [];
  const write = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      out.push(JSON.stringify(v) ?? 'null');
      return;
    }
    const items: Array<[string | undefined, unknown]> = Array.isArray(v)
      ? v.map((item): [undefined, unknown] => [undefined, jsonValue(item)])
      : Object.entries(v).flatMap(([key, item]): Array<[string, unknown]> => {
          const prepared = jsonValue(item);
          return omitted(prepared) ? [] : [[key, prepared]];
        });
    const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
    if (items.length === 0) out.push(`${open}${close}`);
    else {
      out.push(open);
      stack.push({ items, next: 0, close });
    }
  };
  write(jsonValue(value));
  for (let level = stack[stack.length - 1]; level; level = stack[stack.length - 1]) {
    if (level.next >= level.items.length) {
      out.push(level.close);
      stack.pop();
      continue;
    }
    const [key, item] = level.items[level.next]!;
    out.push(`${level.next === 0 ? '' : ','}${key === undefined ? '' : `${JSON.stringify(key)}:`}`);
    level.next++;
    write(key === undefined && omitted(item) ? null : item);
  }
  return out.join('');
}

/** Bytes as text: printable ASCII as is, anything else as `.`. */
export function printable(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
  return text;
}
