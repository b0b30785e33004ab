import { CriuGdbError } from '../errors.js';
import { isTolerable } from '../budget.js';
import type { ImageDirectory } from '../images/directory.js';
import { readGhostContent, readGhostFile, type GhostFile } from '../images/ghost.js';
import type { ContentSource } from './backing-file.js';

/** The saved content of a deleted-but-open file (ghost-file-ID.img), read on demand. */
export class GhostSource implements ContentSource {
  private ghost: GhostFile | undefined;
  private failure: string | undefined;
  private loaded = false;

  constructor(
    private readonly dir: ImageDirectory,
    private readonly ghostId: number,
    /** The deleted file's path, for messages. */
    readonly label: string,
  ) {}

  private load(): GhostFile | undefined {
    if (!this.loaded) {
      this.loaded = true;
      try {
        this.ghost = readGhostFile(this.dir, this.ghostId);
      } catch (error) {
        if (!isTolerable(error)) throw error;
        this.failure = error.message;
      }
    }
    return this.ghost;
  }

  size(): number | undefined {
    return this.load()?.size;
  }

  problem(): string | undefined {
    this.load();
    return this.failure;
  }

  readInto(target: Buffer, targetOffset: number, length: number, position: number): number {
    const ghost = this.load();
    if (!ghost) return 0;
    const count = Math.max(0, Math.min(length, ghost.size - position));
    if (count === 0) return 0;
    readGhostContent(this.dir, ghost, position, count).copy(target, targetOffset);
    return count;
  }
}
