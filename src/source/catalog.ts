/**
 * The checkpoints stored in directories (Kubernetes keeps them in /var/lib/kubelet/checkpoints/): archives
 * and checkpoint directories, each with its container, pod, time, size and format, read from the metadata
 * only (pages are never extracted).
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isTolerable } from '../budget.js';
import { CHECKPOINT_DIR, openCheckpointSource } from './container.js';
import { readContainerInfo } from './metadata.js';

/** Where kubelet writes checkpoint archives, and where `list` looks by default. */
export const KUBELET_CHECKPOINTS = '/var/lib/kubelet/checkpoints/';

/** One stored checkpoint. Fields its metadata does not record are null. */
export interface CatalogEntry {
  path: string;
  /** `directory`, `tar`, `gzip`, `zstd`... (the archive format). */
  format: string;
  /** Whether it is a container checkpoint (metadata around checkpoint/), not bare CRIU images. */
  container: boolean;
  engine: string | null;
  /** The container's name. */
  name: string | null;
  pod: string | null;
  namespace: string | null;
  image: string | null;
  /** When it was checkpointed (RFC 3339): from the metadata, else the file's modification time. */
  time: string;
  timeFrom: 'metadata' | 'mtime';
  /** Bytes on disk: the archive, or every file of the directory. */
  size: number;
  /** Why it could not be read, when it could not (the other fields are then what the file system says). */
  problem: string | null;
}

/** The checkpoints of some directories, and the directories that could not be read. */
export interface Catalog {
  directories: string[];
  checkpoints: CatalogEntry[];
  problems: string[];
}

const ARCHIVE_NAME = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd)$/;
/** Deepest directory walked to size a checkpoint directory. */
const MAX_DEPTH = 8;

function directoryBytes(path: string, depth = 0): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isFile()) total += lstatSync(child).size;
    else if (entry.isDirectory() && depth < MAX_DEPTH) total += directoryBytes(child, depth + 1);
  }
  return total;
}

/** Whether a directory looks like a checkpoint: CRIU images, or a container checkpoint's checkpoint/. */
function isCheckpointDirectory(path: string): boolean {
  const has = (name: string): boolean => {
    try {
      return statSync(join(path, name)).isFile();
    } catch {
      return false;
    }
  };
  return has('inventory.img') || has('pstree.img') || has(`${CHECKPOINT_DIR}/inventory.img`) || has(`${CHECKPOINT_DIR}/pstree.img`);
}

function mtime(path: string): string {
  return `${statSync(path).mtime.toISOString().slice(0, 19)}Z`;
}

/** Reads one checkpoint's metadata. */
export function describeStored(path: string, isDirectory: boolean): CatalogEntry {
  const entry: CatalogEntry = {
    path,
    format: isDirectory ? 'directory' : 'archive',
    container: false,
    engine: null,
    name: null,
    pod: null,
    namespace: null,
    image: null,
    time: mtime(path),
    timeFrom: 'mtime',
    size: isDirectory ? directoryBytes(path) : statSync(path).size,
    problem: null,
  };
  let source;
  try {
    source = openCheckpointSource(path, { pages: 'lazy' });
  } catch (error) {
    if (!isTolerable(error)) throw error;
    entry.problem = error.message;
    return entry;
  }
  try {
    entry.format = source.format;
    entry.container = source.isContainer;
    const info = readContainerInfo(source);
    if (info) {
      entry.engine = info.engine;
      entry.name = info.kubernetesContainer ?? info.name ?? null;
      entry.pod = info.pod ?? null;
      entry.namespace = info.namespace ?? null;
      entry.image = info.image ?? null;
      if (info.checkpointed) {
        entry.time = info.checkpointed;
        entry.timeFrom = 'metadata';
      }
      if (info.problems.length > 0) entry.problem = info.problems.join('; ');
    }
  } catch (error) {
    if (!isTolerable(error)) throw error;
    entry.problem = error.message;
  } finally {
    source.close();
  }
  return entry;
}

/** The checkpoints directly inside each of `directories` (archives by name, directories by content), sorted by time. */
export function catalog(directories: readonly string[]): Catalog {
  const result: Catalog = { directories: [...directories], checkpoints: [], problems: [] };
  for (const directory of directories) {
    let names: string[];
    try {
      names = readdirSync(directory).sort();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      result.problems.push(code === 'ENOENT' ? `${directory}: no such directory` : code === 'ENOTDIR' ? `${directory}: not a directory` : `${directory}: cannot be read (${code ?? 'error'})`);
      continue;
    }
    for (const name of names) {
      const path = join(directory, name);
      let stat;
      try {
        stat = statSync(path);
      } catch {
        continue;
      }
      if (stat.isDirectory() ? isCheckpointDirectory(path) : stat.isFile() && ARCHIVE_NAME.test(name)) result.checkpoints.push(describeStored(path, stat.isDirectory()));
    }
  }
  result.checkpoints.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.path.localeCompare(b.path));
  return result;
}
