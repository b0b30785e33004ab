import { closeSync, readSync } from 'node:fs';
import { CriuGdbError } from '../errors.js';
import type { RootFs } from '../rootfs/resolve.js';
import { readBuildId } from '../rootfs/build-id.js';

/** What the images recorded about a file, used to check that the file under the root is the same one. */
export interface RecordedFile {
  /** Path as the checkpointed process saw it. */
  path: string;
  /** Size at dump time, when recorded. */
  size?: bigint | undefined;
  /** GNU build-id at dump time, when recorded. */
  buildId?: Buffer | undefined;
}

/** Reads bytes of some file-like content (a file under the root, a ghost file in the images...). */
export interface ContentSource {
  /** Display name, e.g. the path. */
  readonly label: string;
  /** Size in bytes, or undefined when the content cannot be read at all. */
  size(): number | undefined;
  /** Why the content cannot be read, when {@link size} is undefined. */
  problem(): string | undefined;
  /** Reads up to `length` bytes at `position` into `target`; returns how many were read. */
  readInto(target: Buffer, targetOffset: number, length: number, position: number): number;
}

/**
 * A regular file under the user's root, opened on first use and checked against what the images
 * recorded (size and build-id). A mismatch makes its content unavailable, never silently wrong.
 */
export class RootFile implements ContentSource {
  private fd: number | undefined;
  private fileSize: number | undefined;
  private failure: string | undefined;
  private opened = false;

  constructor(
    private readonly root: RootFs,
    readonly recorded: RecordedFile,
  ) {}

  get label(): string {
    return this.recorded.path;
  }

  private ensureOpen(): void {
    if (this.opened) return;
    this.opened = true;
    let handle: { fd: number; size: number };
    try {
      handle = this.root.open(this.recorded.path);
    } catch (error) {
      this.failure = error instanceof CriuGdbError ? error.message : `${this.recorded.path}: cannot be opened`;
      return;
    }
    const { recorded } = this;
    if (recorded.size !== undefined && BigInt(handle.size) !== recorded.size) {
      this.failure = `${recorded.path}: size is ${handle.size}, the checkpoint recorded ${recorded.size}`;
      closeSync(handle.fd);
      return;
    }
    if (recorded.buildId && recorded.buildId.length > 0) {
      const actual = readBuildId(handle.fd);
      if (!actual || !sameBuildId(actual, recorded.buildId)) {
        this.failure = `${recorded.path}: build-id ${actual?.toString('hex') ?? 'none'} does not match the recorded ${recorded.buildId.toString('hex')}`;
        closeSync(handle.fd);
        return;
      }
    }
    this.fd = handle.fd;
    this.fileSize = handle.size;
  }

  size(): number | undefined {
    this.ensureOpen();
    return this.fileSize;
  }

  problem(): string | undefined {
    this.ensureOpen();
    return this.failure;
  }

  readInto(target: Buffer, targetOffset: number, length: number, position: number): number {
    this.ensureOpen();
    if (this.fd === undefined) return 0;
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, target, targetOffset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  /** Closes the file if it was opened. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Compares build-ids; CRIU stores them zero-padded to a multiple of 4 bytes. */
export function sameBuildId(actual: Buffer, recorded: Buffer): boolean {
  const padded = Buffer.alloc(Math.ceil(actual.length / 4) * 4);
  actual.copy(padded);
  return padded.equals(recorded) || actual.equals(recorded);
}
