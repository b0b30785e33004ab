import { mismatchWarning } from '../model/file-check.js';
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
    'file under --root) and MISSING (nothing holds it: reads report it unavailable). A mapped file that',
    'does not match the checkpoint (size or build-id) is named below the table, with both build-ids.',
  ].join('\n'),
  options: [jsonOption, ...processOptions],
  operands: { max: 0 },
  inGdb: true,
  perProcess: true,
  collect: (checkpoint, request) => {
    const mismatched = checkpoint.mappedFiles().filter((file) => file.status === 'mismatch');
    return selectedProcesses(checkpoint, request).map((process) => ({
      pid: process.pid,
      comm: process.comm,
      mappings: process.mappings().map((mapping) => ({ mapping, pages: process.coverage(mapping) })),
      mismatches: mismatched.filter((file) => file.pids.includes(process.pid)),
    }));
  },
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
      mismatchedFiles: view.mismatches.map((file) => ({
        path: file.path,
        recorded: { size: file.recorded.size?.toString() ?? null, buildId: file.recorded.buildId ?? null },
        actual: { size: file.actual?.size ?? null, buildId: file.actual?.buildId ?? null },
        problem: mismatchWarning(file),
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
        const notes = view.mismatches.map((file) => `\nMISSING because ${mismatchWarning(file)}`).join('');
        return `pid ${view.pid} (${view.comm})\n${formatTable(header, rows)}${notes}`;
      })
      .join('\n\n');
  },
});
