import type { Checkpoint } from '../model/checkpoint.js';
import type { MappingCoverage } from '../model/types.js';
import { formatBytes } from './format.js';
import { defineView, jsonOption } from './view.js';

/** The summary `info` prints. */
export interface CheckpointSummary {
  path: string;
  imageVersion: number | null;
  criuRunId: string | null;
  architecture: string;
  processes: number;
  threads: number;
  incremental: boolean;
  memory: { mappedBytes: number; pageSize: number; pages: MappingCoverage };
  namespaces: Record<string, number[]>;
  root: string;
  /** The mapped files by how they compare with the checkpoint. */
  files: { mapped: number; match: number; mismatch: number; missing: number; deleted: number };
  warnings: string[];
}

/** Gathers the summary of a checkpoint, reading only small images and pagemaps. */
export function summarize(checkpoint: Checkpoint): CheckpointSummary {
  const pages: MappingCoverage = { present: 0, inParent: 0, lazy: 0, zero: 0, fromFile: 0, missing: 0 };
  let mappedBytes = 0;
  let threads = 0;
  const namespaces = new Map<string, Set<number>>();
  const mapped = checkpoint.mappedFiles();
  const count = (status: string): number => mapped.filter((file) => file.status === status).length;
  for (const process of checkpoint.processes) {
    threads += process.tids.length;
    const mappings = checkpoint.tolerate(() => process.mappings()) ?? [];
    for (const mapping of mappings) {
      mappedBytes += Number(mapping.end - mapping.start);
      const coverage = process.coverage(mapping);
      for (const key of Object.keys(pages) as Array<keyof MappingCoverage>) pages[key] += coverage[key];
    }
    const ids = checkpoint.tolerate(() => process.ids());
    if (ids) {
      const named: Array<[string, number | undefined]> = [
        ['pid', ids.pidNsId],
        ['net', ids.netNsId],
        ['ipc', ids.ipcNsId],
        ['uts', ids.utsNsId],
        ['mnt', ids.mntNsId],
        ['user', ids.userNsId],
        ['cgroup', ids.cgroupNsId],
        ['time', ids.timeNsId],
      ];
      for (const [kind, id] of named) {
        if (id === undefined) continue;
        const set = namespaces.get(kind) ?? new Set<number>();
        set.add(id);
        namespaces.set(kind, set);
      }
    }
  }
  return {
    path: checkpoint.dir.path,
    imageVersion: checkpoint.inventory?.imageVersion ?? null,
    criuRunId: checkpoint.inventory?.criuRunId ?? null,
    architecture: checkpoint.rootProcess.arch,
    processes: checkpoint.processes.length,
    threads,
    incremental: checkpoint.dir.parent() !== null,
    memory: { mappedBytes, pageSize: checkpoint.pageSize, pages },
    namespaces: Object.fromEntries([...namespaces].map(([kind, set]) => [kind, [...set].sort((a, b) => a - b)])),
    root: checkpoint.rootFs.root,
    files: { mapped: mapped.length, match: count('match'), mismatch: count('mismatch'), missing: count('missing'), deleted: count('deleted') },
    warnings: [...checkpoint.warnings],
  };
}

/** `info`: a summary of the checkpoint. */
export const infoView = defineView({
  name: 'info',
  usage: 'info DIR [--json]',
  helpUsage: 'info DIR [--json] [--root PATH]',
  summary: 'summary: architecture, processes, threads, memory, namespaces',
  description: 'Summarizes the checkpoint: image version, architecture, process and thread counts, memory\ntotals by where the pages are, and the namespaces the processes use.',
  options: [jsonOption],
  operands: { max: 0 },
  inGdb: true,
  perProcess: false,
  collect: (checkpoint) => summarize(checkpoint),
  text(summary) {
    const { pages, pageSize: PAGE } = summary.memory;
    const lines: Array<[string, string]> = [
      ['Checkpoint', summary.path],
      ['Images', `version ${summary.imageVersion ?? 'unknown'}${summary.criuRunId ? `, CRIU run ${summary.criuRunId}` : ''}${summary.incremental ? ', incremental (has parent images)' : ''}`],
      ['Architecture', `${summary.architecture}, ${PAGE / 1024} KiB pages`],
      ['Processes', `${summary.processes} (${summary.threads} threads)`],
      ['Memory', `${formatBytes(summary.memory.mappedBytes)} mapped`],
      ['  in images', formatBytes(pages.present * PAGE)],
      ['  in parent', formatBytes(pages.inParent * PAGE)],
      ['  lazy', formatBytes(pages.lazy * PAGE)],
      ['  zero', formatBytes(pages.zero * PAGE)],
      ['  from files', formatBytes(pages.fromFile * PAGE)],
      ['  missing', formatBytes(pages.missing * PAGE)],
      ['Namespaces', Object.entries(summary.namespaces).map(([kind, ids]) => `${kind} ${ids.join(',')}`).join('  ') || 'unknown'],
      ['Root', summary.root],
      ['Files', `${summary.files.mapped} mapped: ${summary.files.match} match the checkpoint, ${summary.files.mismatch} do not, ${summary.files.missing} missing, ${summary.files.deleted} deleted (from the images)`],
    ];
    for (const warning of summary.warnings) lines.push(['Warning', warning]);
    const width = Math.max(...lines.map(([key]) => key.length));
    return lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
  },
});
