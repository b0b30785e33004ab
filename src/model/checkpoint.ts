import { openCheckpointSource, type ArchiveOptions, type CheckpointSource } from '../source/container.js';
import { CheckpointError, CriuGdbError, LookupError } from '../errors.js';
import { isTolerable } from '../budget.js';
import type { ImageDirectory } from '../images/directory.js';
import { AT_PAGESZ, isPageSize, MAX_PAGE_BYTES, MIN_PAGE_BYTES } from '../images/pagemap.js';
import { readInventory, type Inventory } from '../images/inventory.js';
import { readPstree } from '../images/pstree.js';
import { readFileTable, type FileDescription } from '../images/files.js';
import { RootFs } from '../rootfs/resolve.js';
import { RootFile, type ContentSource } from './backing-file.js';
import type { CheckpointContext } from './context.js';
import { checkMappedFiles, mismatchWarning, type MappedFile } from './file-check.js';
import { GhostSource } from './ghost-source.js';
import { ProcessModel } from './process.js';

/** How to open a checkpoint. */
export interface OpenOptions {
  /**
   * The file tree the processes saw, for executables, libraries and file-backed pages. Default `/`.
   * For a container checkpoint, the container image's rootfs: the checkpoint's rootfs-diff.tar is laid
   * over it and its deleted.files are hidden.
   */
  root?: string | undefined;
  /** How a checkpoint archive is read (see ContainerArchive). */
  archive?: ArchiveOptions | undefined;
}

/**
 * An opened checkpoint: the process tree with lazily loaded details. Opening reads the inventory, the
 * process tree and the thread cores only; memory indexes and files are read on first use.
 */
export class Checkpoint implements CheckpointContext {
  /** Non-fatal problems found so far (missing optional images and the like), one line each. */
  readonly warnings: string[] = [];
  private readonly warned = new Set<string>();
  readonly processes: readonly ProcessModel[];
  private fileTable: Map<number, FileDescription> | undefined;
  private readonly contents = new Map<number, ContentSource | null>();
  private mapped: MappedFile[] | undefined;
  private pageBytes: number | undefined;

  private constructor(
    /** The path the user gave. */
    readonly path: string,
    /** The checkpoint's directory or archive, with the container's files around the images. */
    readonly source: CheckpointSource,
    readonly rootFs: RootFs,
    readonly inventory: Inventory | undefined,
  ) {
    const tree = readPstree(source.dir);
    this.processes = tree.map((item) => new ProcessModel(this, item));
  }

  /** The images. */
  get dir(): ImageDirectory {
    return this.source.dir;
  }

  /**
   * Page size of the dumped kernel, in bytes: AT_PAGESZ of the first process whose saved auxiliary vector
   * has it (CRIU's inventory does not record it), checked to be a power of two from 4 KiB to 64 KiB. Without
   * one, an x86-64 dump has 4 KiB pages (its only base page size); any other is refused.
   */
  get pageSize(): number {
    this.pageBytes ??= this.findPageSize();
    return this.pageBytes;
  }

  private findPageSize(): number {
    for (const process of this.processes) {
      if (!this.dir.has(`mm-${process.pid}.img`)) continue;
      const entry = this.tolerate(() => process.mm())?.auxvEntries.find((e) => e.type === AT_PAGESZ);
      if (!entry) continue;
      const bytes = Number(entry.value);
      if (!isPageSize(bytes)) {
        throw new CheckpointError(`mm-${process.pid}.img: saved page size (AT_PAGESZ) ${entry.value} is not a power of two from ${MIN_PAGE_BYTES} to ${MAX_PAGE_BYTES} bytes`);
      }
      return bytes;
    }
    const arch = this.processes.map((p) => p.arch).find((a) => a !== 'unknown');
    if (arch === 'x86_64' || arch === undefined) return MIN_PAGE_BYTES;
    throw new CheckpointError(`no saved auxiliary vector gives the page size (AT_PAGESZ) of this ${arch} checkpoint`);
  }

