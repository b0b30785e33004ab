import { Checkpoint } from '../../model/checkpoint.js';

/**
 * Throws a CheckpointError when `path` is not a checkpoint directory or archive, so that gdb is not started
 * on it. An archive is only indexed (its pages stay where they are). Returns the checkpoint's architecture
 * (CRIU's name, from the first process with a core image), if any.
 */
export function assertCheckpoint(path: string, root: string | undefined): string | undefined {
  const checkpoint = Checkpoint.open(path, { root, archive: { pages: 'lazy' } });
  try {
    return checkpoint.processes.map((p) => p.arch).find((arch) => arch !== 'unknown');
  } finally {
    checkpoint.close();
  }
}
