import { UsageError } from '../errors.js';
import { Checkpoint } from '../model/checkpoint.js';
import { diffCheckpoints, type CheckpointDiff, type FdChanges, type MappingChange, type MemoryTotals, type PageRange } from '../model/diff.js';
import type { FdModel } from '../model/types.js';
import { accessMode } from './fds.js';
import { formatBytes, hex, hexAddress } from './format.js';
import { defineView, jsonOption } from './view.js';

/** Width of the text view. */
const WIDTH = 80;

/** `text` cut in the middle with `...` so that it is at most `width` characters. */
function elide(text: string, width: number): string {
  if (text.length <= width) return text;
  const keep = Math.max(0, width - 3);
  const head = Math.ceil(keep / 2);
  return `${text.slice(0, head)}...${text.slice(text.length - (keep - head))}`;
}

/** Words laid out in lines of at most WIDTH columns, each line starting with `indent`. */
function wrap(words: readonly string[], indent: string): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const word of words) {
    if (line.length > indent.length && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = indent;
    }
    line += line.length > indent.length ? ` ${word}` : word;
  }
  if (line.length > indent.length) lines.push(line);
  return lines;
}

function pageCount(count: number): string {
  return `${count} page${count === 1 ? '' : 's'}`;
}

function range(r: PageRange, pageBytes: number): string {
  const pages = Number((r.end - r.start) / BigInt(pageBytes));
  return pages === 1 ? hex(r.start) : `${hex(r.start)}-${hex(r.end)}`;
}

/** Ranges shown per mapping in text; --json lists them all. */
const MAX_RANGES = 32;

function ranges(list: readonly PageRange[], pageBytes: number): string[] {
  const shown = list.slice(0, MAX_RANGES).map((r) => range(r, pageBytes));
  if (list.length > MAX_RANGES) shown.push(`(${list.length - MAX_RANGES} more ranges: --json lists them all)`);
  return shown;
}

function fdLine(mark: string, fd: FdModel): string {
  const { family, state, local } = fd.details;
  const socket = family === undefined ? '' : ` ${[family === fd.kind ? undefined : family, state, local].filter((v) => v !== undefined).join(' ')}`;
  return elide(`    ${mark} ${fd.fd} ${fd.kind} ${accessMode(fd.flags)} ${fd.name}${socket}`, WIDTH);
}

/** What differs between two versions of a descriptor, as `key a -> b` words. */
function fdDelta(a: FdModel, b: FdModel): string {
  const parts: string[] = [];
  if (a.kind !== b.kind) parts.push(`kind ${a.kind} -> ${b.kind}`);
  if (a.name !== b.name) parts.push(`name ${a.name} -> ${b.name}`);
  if (a.flags !== b.flags) parts.push(`mode ${accessMode(a.flags)} -> ${accessMode(b.flags)}`);
  for (const key of new Set([...Object.keys(a.details), ...Object.keys(b.details)])) {
    const before = a.details[key];
    const after = b.details[key];
    if (before !== after) parts.push(`${key} ${before === undefined ? '-' : String(before)} -> ${after === undefined ? '-' : String(after)}`);
  }
  return parts.join(', ');
}

function fdSection(title: string, changes: FdChanges): string[] {
  if (changes.added.length + changes.removed.length + changes.changed.length === 0) return [];
  return [
    `  ${title}`,
    ...changes.added.map((fd) => fdLine('+', fd)),
    ...changes.removed.map((fd) => fdLine('-', fd)),
    ...changes.changed.map(({ a, b }) => elide(`    ~ ${b.fd} ${b.kind} ${b.name}: ${fdDelta(a, b)}`, WIDTH)),
  ];
}

