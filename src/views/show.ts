import { byteString, readContainerInfo, type ContainerInfo } from '../source/metadata.js';
import type { CheckpointSizes } from '../source/container.js';
import type { Checkpoint } from '../model/checkpoint.js';
import { formatTable } from './format.js';
import { defineView, jsonOption } from './view.js';

/** What `show --json` prints. */
export interface ShowRecord {
  path: string;
  /** `directory`, `tar`, `gzip` or `zstd`. */
  format: string;
  /** The images directory inside (`checkpoint` for container checkpoints). */
  imagesDir: string;
  container: ContainerInfo | null;
  sizes: CheckpointSizes;
  processes: number;
  threads: number;
  warnings: string[];
}

/** The facts `show` prints, shared with `inspect`. */
export function showRecord(checkpoint: Checkpoint): ShowRecord {
  const { source } = checkpoint;
  const container = readContainerInfo(source) ?? null;
  return {
    path: checkpoint.path,
    format: source.format,
    imagesDir: source.imagesDir,
    container,
    sizes: source.sizes(),
    processes: checkpoint.processes.length,
    threads: checkpoint.processes.reduce((sum, process) => sum + (checkpoint.tolerate(() => process.threads().length) ?? 0), 0),
    warnings: [...checkpoint.warnings, ...(container?.problems ?? [])],
  };
}

/** The table checkpointctl's `show` prints (same columns and values), for one checkpoint. */
export function showTable(record: ShowRecord): string {
  const c = record.container;
  const header = ['CONTAINER', 'IMAGE', 'ID', 'RUNTIME', 'CREATED', 'ENGINE', 'CHKPT SIZE'];
  const id = c?.id ?? '';
  const row = [c?.name ?? '', c?.image ?? '', id.length > 12 ? id.slice(0, 12) : id, c?.runtime ?? '', c?.created ?? '', c?.engine ?? '', byteString(record.sizes.checkpoint)];
  if (record.sizes.rootfsDiff) {
    header.push('ROOT FS DIFF SIZE');
    row.push(byteString(record.sizes.rootfsDiff));
  }
  return formatTable(header, [row]);
}

/** Key/value lines after the table: what checkpointctl shows only in inspect, and the process count. */
export function showDetails(record: ShowRecord): string[] {
  const c = record.container;
  const lines: Array<[string, string | undefined]> = [
    ['Container ID', c?.id],
    ['Image ref', c?.imageRef],
    ['Checkpointed', c?.checkpointed],
    ['Pod', c?.pod],
    ['Namespace', c?.namespace],
    ['Kubernetes container', c?.kubernetesContainer],
    ['IP', c?.ip],
    ['Memory pages size', record.sizes.pages ? byteString(record.sizes.pages) : undefined],
    ['Processes', `${record.processes} (${record.threads} thread${record.threads === 1 ? '' : 's'})`],
    ['Format', record.format === 'directory' ? 'directory' : `${record.format} archive`],
  ];
  const present = lines.filter((line): line is [string, string] => line[1] !== undefined && line[1] !== '');
  const width = Math.max(...present.map(([key]) => key.length)) + 1;
  return [...present.map(([key, value]) => `${`${key}:`.padEnd(width)}  ${value}`), ...record.warnings.map((w) => `warning: ${w}`)];
}

/** `show`: the container a checkpoint archive or directory holds. */
export const showView = defineView({
  name: 'show',
  usage: 'show ARCHIVE|DIR [--json]',
  helpUsage: 'show ARCHIVE|DIR [--json] [--root PATH]',
  summary: "the container: id, name, image, runtime, times, pod, sizes",
  description: [
    'Shows what checkpointctl show shows for a container checkpoint (a Podman or Kubernetes checkpoint',
    'archive, plain, gzip or zstd, or its unpacked directory): container, image, id, runtime, creation',
    'time, engine, checkpoint and root file-system diff sizes; then the checkpoint time, the pod, its',
    'namespace and the container name from the annotations, and the number of processes.',
    'On a bare CRIU images directory it shows the sizes and the processes.',
  ].join('\n'),
  options: [jsonOption],
  operands: { max: 0 },
  inGdb: false,
  perProcess: false,
  collect: (checkpoint) => showRecord(checkpoint),
  text: (record) => [`Displaying container checkpoint data from ${record.path}`, '', showTable(record), '', ...showDetails(record)].join('\n'),
});
