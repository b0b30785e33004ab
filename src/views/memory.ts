import { memoryOverview } from '../model/memory-overview.js';
import { formatBytes, formatTable } from './format.js';
import { defineView, jsonOption, processOptions, selectedProcesses } from './view.js';

/** `memory`: per process, how much memory there is and where the checkpoint keeps it. */
export const memoryView = defineView({
  name: 'memory',
  usage: 'memory DIR [--pid N] [--json]',
  helpUsage: 'memory DIR [--pid N | --all] [--json] [--root PATH]',
  summary: 'memory per process: private, shared, in images, in parent, from files',
  description: [
    'Sums up each process memory: SIZE (all mappings, VmSize), PRIVATE (what the process wrote and the',
    "images hold: smaps_rollup's Anonymous plus Swap), SHARED (shared anonymous, memfd and System V memory",
    'the images hold, as checkpointctl memparse counts it), and where the bytes are: IMAGES (this',
    "checkpoint's pages files), PARENT (a parent checkpoint), FILES (the mapped files), ZERO (never",
    'touched) and UNAVAILABLE (nothing holds them: lazy pages, missing images or files, [vvar]).',
    'JSON gives bytes.',
  ].join('\n'),
  options: [jsonOption, ...processOptions],
  operands: { max: 0 },
  inGdb: true,
  perProcess: true,
  collect: (checkpoint, request) => selectedProcesses(checkpoint, request).map((process) => memoryOverview(process)),
  text(records) {
    const header = ['PID', 'COMM', 'SIZE', 'PRIVATE', 'SHARED', 'IMAGES', 'PARENT', 'FILES', 'ZERO', 'UNAVAILABLE'];
    const rows = records.map((r) => [String(r.pid), r.comm, ...[r.size, r.private, r.shared, r.inImages, r.inParent, r.fromFiles, r.zero, r.unavailable].map((bytes) => formatBytes(bytes))]);
    return formatTable(header, rows);
  },
});
