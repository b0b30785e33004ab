import { formatTable, hex, hexAddress } from './format.js';
import { defineView, jsonOption, processOptions, selectedProcesses } from './view.js';

/** `maps`: /proc/PID/maps plus where each mapping's pages are. */
export const mapsView = defineView({
  name: 'maps',
  usage: 'maps DIR [--pid N] [--json]',
  helpUsage: 'maps DIR [--pid N | --all] [--json] [--root PATH]',
  summary: 'memory maps, with what the images hold for each mapping',
  description: [
    'Prints each process memory map like /proc/PID/maps, and counts in 4 KiB pages where each',
    "mapping's content comes from: PRESENT in this checkpoint's pages files, PARENT in the parent",
    'checkpoint, LAZY (left on a page server, unavailable), ZERO (never touched), FILE (the mapped',
    'file under --root) and MISSING (nothing holds it: reads report it unavailable).',
  ].join('\n'),
  options: [jsonOption, ...processOptions],
  operands: { max: 0 },
  inGdb: true,
  perProcess: true,
  collect: (checkpoint, request) =>
    selectedProcesses(checkpoint, request).map((process) => ({
      pid: process.pid,
      comm: process.comm,
      mappings: process.mappings().map((mapping) => ({ mapping, pages: process.coverage(mapping) })),
    })),
  json: (records) =>
    records.map((view) => ({
      pid: view.pid,
      comm: view.comm,
      mappings: view.mappings.map(({ mapping, pages }) => ({
        start: hexAddress(mapping.start),
        end: hexAddress(mapping.end),
        perms: mapping.perms,
        offset: hexAddress(mapping.offset),
        kind: mapping.kind,
        name: mapping.name,
        pages,
        ...(mapping.unavailableReason ? { unavailable: mapping.unavailableReason } : {}),
      })),
    })),
  text(records) {
    return records
      .map((view) => {
        const rows = view.mappings.map(({ mapping, pages }) => [
          `${hex(mapping.start).padStart(12, '0')}-${hex(mapping.end).padStart(12, '0')}`,
          mapping.perms,
          hex(mapping.offset).padStart(8, '0'),
          mapping.kind,
          String(pages.present),
          String(pages.inParent),
          String(pages.lazy),
          String(pages.zero),
          String(pages.fromFile),
          String(pages.missing),
          mapping.name,
        ]);
        const header = ['ADDRESS', 'PERMS', 'OFFSET', 'KIND', 'PRESENT', 'PARENT', 'LAZY', 'ZERO', 'FILE', 'MISSING', 'NAME'];
        return `pid ${view.pid} (${view.comm})\n${formatTable(header, rows)}`;
      })
      .join('\n\n');
  },
});
