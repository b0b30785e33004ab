import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync, readdirSync, lstatSync } from 'node:fs';
import { dirname, join, relative, isAbsolute, basename, posix } from 'node:path';
import type { ContainerArchive } from '../archive/archive.js';
import { isImageName } from '../archive/inflate-protocol.js';
import { CheckpointError, ImageError } from '../errors.js';

/** Longest `parent` chain followed for incremental dumps; deeper chains are treated as damaged. */
export const MAX_PARENT_DEPTH = 64;

/**
 * An open image, read with positioned reads only; never loads the whole file. The image is `size` bytes
 * of a file from `base`: a whole file in a checkpoint directory, or a member read in place in a tar archive.
 */
export class ImageFile {
  private closed = false;
  private fileIdentity: string | undefined;
  constructor(
    /** Name shown in errors: relative to the checkpoint the user opened, e.g. `parent/pages-1.img`. */
    readonly label: string,
    private readonly fd: number,
    /** Image size in bytes, taken when the image was opened. */
    readonly size: number,
    /** Offset of the image's first byte in the file. */
    private readonly base = 0,
    /** Whether closing the image closes the descriptor (false when an archive shares it). */
    private readonly ownsFd = true,
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
    if (this.closed) throw new ImageError('unreadable', this.label, position, 'is closed');
    // Never read past the image: in an archive the next member follows.
    length = Math.max(0, Math.min(length, this.size - position));
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, target, targetOffset + done, length - done, this.base + position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  /**
   * Which bytes this image is, independent of how it was opened: device, inode and offset of its first
   * byte. Two images with the same identity hold the same data (a parent checkpoint reached from two dumps).
   */
  identity(): string {
    this.fileIdentity ??= (() => {
      const stat = fstatSync(this.fd, { bigint: true });
      return `${stat.dev}:${stat.ino}:${this.base}`;
    })();
    return this.fileIdentity;
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      if (this.ownsFd) closeSync(this.fd);
    }
  }
}

/** An images directory inside a container checkpoint archive. */
interface ArchiveLocation {
  archive: ContainerArchive;
  /** Directory inside the archive ('' for the top). */
  dir: string;
}

/**
 * A CRIU images directory: a directory on disk, or a directory inside a container checkpoint archive.
 * Opens images by name, refusing symlinks and anything that is not a regular file, and keeps them open for
 * positioned reads until {@link close}.
 */
export class ImageDirectory {
  private readonly open = new Map<string, ImageFile | null>();
  private parentDir: ImageDirectory | null | undefined;
  private names: Set<string> | undefined;

  private constructor(
    /** Absolute, resolved path of the directory; for an archive, the archive's path. */
    readonly path: string,
    /** Prefix for labels, e.g. `parent/` for the first parent. */
    readonly labelPrefix: string,
    private readonly depth: number,
    private readonly visited: ReadonlySet<string>,
    /** Set when the images are in an archive. */
    private readonly inArchive?: ArchiveLocation | undefined,
  ) {}

  /**
   * The images directory `dir` of an open archive. The directory does not own the archive: whoever opened
   * the archive closes it after closing the directory.
   */
  static openArchive(archive: ContainerArchive, dir: string): ImageDirectory {
    if (!archive.isDirectory(dir)) throw new CheckpointError(`${archive.path}: has no directory ${dir}/`);
    return new ImageDirectory(archive.realPath, '', 0, new Set([dir]), { archive, dir });
  }

  /** The archive and the directory in it, when the images are in an archive. */
  get archiveLocation(): Readonly<ArchiveLocation> | undefined {
    return this.inArchive;
  }

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
    if (!this.names && this.inArchive) this.names = new Set(this.inArchive.archive.children(this.inArchive.dir));
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
    if (this.inArchive) return this.tryOpenInArchive(name, this.inArchive);
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

  private tryOpenInArchive(name: string, { archive, dir }: ArchiveLocation): ImageFile | undefined {
    const label = this.labelPrefix + name;
    const found = archive.member(dir === '' ? name : `${dir}/${name}`);
    if (!found) {
      this.open.set(name, null);
      return undefined;
    }
    if (found.member.type === 'symlink') throw new ImageError('unreadable', label, 0, 'is a symbolic link, which is not followed');
    if (found.member.type !== 'file') throw new ImageError('unreadable', label, 0, 'is not a regular file');
    // A compressed archive extracts the images missing from this directory in one pass (pages-N.img when
    // lazy); members that are no image are never written out unless asked for by name.
    const siblings = (): number[] => {
      const ordinals: number[] = [];
      for (const sibling of archive.children(dir)) {
        const member = archive.member(dir === '' ? sibling : `${dir}/${sibling}`);
        if (member && member.member.type === 'file' && isImageName(sibling) && !archive.isLocal(member.ordinal)) ordinals.push(member.ordinal);
      }
      return ordinals;
    };
    const data = archive.data(found.ordinal, siblings);
    const file = new ImageFile(label, data.fd, data.size, data.base, false);
    this.open.set(name, file);
    return file;
  }