  /**
   * Opens the checkpoint in `path`: a CRIU images directory, an unpacked container checkpoint, or a
   * container checkpoint archive (tar, tar.gz, tar.zst). Throws a CriuGdbError naming the first damaged
   * image.
   */
  static open(path: string, options: OpenOptions = {}): Checkpoint {
    const source = openCheckpointSource(path, options.archive);
    try {
      const { dir } = source;
      const warnings: string[] = [];
      let overlay;
      try {
        overlay = source.diffLayer();
      } catch (error) {
        if (!isTolerable(error)) throw error;
        warnings.push(`the container's rootfs changes are not used: ${error.message}`);
      }
      const rootFs = new RootFs(options.root ?? '/', overlay);
      if (source.isContainer && options.root === undefined && overlay) {
        warnings.push("container checkpoint opened without --root: the container image's files are looked up under / of this machine");
      }
      let inventory: Inventory | undefined;
      if (dir.has('inventory.img')) inventory = readInventory(dir);
      else if (!dir.has('pstree.img')) throw new CheckpointError(`${path}: not a CRIU checkpoint (no inventory.img or pstree.img)`);
      else warnings.push('inventory.img is missing');
      const checkpoint = new Checkpoint(path, source, rootFs, inventory);
      for (const warning of warnings) checkpoint.warn(warning);
      return checkpoint;
    } catch (error) {
      source.close();
      throw error;
    }
  }

  /** The process with this pid, or a LookupError. */
  process(pid: number): ProcessModel {
    const found = this.processes.find((p) => p.pid === pid);
    if (!found) throw new LookupError(`no process ${pid} in this checkpoint (it has ${this.processes.map((p) => p.pid).join(', ')})`);
    return found;
  }

  /** The root of the tree (the first process in pstree.img). */
  get rootProcess(): ProcessModel {
    return this.processes[0]!;
  }

  /** Every file description of the dump, by file id (files.img, or the per-kind images of older dumps). */
  files(): Map<number, FileDescription> {
    // A damaged table fails once: its error is kept, not the whole image read again on every lookup.
    if (this.fileTableError !== undefined) throw this.fileTableError;
    try {
      this.fileTable ??= readFileTable(this.dir);
    } catch (error) {
      this.fileTableError = error;
      throw error;
    }
    return this.fileTable;
  }

  private fileTableError: unknown;

  /**
   * The content of regular file `id`, for file-backed memory: the saved ghost for a deleted file, else the
   * file under the root (checked against the recorded size and build-id when it is opened).
   */
  contentOfFile(id: number): ContentSource | undefined {
    let source = this.contents.get(id);
    if (source === undefined) {
      const file = this.tolerate(() => this.files().get(id));
      if (!file || file.kind !== 'reg') source = null;
      else if (file.ghostId !== undefined) source = new GhostSource(this.dir, file.ghostId, file.path);
      else {
        const buildId = file.buildId ? Buffer.from(file.buildId, 'hex') : undefined;
        source = new RootFile(this.rootFs, { path: file.path, size: file.size, buildId });
      }
      this.contents.set(id, source);
    }
    return source ?? undefined;
  }

  /**
   * Every file the processes mapped, checked against what the checkpoint recorded (checked once). Each file
   * that does not match is also recorded as a warning naming both build-ids (or sizes) and what follows.
   */
  mappedFiles(): MappedFile[] {
    if (!this.mapped) {
      this.mapped = checkMappedFiles(this, this.processes);
      for (const file of this.mapped) if (file.status === 'mismatch') this.warn(mismatchWarning(file));
    }
    return this.mapped;
  }

  /**
   * Serves the pages of mapped file `fileId` from `hostPath` instead, a file found by the recorded build-id:
   * checked against the recorded size and build-id like the file under the root. Call it before memory is
   * read. Returns whether the file matched and is used.
   */
  substituteFile(fileId: number, hostPath: string): boolean {
    const file = this.files().get(fileId);
    if (!file || file.kind !== 'reg') return false;
    const buildId = file.buildId ? Buffer.from(file.buildId, 'hex') : undefined;
    const source = new RootFile(new RootFs('/'), { path: hostPath, size: file.size, buildId });
    if (source.status() !== 'match') {
      source.close();
      return false;
    }
    const previous = this.contents.get(fileId);
    if (previous instanceof RootFile) previous.close();
    this.contents.set(fileId, source);
    return true;
  }

  /** Records a non-fatal problem once. */
  warn(problem: string): void {
    // A set, not warnings.includes: a tree of thousands of processes with missing images warns thousands of times.
    if (this.warned.has(problem)) return;
    this.warned.add(problem);
    this.warnings.push(problem);
  }

  /** Runs `read`, turning a CriuGdbError into a warning and `undefined`. */
  tolerate<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch (error) {
      if (!isTolerable(error)) throw error;
      this.warn(error.message);
      return undefined;
    }
  }

  /** Closes every open image and file, and removes what was extracted from an archive. */
  close(): void {
    for (const process of this.processes) process.close();
    for (const source of this.contents.values()) if (source instanceof RootFile) source.close();
    this.rootFs.close();
    this.source.close();
  }
}
