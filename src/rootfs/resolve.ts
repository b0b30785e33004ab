import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TarMember } from '../archive/tar.js';
import { makeTempDir, removeTempDir } from '../archive/temp.js';
import { CriuGdbError } from '../errors.js';
import type { DiffLayer } from './overlay.js';

/** Most symbolic links followed while resolving one path (as the kernel's limit). */
export const MAX_SYMLINKS = 40;

/** A path could not be resolved inside the root. */
export class RootPathError extends CriuGdbError {
  override readonly name = 'RootPathError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** Where a path of the checkpointed processes' file tree is: on the host under the root, or in the diff. */
export type RootEntry = { layer: 'base'; hostPath: string } | { layer: 'diff'; member: TarMember };

/**
 * A regular file opened inside the root: `size` bytes of `fd` from `base`. For a file of the container's
 * rootfs diff that is a range of the archive (or of rootfs-diff.tar), read in place.
 */
export interface RootContent {
  fd: number;
  base: number;
  size: number;
  layer: 'base' | 'diff';
  /** Closes the descriptor when it is the file's own. */
  close(): void;
}

/** One step of a walk: what a path component is. */
type Node =
  | { kind: 'dir'; entry: RootEntry | undefined }
  | { kind: 'symlink'; target: string }
  | { kind: 'file' | 'other'; entry: RootEntry };

/**
 * The file tree that the checkpointed processes saw: `/` for a local dump, a container rootfs otherwise.
 * Paths from the images are resolved as if the root were `/`: absolute symlinks restart at the root,
 * `..` never climbs above it, and a recorded path that itself contains `..` is refused.
 *
 * A container checkpoint adds an overlay: the members of rootfs-diff.tar are laid over the root (the
 * container image's rootfs) and the paths of deleted.files are hidden, as the container saw its files.
 */
export class RootFs {
  /** Resolved host path of the root directory. */
  readonly root: string;
  private copies: string | undefined;

  constructor(
    root: string,
    /** The container's changes to the root, for container checkpoints. */
    readonly overlay?: DiffLayer | undefined,
  ) {
    try {
      this.root = realpathSync(root);
    } catch {
      throw new CriuGdbError(`${root}: root directory does not exist`);
    }
  }

  private where(): string {
    return this.overlay ? `${this.root} or in ${this.overlay.label}` : this.root;
  }

  /** What `parts` (relative to the root, already resolved) is, without following a final symlink. */
  private node(parts: readonly string[], path: string): Node {
    const name = parts.join('/');
    if (this.overlay && parts.length > 0) {
      const entry = this.overlay.entry(name);
      if (entry === 'dir') return { kind: 'dir', entry: undefined };
      if (entry) {
        if (entry.type === 'symlink') return { kind: 'symlink', target: entry.linkName };
        if (entry.type === 'dir') return { kind: 'dir', entry: { layer: 'diff', member: entry } };
        return { kind: entry.type === 'file' ? 'file' : 'other', entry: { layer: 'diff', member: entry } };
      }
      if (this.overlay.hides(name)) throw new RootPathError(path, `was deleted in the container (${this.overlay.label.replace(/rootfs-diff\.tar$/, 'deleted.files')})`);
    }
    const host = join(this.root, ...parts);
    let stat;
    try {
      stat = lstatSync(host);
    } catch {
      throw new RootPathError(path, `does not exist under ${this.where()}`);
    }
    if (stat.isSymbolicLink()) {
      try {
        return { kind: 'symlink', target: readlinkSync(host) };
      } catch {
        throw new RootPathError(path, `changed while it was resolved under ${this.where()}`);
      }
    }
    const entry: RootEntry = { layer: 'base', hostPath: host };
    if (stat.isDirectory()) return { kind: 'dir', entry };
    return { kind: stat.isFile() ? 'file' : 'other', entry };
  }