  /**
   * The size of regular file `name`, without opening it or extracting it from an archive; undefined when
   * it is absent or not a regular file.
   */
  sizeOf(name: string): number | undefined {
    if (name.includes('/')) return undefined;
    if (this.inArchive) {
      const { archive, dir } = this.inArchive;
      const found = archive.member(dir === '' ? name : `${dir}/${name}`);
      return found && found.member.type === 'file' ? found.member.size : undefined;
    }
    try {
      const stat = lstatSync(join(this.path, name));
      return stat.isFile() ? stat.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** Opens an image that must exist. */
  openRequired(name: string): ImageFile {
    const file = this.tryOpen(name);
    if (!file) throw new ImageError('missing', this.labelPrefix + name, 0, 'image is missing');
    return file;
  }

  /**
   * The parent images directory of an incremental dump (the `parent` symlink), or null.
   * The parent must resolve to a directory right next to the checkpoint the user opened (in the same
   * containing folder, as `criu dump --prev-images-dir ../N` makes it), not anywhere below that folder;
   * chains longer than {@link MAX_PARENT_DEPTH} and cycles are refused.
   */
  parent(): ImageDirectory | null {
    if (this.parentDir !== undefined) return this.parentDir;
    if (this.inArchive) return (this.parentDir = this.parentInArchive(this.inArchive));
    const link = join(this.path, 'parent');
    const label = `${this.labelPrefix}parent`;
    let real: string;
    try {
      real = realpathSync(link);
    } catch {
      this.parentDir = null;
      return null;
    }
    const folder = dirname([...this.visited][0] ?? this.path);
    const rel = relative(folder, real);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new ImageError('unreadable', label, 0, `points outside the checkpoint's folder (${real})`);
    }
    if (dirname(real) !== folder) throw new ImageError('unreadable', label, 0, `is not next to the checkpoint (${real})`);
    if (this.visited.has(real)) throw new ImageError('bad-value', label, 0, 'the parent chain loops');
    if (this.depth + 1 > MAX_PARENT_DEPTH) {
      throw new ImageError('too-large', label, 0, `the parent chain is longer than ${MAX_PARENT_DEPTH}`);
    }
    if (!statSync(real).isDirectory()) throw new ImageError('unreadable', label, 0, 'is not a directory');
    this.parentDir = new ImageDirectory(real, `${label}/`, this.depth + 1, new Set([...this.visited, real]));
    return this.parentDir;
  }

  /** The `parent` symlink inside an archive: it must lead to a directory of the same archive. */
  private parentInArchive({ archive, dir }: ArchiveLocation): ImageDirectory | null {
    const label = `${this.labelPrefix}parent`;
    const found = archive.member(dir === '' ? 'parent' : `${dir}/parent`);
    if (!found) return null;
    if (found.member.type !== 'symlink') throw new ImageError('unreadable', label, 0, 'is not a symbolic link');
    const target = found.member.linkName;
    if (target.startsWith('/')) throw new ImageError('unreadable', label, 0, `points outside the archive (${target})`);
    const joined = posix.normalize(posix.join(dir === '' ? '.' : dir, target));
    if (joined === '..' || joined.startsWith('../')) throw new ImageError('unreadable', label, 0, `points outside the archive (${target})`);
    const resolved = joined === '.' ? '' : joined.replace(/\/$/, '');
    const first = [...this.visited][0] ?? dir;
    if (posix.dirname(resolved || '.') !== posix.dirname(first || '.') || resolved === '') {
      throw new ImageError('unreadable', label, 0, `points to ${target}, which is not next to the checkpoint`);
    }
    if (this.visited.has(resolved)) throw new ImageError('bad-value', label, 0, 'the parent chain loops');
    if (this.depth + 1 > MAX_PARENT_DEPTH) {
      throw new ImageError('too-large', label, 0, `the parent chain is longer than ${MAX_PARENT_DEPTH}`);
    }
    if (!archive.isDirectory(resolved)) throw new ImageError('unreadable', label, 0, `points to ${target}, which is not a directory of the archive`);
    return new ImageDirectory(this.path, `${label}/`, this.depth + 1, new Set([...this.visited, resolved]), { archive, dir: resolved });
  }

  /** Display name of the directory for messages. */
  get displayName(): string {
    if (this.labelPrefix === '' && this.inArchive) return `${basename(this.path)}:${this.inArchive.dir}`;
    return this.labelPrefix === '' ? basename(this.path) : this.labelPrefix.replace(/\/$/, '');
  }

  /** Closes every open image here and in the parent chain. */
  close(): void {
    for (const file of this.open.values()) file?.close();
    this.open.clear();
    if (this.parentDir) this.parentDir.close();
  }
}
