import type { FileDescription } from '../images/files.js';
import type { ImageDirectory } from '../images/directory.js';
import type { ContentSource } from './backing-file.js';

/** What a process and its mappings need from the checkpoint they belong to ({@link Checkpoint} is one). */
export interface CheckpointContext {
  /** The images. */
  readonly dir: ImageDirectory;
  /** Every file description of the dump, by file id. */
  files(): Map<number, FileDescription>;
  /** The content of regular file `id` for file-backed memory, or undefined when it is not a regular file. */
  contentOfFile(id: number): ContentSource | undefined;
  /** Page size of the dumped kernel in bytes (4 KiB to 64 KiB), the unit of the pagemaps. */
  readonly pageSize: number;
  /** Records a non-fatal problem once. */
  warn(problem: string): void;
  /** Runs `read`, turning a CriuGdbError into a warning and `undefined`. */
  tolerate<T>(read: () => T): T | undefined;
}
