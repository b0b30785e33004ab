import { readSync } from 'node:fs';
import { CriuGdbError } from '../errors.js';
import type { RootContent, RootFs } from '../rootfs/resolve.js';
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
 * A regular file under the user's root (or in a container's rootfs diff laid over it), opened on first use
 * and checked against what the images recorded (size and build-id). A mismatch makes its content
 * unavailable, never silently wrong.
 */
export class RootFile implements ContentSource {
  private content: RootContent | undefined;
  private fileSize: number | undefined;
  private failure: string | undefined;
  private opened = false;
  /** What the file under the root turned out to be, once opened: its size and build-id (hex), or that it is not there. */
  private found: { size: number; buildId: string | undefined } | undefined;

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
    const { recorded } = this;
    const wanted = recorded.buildId && recorded.buildId.length > 0 ? ` (the checkpoint recorded build-id ${trimBuildId(recorded.buildId)})` : '';
    let handle: RootContent;
    try {
      handle = this.root.openContent(recorded.path);
    } catch (error) {
      this.failure = (error instanceof CriuGdbError ? error.message : `${recorded.path}: cannot be opened`) + wanted;
      return;
    }
    const where = handle.layer === 'diff' ? ` (from ${this.root.overlay?.label ?? 'the rootfs diff'})` : '';
    const actualId = readBuildId(handle.fd, handle.base, handle.size);
    this.found = { size: handle.size, buildId: actualId?.toString('hex') };
    if (recorded.size !== undefined && BigInt(handle.size) !== recorded.size) {
      this.failure = `${recorded.path}${where}: size is ${handle.size}, the checkpoint recorded ${recorded.size}${wanted}`;
      handle.close();
      return;
    }
    if (recorded.buildId && recorded.buildId.length > 0) {
      const actual = actualId;
      if (!actual || !sameBuildId(actual, recorded.buildId)) {
        this.failure = `${recorded.path}${where}: build-id ${actual?.toString('hex') ?? 'none'} does not match the recorded ${trimBuildId(recorded.buildId)}`;
        handle.close();
        return;
      }
    }
    this.content = handle;
    this.fileSize = handle.size;
  }

  /**
   * How the file under the root compares with what the checkpoint recorded: `match`, `mismatch` (there, but a
   * different size or build-id) or `missing` (cannot be found or opened).
   */
  status(): 'match' | 'mismatch' | 'missing' {
    this.ensureOpen();
    if (this.content) return 'match';
    return this.found ? 'mismatch' : 'missing';
  }

  /** The size and build-id (hex) of the file found under the root, when there is one. */
  get actual(): { size: number; buildId: string | undefined } | undefined {
    this.ensureOpen();
    return this.found;
  }

  /** Which layer the file came from, once opened: the root directory, or the container's rootfs diff. */
  get layer(): 'base' | 'diff' | undefined {
    this.ensureOpen();
    return this.content?.layer;
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
    const content = this.content;
    if (content === undefined) return 0;
    length = Math.max(0, Math.min(length, content.size - position));
    let done = 0;
    while (done < length) {
      const n = readSync(content.fd, target, targetOffset + done, length - done, content.base + position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  /**
   * A path that names the very file that was checked while this process keeps it open
   * (`/proc/PID/fd/N`), when the file matched and has a descriptor of its own; else undefined.
   */
  descriptorPath(): string | undefined {
    this.ensureOpen();
    const content = this.content;
    if (content === undefined || content.layer !== 'base' || content.base !== 0) return undefined;
    return `/proc/${process.pid}/fd/${content.fd}`;
  }

  /** Closes the file if it was opened. */
  close(): void {
    this.content?.close();
    this.content = undefined;
  }
}

/** A recorded build-id without CRIU's zero padding, in hex. */
export function trimBuildId(recorded: Buffer): string {
  let end = recorded.length;
  while (end > 20 && recorded[end - 1] === 0) end--;
  return recorded.subarray(0, end).toString('hex');
}

/** Compares build-ids; CRIU stores them zero-padded to a multiple of 4 bytes. */
export function sameBuildId(actual: Buffer, recorded: Buffer): boolean {
  const padded = Buffer.alloc(Math.ceil(actual.length / 4) * 4);
  actual.copy(padded);
  return padded.equals(recorded) || actual.equals(recorded);
}