function mappingLines(change: MappingChange, pageBytes: number): string[] {
  const end = change.endB ?? change.endA ?? change.start;
  const perms = change.permsB ?? change.permsA ?? '';
  const head = `${hex(change.start)}-${hex(end)} ${perms}`;
  const size = (to: bigint | undefined): number => (to === undefined ? 0 : Number((to - change.start) / BigInt(pageBytes)));
  const lines: string[] = [];
  switch (change.status) {
    case 'added':
      lines.push(`    + ${head} ${pageCount(size(change.endB))} ${change.name}`);
      break;
    case 'removed':
      lines.push(`    - ${head} ${pageCount(size(change.endA))} ${change.name}`);
      break;
    case 'resized':
      lines.push(`    ~ ${head} resized ${size(change.endA)} -> ${size(change.endB)} pages ${change.name}`);
      break;
    case 'changed': {
      const perms = change.permsA !== change.permsB ? ` perms ${change.permsA ?? ''} -> ${change.permsB ?? ''}` : '';
      lines.push(`    * ${head}${perms} ${change.name}`);
    }
  }
  const out = lines.map((line) => elide(line.trimEnd(), WIDTH));
  if (change.changedPages > 0) out.push(...wrap([`${pageCount(change.changedPages)} changed:`, ...ranges(change.changed, pageBytes)], '        '));
  if (change.unavailablePages > 0) out.push(...wrap([`${pageCount(change.unavailablePages)} unavailable:`, ...ranges(change.unavailable, pageBytes)], '        '));
  return out;
}

function totalsLine(totals: MemoryTotals, pageBytes: number): string[] {
  const bytes = (count: number): string => formatBytes(count * pageBytes);
  return wrap(
    [
      `memory: ${pageCount(totals.comparedPages)} compared,`,
      `${totals.changedPages} changed (${bytes(totals.changedPages)}),`,
      `${totals.unavailablePages} unavailable,`,
      `${totals.addedPages} added,`,
      `${totals.removedPages} removed`,
      `(${bytes(totals.readPages)} read)`,
    ],
    '',
  );
}

/** The diff as text of at most 80 columns (long names are cut in the middle). */
export function formatDiff(diff: CheckpointDiff): string {
  const { added, removed, changed } = diff.processes;
  const lines = [
    elide(`--- ${diff.a}`, WIDTH),
    elide(`+++ ${diff.b}`, WIDTH),
    `processes: ${added.length} added, ${removed.length} removed, ${changed.length} changed`,
    ...totalsLine(diff.memory, diff.pageBytes),
  ];
  const process = (mark: string, p: CheckpointDiff['processes']['added'][number]): string =>
    elide(`${mark} pid ${p.pid} (${p.comm}) ${p.threads} thread${p.threads === 1 ? '' : 's'}: ${p.cmdline?.join(' ') ?? '?'}`, WIDTH);
  const { mounts } = diff;
  if (mounts && mounts.added.length + mounts.removed.length + mounts.changed.length > 0) {
    const mountLine = (mark: string, m: { destination: string; type: string; source: string }): string => elide(`  ${mark} ${m.destination} ${m.type} ${m.source}`, WIDTH);
    lines.push('', 'mounts');
    for (const m of mounts.added) lines.push(mountLine('+', m));
    for (const m of mounts.removed) lines.push(mountLine('-', m));
    for (const { a, b } of mounts.changed) {
      const what = [a.type !== b.type ? `type ${a.type} -> ${b.type}` : '', a.source !== b.source ? `source ${a.source} -> ${b.source}` : '', a.options.join(',') !== b.options.join(',') ? `options ${a.options.join(',')} -> ${b.options.join(',')}` : '']
        .filter((part) => part !== '')
        .join(', ');
      lines.push(elide(`  ~ ${b.destination}: ${what}`, WIDTH));
    }
  }
  for (const p of added) lines.push('', process('+', p));
  for (const p of removed) lines.push('', process('-', p));
  for (const p of changed) {
    lines.push('', elide(`~ pid ${p.pid} (${p.comm})`, WIDTH));
    for (const value of p.values) lines.push(elide(`  ${value.field}: ${value.a} -> ${value.b}`, WIDTH));
    const { threads } = p;
    if (threads.added.length + threads.removed.length + threads.renamed.length > 0) {
      lines.push('  threads');
      for (const t of threads.added) lines.push(elide(`    + ${t.tid} ${t.name}`, WIDTH));
      for (const t of threads.removed) lines.push(elide(`    - ${t.tid} ${t.name}`, WIDTH));
      for (const t of threads.renamed) lines.push(elide(`    ~ ${t.tid} ${t.a} -> ${t.b}`, WIDTH));
    }
    lines.push(...fdSection('fds', p.fds), ...fdSection('sockets', p.sockets));
    if (p.mappings.length > 0) {
      lines.push('  mappings');
      for (const mapping of p.mappings) lines.push(...mappingLines(mapping, diff.pageBytes));
    }
    lines.push(...totalsLine(p.memory, diff.pageBytes).map((line) => `  ${line}`));
  }
  return lines.join('\n');
}

