import type { MemoryRead } from '../model/memory.js';

/**
 * Formats a memory read like `xxd`: 16 bytes a line with address, hex and ASCII. Unavailable bytes show as
 * `??` in hex and a space in ASCII, and every unavailable range is listed below with its reason.
 */
export function formatHexdump(read: MemoryRead): string {
  const lines: string[] = [];
  const { address, data, unavailable } = read;
  const missing = (offset: number): boolean => {
    const at = address + BigInt(offset);
    return unavailable.some((range) => at >= range.start && at < range.end);
  };
  for (let line = 0; line < data.length; line += 16) {
    const hexParts: string[] = [];
    let ascii = '';
    for (let i = line; i < line + 16; i++) {
      if (i >= data.length) {
        hexParts.push('  ');
        continue;
      }
      if (missing(i)) {
        hexParts.push('??');
        ascii += ' ';
        continue;
      }
      const byte = data[i]!;
      hexParts.push(byte.toString(16).padStart(2, '0'));
      ascii += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
    }
    const grouped = [0, 4, 8, 12].map((g) => hexParts.slice(g, g + 4).join(' ')).join('  ');
    lines.push(`${(address + BigInt(line)).toString(16).padStart(12, '0')}  ${grouped}  |${ascii}|`);
  }
  for (const range of unavailable) {
    lines.push(`unavailable 0x${range.start.toString(16)}-0x${range.end.toString(16)}: ${range.reason}`);
  }
  return lines.join('\n');
}
