/** Wrapping of help text to a terminal's width (the CLI's and the views' help). */

/** Width the help text fits in. */
export const HELP_WIDTH = 80;

/**
 * Wraps `text` into lines of at most `width` columns: the first starts with `first`, the others with
 * `rest`. A word longer than a line stays whole on its own line.
 */
export function wrapWords(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

/**
 * Wraps each paragraph of `text` (paragraphs are separated by blank lines) to {@link HELP_WIDTH}
 * columns. Indented lines, such as examples, are kept as they are.
 */
export function wrapParagraphs(text: string): string {
  const out: string[] = [];
  let paragraph: string[] = [];
  const flush = (): void => {
    if (paragraph.length > 0) out.push(...wrapWords(paragraph.join(' '), HELP_WIDTH, '', ''));
    paragraph = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith(' ')) {
      flush();
      out.push(line);
    } else {
      paragraph.push(line);
    }
  }
  flush();
  return out.join('\n');
}

/**
 * Wraps a usage line (`criu-gdb search DIR PATTERN [--pid N | --all] ...`) to {@link HELP_WIDTH} columns
 * after `first`, breaking only between bracketed groups, and indents the other lines with `rest`.
 */
export function wrapUsage(usage: string, first: string, rest: string): string[] {
  const groups: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of usage) {
    if (char === '[') depth++;
    else if (char === ']') depth = Math.max(0, depth - 1);
    if (char === ' ' && depth === 0) {
      if (current !== '') groups.push(current);
      current = '';
    } else current += char;
  }
  if (current !== '') groups.push(current);
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const group of groups) {
    if (!empty && line.length + 1 + group.length > HELP_WIDTH) {
      lines.push(line);
      line = rest + group;
    } else line += (empty ? '' : ' ') + group;
    empty = false;
  }
  lines.push(line);
  return lines;
}
