/**
 * Where a checkpoint's images are, and what a container checkpoint carries next to them.
 *
 * A checkpoint is opened from:
 * - a CRIU images directory;
 * - an unpacked container checkpoint: a directory with `checkpoint/` (the images), `config.dump`,
 *   `spec.dump`, `rootfs-diff.tar`, ...;
 * - a container checkpoint archive (tar, tar.gz or tar.zst) of that layout, or a tar of an images directory.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, CriuGdbError } from '../errors.js';
import { ImageDirectory } from '../images/directory.js';
import { DiffLayer, parseDeletedFiles } from '../rootfs/overlay.js';
import { ArchiveFiles, ContainerArchive, type ArchiveFormat, type ArchiveOptions } from '../archive/archive.js';
import { ArchiveError, indexTar, type TarMember } from '../archive/tar.js';

export type { ArchiveOptions };

/** The images directory of container checkpoints. */
export const CHECKPOINT_DIR = 'checkpoint';

/** Largest metadata file read (config.dump, spec.dump, ...). */
const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/** Sizes as checkpointctl counts them. */
export interface CheckpointSizes {
  /** Regular files under checkpoint/. */
  checkpoint: number;
  /** pages-N.img under checkpoint/. */
  pages: number;
  /** amdgpu-pages-N.img under checkpoint/. */
  amdgpuPages: number;
  /** rootfs-diff.tar, when present. */
  rootfsDiff: number | undefined;
}

/** The files of a container checkpoint around its images (none of them for a bare images directory). */
export interface CheckpointSource {
  /** `directory` for a directory, else the archive's format. */
  readonly format: 'directory' | ArchiveFormat;
  /** Whether this is a container checkpoint (checkpoint/ plus metadata), not a bare images directory. */
  readonly isContainer: boolean;
  /** The path the user gave. */
  readonly path: string;
  /** The images directory in it: `checkpoint`, or '' when the images are at the top. */
  readonly imagesDir: string;
  /** The images. */
  readonly dir: ImageDirectory;
  /** The archive, when the checkpoint is one. */
  readonly archive: ContainerArchive | undefined;
  /** A file next to the images (config.dump, spec.dump, stats-dump, ...), or undefined when absent. */
  readFile(name: string): Buffer | undefined;
  sizes(): CheckpointSizes;
  /** rootfs-diff.tar and deleted.files as an overlay, or undefined when the checkpoint has neither. */
  diffLayer(): DiffLayer | undefined;
  close(): void;
}

function isImagesDirectory(has: (name: string) => boolean): boolean {
  return has('inventory.img') || has('pstree.img');
}

/** Opens a checkpoint directory or archive. Throws a CheckpointError when it is neither. */
export function openCheckpointSource(path: string, options: ArchiveOptions = {}): CheckpointSource {
  const archive = ContainerArchive.openIfArchive(path, options);
  if (!archive) return DirectorySource.open(path);
  try {
    return new ArchiveSource(archive);
  } catch (error) {
    archive.close();
    throw error;
  }
}

function deletedPaths(source: CheckpointSource, label: string): string[] {
  const text = source.readFile(ArchiveFiles.deletedFiles);
  return text ? parseDeletedFiles(text.toString('utf8'), label) : [];
}

class ArchiveSource implements CheckpointSource {
  readonly format: ArchiveFormat;
  readonly imagesDir: string;
  readonly dir: ImageDirectory;
  readonly isContainer: boolean;
  private layer: DiffLayer | null | undefined;

  constructor(readonly archive: ContainerArchive) {
    this.format = archive.format;
    this.imagesDir = ArchiveSource.findImages(archive);
    this.isContainer = this.imagesDir === CHECKPOINT_DIR;
    this.dir = ImageDirectory.openArchive(archive, this.imagesDir);
  }

  get path(): string {
    return this.archive.path;
  }

  private static findImages(archive: ContainerArchive): string {
    const inDir = (dir: string) => (name: string) => archive.member(dir === '' ? name : `${dir}/${name}`) !== undefined;
    if (isImagesDirectory(inDir(CHECKPOINT_DIR))) return CHECKPOINT_DIR;
    if (isImagesDirectory(inDir(''))) return '';
    const candidates = [...archive.children('')].filter((name) => archive.isDirectory(name) && isImagesDirectory(inDir(name)));
    if (candidates.length === 1) return candidates[0]!;
    throw new CheckpointError(`${archive.path}: not a CRIU checkpoint archive (no ${CHECKPOINT_DIR}/inventory.img or ${CHECKPOINT_DIR}/pstree.img)`);
  }

  readFile(name: string): Buffer | undefined {
    return this.archive.readSmall(name, MAX_METADATA_BYTES);
  }

  sizes(): CheckpointSizes {
    const sizes: CheckpointSizes = { checkpoint: 0, pages: 0, amdgpuPages: 0, rootfsDiff: undefined };
    const prefix = this.imagesDir === '' ? '' : `${this.imagesDir}/`;
    for (const member of this.archive.members) {
      if (member.type !== 'file') continue;
      if (member.name === ArchiveFiles.rootfsDiff) sizes.rootfsDiff = member.size;
      if (!member.name.startsWith(prefix) || (prefix === '' && member.name.includes('/'))) continue;
      sizes.checkpoint += member.size;
      const base = member.name.slice(prefix.length);
      if (base.startsWith('pages-')) sizes.pages += member.size;
      else if (base.startsWith('amdgpu-pages-')) sizes.amdgpuPages += member.size;
    }
    return sizes;
  }

