import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync, readdirSync } from 'node:fs';
import { dirname, join, relative, isAbsolute, basename } from 'node:path';
import { CheckpointError, ImageError } from '../errors.js';

/** Longest `parent` chain followed for incremental dumps; deeper chains are treated as damaged. */
export const MAX_PARENT_DEPTH = 64;

/**
 * An open file inside a checkpoint directory, read with positioned reads only.
 * Never loads the whole file.
 */
export class ImageFile {
  private closed = false;
  constructor(
    /** Name shown in errors: relative to the checkpoint the user opened, e.g. `parent/pages-1.img`. */
    readonly label: string,
    private readonly fd: number,
    /** File size in bytes, taken when the file was opened. */
    readonly size: number,
  ) {}

  /** Reads exactly `length` bytes at `position`, or throws `truncated`. */
  readExact(position: number, length: number): Buffer {
    if (position < 0 || length < 0 || position + length > this.size) {
      throw new ImageError('truncated', this.label, position, `needs ${length} bytes but the file has ${Math.max(0, this.size - position)} left`);
    }
    const buffer = Buffer.allocUnsafe(length);
    this.readInto(buffer, 0, length, position);
    return buffer;
  }

  /** Reads up to `length` bytes at `position` into `target` at `targetOffset`; returns bytes read. */
  readInto(target: Buffer, targetOffset: number, length: number, position: number): number {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, target, targetOffset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      closeSync(this.fd);
    }
  }
}

/**
 * A CRIU images directory. Opens images by name, refusing symlinks and anything that is not a regular file,
 * and keeps them open for positioned reads until {@link close}.
 */
export class ImageDirectory {
  private readonly open = new Map<string, ImageFile | null>();
  private parentDir: ImageDirectory | null | undefined;
  private names: Set<string> | undefined;

  private constructor(
    /** Absolute, resolved path of the directory. */
    readonly path: string,
    /** Prefix for labels, e.g. `parent/` for the first parent. */
    readonly labelPrefix: string,
    private readonly depth: number,
    private readonly visited: ReadonlySet<string>,
  ) {}

  /** Opens a checkpoint directory given by the user. */
  static openRoot(path: string): ImageDirectory {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw new CheckpointError(`${path}: no such checkpoint directory`);
    }
    if (!statSync(real).isDirectory()) throw new CheckpointError(`${path}: not a directory`);
    return new ImageDirectory(real, '', 0, new Set([real]));
  }

  /** Whether an image of this name exists (as a regular file). */
  has(name: string): boolean {
    return this.listing().has(name);
  }

  /** All file names in the directory. */
  listing(): ReadonlySet<string> {
    if (!this.names) {
      try {
        this.names = new Set(readdirSync(this.path));
      } catch {
        this.names = new Set();
      }
    }
    return this.names;
  }

  /** Opens an image, or returns undefined when it does not exist. Throws for anything else. */
  tryOpen(name: string): ImageFile | undefined {
    const cached = this.open.get(name);
    if (cached !== undefined) return cached ?? undefined;
    if (name.includes('/') || name === '..' || name === '.') {
      throw new ImageError('unreadable', this.labelPrefix + name, 0, 'image names may not contain path separators');
    }
    let fd: number;
    try {
      fd = openSync(join(this.path, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.open.set(name, null);
        return undefined;
      }
      const why = code === 'ELOOP' ? 'is a symbolic link, which is not followed' : `cannot be opened (${code ?? 'error'})`;
      throw new ImageError('unreadable', this.labelPrefix + name, 0, why);
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      throw new ImageError('unreadable', this.labelPrefix + name, 0, 'is not a regular file');
    }
    const file = new ImageFile(this.labelPrefix + name, fd, stat.size);
    this.open.set(name, file);
    return file;
  }

  /** Opens an image that must exist. */
  openRequired(name: string): ImageFile {
    const file = this.tryOpen(name);
    if (!file) throw new ImageError('missing', this.labelPrefix + name, 0, 'image is missing');
    return file;
  }

  /**
   * The parent images directory of an incremental dump (the `parent` symlink), or null.
   * The parent must resolve to a directory next to this one (inside the directory that contains the
   * checkpoint the user opened); chains longer than {@link MAX_PARENT_DEPTH} and cycles are refused.
   */
  parent(): ImageDirectory | null {
    if (this.parentDir !== undefined) return this.parentDir;
    const link = join(this.path, 'parent');
    const label = `${this.labelPrefix}parent`;
    let real: string;
    try {
      real = realpathSync(link);
    } catch {
      this.parentDir = null;
      return null;
    }
    const allowedRoot = dirname([...this.visited][0] ?? this.path);
    const rel = relative(allowedRoot, real);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new ImageError('unreadable', label, 0, `points outside the checkpoint's folder (${real})`);
    }
    if (this.visited.has(real)) throw new ImageError('bad-value', label, 0, 'the parent chain loops');
    if (this.depth + 1 > MAX_PARENT_DEPTH) {
      throw new ImageError('too-large', label, 0, `the parent chain is longer than ${MAX_PARENT_DEPTH}`);
    }
    if (!statSync(real).isDirectory()) throw new ImageError('unreadable', label, 0, 'is not a directory');
    this.parentDir = new ImageDirectory(real, `${label}/`, this.depth + 1, new Set([...this.visited, real]));
    return this.parentDir;
  }

  /** Display name of the directory for messages. */
  get displayName(): string {
    return this.labelPrefix === '' ? basename(this.path) : this.labelPrefix.replace(/\/$/, '');
  }

  /** Closes every open image here and in the parent chain. */
  close(): void {
    for (const file of this.open.values()) file?.close();
    this.open.clear();
    if (this.parentDir) this.parentDir.close();
  }
}