  /** Where `path` is, with every symlink resolved within the root (and the overlay). */
  resolveEntry(path: string): RootEntry {
    if (!path.startsWith('/')) throw new RootPathError(path, 'is not an absolute path');
    if (path.split('/').includes('..')) throw new RootPathError(path, "contains '..'");
    const done: string[] = [];
    let pending = path.split('/').filter((part) => part !== '' && part !== '.');
    let links = 0;
    let last: Node = { kind: 'dir', entry: { layer: 'base', hostPath: this.root } };
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        done.pop();
        last = { kind: 'dir', entry: undefined };
        continue;
      }
      if (last.kind !== 'dir') throw new RootPathError(path, `does not exist under ${this.where()} (${done.join('/')} is not a directory)`);
      const node = this.node([...done, part], path);
      if (node.kind !== 'symlink') {
        done.push(part);
        last = node;
        continue;
      }
      if (++links > MAX_SYMLINKS) throw new RootPathError(path, 'has too many levels of symbolic links');
      const targetParts = node.target.split('/').filter((p) => p !== '' && p !== '.');
      if (node.target.startsWith('/')) done.length = 0;
      last = { kind: 'dir', entry: undefined };
      pending = [...targetParts, ...pending];
    }
    if (last.kind === 'dir' && last.entry === undefined) {
      // A directory known only by name (after `..` or a symlink, or implied by the diff): look it up again.
      last = done.length === 0 ? { kind: 'dir', entry: { layer: 'base', hostPath: this.root } } : this.node(done, path);
      if (last.kind === 'dir' && last.entry === undefined) return { layer: 'base', hostPath: join(this.root, ...done) };
    }
    if (last.kind === 'symlink') throw new RootPathError(path, 'has too many levels of symbolic links');
    return last.entry ?? { layer: 'base', hostPath: join(this.root, ...done) };
  }

  /**
   * Host path of `path` inside the root, with every symlink resolved within the root: a name to show or to
   * link to, never to open (whoever controls the root may change what it names): {@link open},
   * {@link openContent} and {@link readlink} give descriptors from the race-free walk instead.
   */
  resolve(path: string): string {
    const entry = this.resolveEntry(path);
    if (entry.layer === 'diff') throw new RootPathError(path, `is in ${this.overlay?.label ?? 'the rootfs diff'}, not on the host`);
    return entry.hostPath;
  }

  /** Opens `path` read-only inside the root for positioned reads: in place for files of the diff. */
  openContent(path: string): RootContent {
    const entry = this.resolveEntry(path);
    if (entry.layer === 'diff') {
      if (entry.member.type !== 'file') throw new RootPathError(path, 'is not a regular file');
      let data;
      try {
        data = this.overlay!.data(entry.member);
      } catch (error) {
        throw new RootPathError(path, error instanceof Error ? error.message : String(error));
      }
      return { fd: data.fd, base: data.base, size: data.size, layer: 'diff', close: () => undefined };
    }
    const { fd, size } = this.openHost(path, entry.hostPath);
    return { fd, base: 0, size, layer: 'base', close: () => closeSync(fd) };
  }

  /**
   * Opens `hostPath`, a path under the root without symbolic links (as {@link resolveEntry} makes it),
   * component by component from directory descriptors, following no symbolic link at all (see
   * {@link RootFs.openDirectory}); the last component is opened from its directory's descriptor with
   * O_NOFOLLOW, and what is read afterwards is read through the returned descriptor, never by name.
   */
  private openHost(path: string, hostPath: string): { fd: number; size: number } {
    const parts = this.hostParts(path, hostPath);
    let fd: number;
    if (!existsSync('/proc/self/fd')) fd = this.openStep(path, hostPath, 0);
    else {
      const dir = this.openDirectory(path, parts.slice(0, -1));
      try {
        const last = parts.length === 0 ? `/proc/self/fd/${dir}` : `/proc/self/fd/${dir}/${parts[parts.length - 1]!}`;
        // FIFOs and devices are refused before they are opened (the descriptor's fstat decides after).
        let kind;
        try {
          kind = lstatSync(last);
        } catch (error) {
          throw new RootPathError(path, `cannot be opened (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        if (!kind.isFile() && !kind.isSymbolicLink()) throw new RootPathError(path, 'is not a regular file');
        fd = this.openStep(path, last, 0);
      } finally {
        closeSync(dir);
      }
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      throw new RootPathError(path, 'is not a regular file');
    }
    return { fd, size: stat.size };
  }

  /** The components of `hostPath` below the root; refuses a path outside it. */
  private hostParts(path: string, hostPath: string): string[] {
    const rel = relative(this.root, hostPath);
    if (rel.startsWith('..') || rel.startsWith('/')) throw new RootPathError(path, `resolves outside ${this.root}`);
    return rel === '' ? [] : rel.split('/');
  }

  /** One open of the walk: read-only, no symlink followed, no blocking on a FIFO, no controlling tty. */
  private openStep(path: string, where: string, extra: number): number {
    try {
      return openSync(where, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY | extra);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code === 'ELOOP' || code === 'ENOTDIR') throw new RootPathError(path, 'changed while it was opened (a directory of it became a symbolic link)');
      throw new RootPathError(path, `cannot be opened (${code})`);
    }
  }

  /**
   * Opens the directory `parts` below the root, one component at a time: each step opens
   * `/proc/self/fd/DIR/NAME` with O_DIRECTORY | O_NOFOLLOW, where DIR is the directory opened by the step
   * before (the kernel looks NAME up in that very directory, whatever its path has become). A component
   * swapped for a symbolic link after it was resolved is refused instead of followed out of the root.
   *
   * This is the walk that openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS would do in the kernel.
   * Node.js has no binding for openat2 (nor openat), and criu-gdb uses no native add-on, so the walk is
   * made here from directory descriptors through /proc/self/fd; symbolic links are resolved beforehand by
   * {@link resolveEntry}, inside the root, and each resolved component is then checked again by the walk.
   */
  private openDirectory(path: string, parts: readonly string[]): number {
    let dir = this.openStep(path, this.root, constants.O_DIRECTORY);
    try {
      for (const part of parts) {
        const next = this.openStep(path, `/proc/self/fd/${dir}/${part}`, constants.O_DIRECTORY);
        closeSync(dir);
        dir = next;
      }
    } catch (error) {
      closeSync(dir);
      throw error;
    }
    return dir;
  }

  /**
   * The target of the symbolic link `path` inside the root, not followed: its directory is resolved
   * within the root and opened by the descriptor walk, and the link is read through that descriptor, so a
   * directory swapped for a link meanwhile is refused, never followed out of the root.
   */
  readlink(path: string): string {
    if (!path.startsWith('/') || path.endsWith('/')) throw new RootPathError(path, 'is not a symbolic link');
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (name === '' || name === '.' || name === '..') throw new RootPathError(path, 'is not a symbolic link');
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    const entry = this.resolveEntry(parent);
    if (this.overlay) {
      const member = this.overlay.entry(join(relative('/', parent === '/' ? '/' : parent), name).replace(/^\.\//, ''));
      if (member && member !== 'dir') {
        if (member.type === 'symlink') return member.linkName;
        throw new RootPathError(path, 'is not a symbolic link');
      }
    }
    if (entry.layer === 'diff') throw new RootPathError(path, 'is not a symbolic link');
    if (!existsSync('/proc/self/fd')) throw new RootPathError(path, 'cannot be read safely without /proc');
    const dir = this.openDirectory(path, this.hostParts(path, entry.hostPath));
    try {
      return readlinkSync(`/proc/self/fd/${dir}/${name}`);
    } catch (error) {
      throw new RootPathError(path, `is not a symbolic link (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    } finally {
      closeSync(dir);
    }
  }

  /**
   * Opens `path` read-only inside the root; returns its own descriptor and size. The caller closes it.
   * A file of the diff is copied to a private temporary file first (once), so that it has a descriptor.
   */
  open(path: string): { fd: number; size: number; hostPath: string } {
    const entry = this.resolveEntry(path);
    if (entry.layer === 'base') return { ...this.openHost(path, entry.hostPath), hostPath: entry.hostPath };
    const content = this.openContent(path);
    this.copies ??= makeTempDir();
    const copy = join(this.copies, `d${entry.member.dataOffset}`);
    let fd: number;
    try {
      fd = openSync(copy, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      const out = openSync(copy, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o400);
      try {
        const buffer = Buffer.allocUnsafe(1024 * 1024);
        for (let at = 0; at < content.size; ) {
          const n = readSync(content.fd, buffer, 0, Math.min(buffer.length, content.size - at), content.base + at);
          if (n === 0) break;
          writeSync(out, buffer, 0, n);
          at += n;
        }
      } finally {
        closeSync(out);
      }
      fd = openSync(copy, constants.O_RDONLY | constants.O_NOFOLLOW);
    }
    return { fd, size: content.size, hostPath: copy };
  }

  /** Removes the private copies made by {@link open}. */
  close(): void {
    if (this.copies) removeTempDir(this.copies);
    this.copies = undefined;
  }
}