  diffLayer(): DiffLayer | undefined {
    if (this.layer !== undefined) return this.layer ?? undefined;
    const label = `${this.archive.path}:${ArchiveFiles.rootfsDiff}`;
    const members = this.archive.rootfsDiffMembers();
    const deleted = deletedPaths(this, `${this.archive.path}:${ArchiveFiles.deletedFiles}`);
    if (!members && deleted.length === 0) {
      this.layer = null;
      return undefined;
    }
    const diff = this.archive.member(ArchiveFiles.rootfsDiff);
    const read = diff
      ? (member: TarMember) => {
          const outer = this.archive.data(diff.ordinal);
          return { fd: outer.fd, base: outer.base + member.dataOffset, size: member.size };
        }
      : undefined;
    this.layer = new DiffLayer(label, members ?? [], read, deleted);
    return this.layer;
  }

  close(): void {
    this.dir.close();
    this.archive.close();
  }
}

class DirectorySource implements CheckpointSource {
  readonly format = 'directory' as const;
  readonly archive = undefined;
  private layer: DiffLayer | null | undefined;
  private diffFd: number | undefined;

  private constructor(
    readonly path: string,
    /** The directory holding the container's files (the top, not checkpoint/). */
    private readonly top: string | undefined,
    readonly dir: ImageDirectory,
  ) {}

  get isContainer(): boolean {
    return this.top !== undefined;
  }

  get imagesDir(): string {
    return this.top !== undefined ? CHECKPOINT_DIR : '';
  }

  static open(path: string): DirectorySource {
    const top = ImageDirectory.openRoot(path);
    const inner = join(top.path, CHECKPOINT_DIR);
    let container = false;
    try {
      // A `checkpoint` that is a symbolic link is refused, never followed: it could lead anywhere.
      if (!isImagesDirectory((name) => top.has(name)) && lstatSync(inner).isSymbolicLink()) {
        top.close();
        throw new CheckpointError(`${path}: ${CHECKPOINT_DIR} is a symbolic link (refused: the images must be in the checkpoint's own folder)`);
      }
      container = statSync(inner).isDirectory() && !isImagesDirectory((name) => top.has(name)) && isImagesDirectory((name) => existsRegular(join(inner, name)));
    } catch (error) {
      if (error instanceof CheckpointError) throw error;
      container = false;
    }
    if (!container) return new DirectorySource(path, undefined, top);
    top.close();
    const images = ImageDirectory.openRoot(inner);
    // Swapped for a link after the check: what was opened is not the folder's own checkpoint/.
    if (images.path !== inner) {
      images.close();
      throw new CheckpointError(`${path}: ${CHECKPOINT_DIR} changed while it was opened (refused)`);
    }
    return new DirectorySource(path, top.path, images);
  }

  private file(name: string): string | undefined {
    if (name.includes('/')) return undefined;
    return join(this.top ?? this.dir.path, name);
  }

  readFile(name: string): Buffer | undefined {
    const path = this.file(name);
    if (!path) return undefined;
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return undefined;
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) return undefined;
      if (stat.size > MAX_METADATA_BYTES) throw new CriuGdbError(`${path}: larger than ${MAX_METADATA_BYTES} bytes`);
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  sizes(): CheckpointSizes {
    const sizes: CheckpointSizes = { checkpoint: 0, pages: 0, amdgpuPages: 0, rootfsDiff: undefined };
    for (const name of readdirSync(this.dir.path)) {
      let size: number;
      try {
        const stat = lstatSync(join(this.dir.path, name));
        if (!stat.isFile()) continue;
        size = stat.size;
      } catch {
        continue;
      }
      sizes.checkpoint += size;
      if (name.startsWith('pages-')) sizes.pages += size;
      else if (name.startsWith('amdgpu-pages-')) sizes.amdgpuPages += size;
    }
    if (this.top !== undefined) {
      try {
        const stat = lstatSync(join(this.top, ArchiveFiles.rootfsDiff));
        if (stat.isFile()) sizes.rootfsDiff = stat.size;
      } catch {
        // no diff
      }
    }
    return sizes;
  }

  diffLayer(): DiffLayer | undefined {
    if (this.layer !== undefined) return this.layer ?? undefined;
    if (this.top === undefined) {
      this.layer = null;
      return undefined;
    }
    const path = join(this.top, ArchiveFiles.rootfsDiff);
    let members: TarMember[] | undefined;
    try {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const stat = fstatSync(fd);
      if (!stat.isFile()) {
        closeSync(fd);
        throw new ArchiveError(`${path}: not a regular file`);
      }
      this.diffFd = fd;
      members = indexTar(fd, 0, stat.size, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const deleted = deletedPaths(this, join(this.top, ArchiveFiles.deletedFiles));
    if (!members && deleted.length === 0) {
      this.layer = null;
      return undefined;
    }
    const fd = this.diffFd;
    const read = fd === undefined ? undefined : (member: TarMember) => ({ fd, base: member.dataOffset, size: member.size });
    this.layer = new DiffLayer(path, members ?? [], read, deleted);
    return this.layer;
  }

  close(): void {
    this.dir.close();
    if (this.diffFd !== undefined) closeSync(this.diffFd);
    this.diffFd = undefined;
  }
}

function existsRegular(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}