function totalsJson(totals: MemoryTotals, pageBytes: number): Record<string, number> {
  return { ...totals, changedBytes: totals.changedPages * pageBytes };
}

/** The diff as JSON: addresses as 0x hex strings. */
export function diffJson(diff: CheckpointDiff): unknown {
  const ranges = (list: PageRange[]): Array<{ start: string; end: string }> => list.map((r) => ({ start: hexAddress(r.start), end: hexAddress(r.end) }));
  return {
    a: diff.a,
    b: diff.b,
    mounts: diff.mounts,
    pageBytes: diff.pageBytes,
    memory: totalsJson(diff.memory, diff.pageBytes),
    processes: {
      added: diff.processes.added,
      removed: diff.processes.removed,
      changed: diff.processes.changed.map((p) => ({
        ...p,
        memory: totalsJson(p.memory, diff.pageBytes),
        mappings: p.mappings.map((m) => ({
          ...m,
          start: hexAddress(m.start),
          endA: m.endA === undefined ? null : hexAddress(m.endA),
          endB: m.endB === undefined ? null : hexAddress(m.endB),
          permsA: m.permsA ?? null,
          permsB: m.permsB ?? null,
          changed: ranges(m.changed),
          unavailable: ranges(m.unavailable),
        })),
      })),
    },
  };
}

/** `diff`: what changed between this checkpoint (A) and another (B). */
export const diffView = defineView({
  name: 'diff',
  usage: 'diff DIR OTHER [--json]',
  helpUsage: 'diff DIR OTHER [--json] [--root PATH]',
  summary: 'what changed between two checkpoints: processes, fds, memory pages',
  description: [
    'Compares checkpoint DIR (A) with OTHER (B), directories or archives in any mix, matching processes',
    'by pid, mappings by start address and descriptors by number. Shows processes and threads that',
    'appeared (+), disappeared (-) or changed (~: command line, state, names), open files and sockets,',
    "the container's mounts (spec.dump of container checkpoints),",
    'and memory: mappings added, removed or resized, and in each mapping the pages whose content',
    'differs, with totals. Pages that one side does not hold count as unavailable. Pages both sides',
    'read from the same file bytes (a shared parent checkpoint) are equal without being read.',
  ].join('\n'),
  options: [jsonOption],
  operands: { max: 1 },
  inGdb: true,
  perProcess: false,
  pathOperands: true,
  collect: (checkpoint, request) => {
    const other = request.operands[0];
    if (other === undefined) throw new UsageError('diff needs the checkpoint to compare with');
    const b = Checkpoint.open(other, { root: checkpoint.rootFs.root });
    try {
      const diff = diffCheckpoints(checkpoint, b);
      for (const warning of b.warnings) checkpoint.warn(`${other}: ${warning}`);
      return diff;
    } finally {
      b.close();
    }
  },
  text: formatDiff,
  json: diffJson,
});
