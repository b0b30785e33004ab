import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { CriuGdbError } from '../errors.js';

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

/**
 * The file tree that the checkpointed processes saw: `/` for a local dump, a container rootfs otherwise.
 * Paths from the images are resolved as if the root were `/`: absolute symlinks restart at the root,
 * `..` never climbs above it, and a recorded path that itself contains `..` is refused.
 */
export class RootFs {
  /** Resolved host path of the root directory. */
  readonly root: string;

  constructor(root: string) {
    try {
      this.root = realpathSync(root);
    } catch {
      throw new CriuGdbError(`${root}: root directory does not exist`);
    }
  }

  /** Host path of `path` inside the root, with every symlink resolved within the root. */
  resolve(path: string): string {
    if (!path.startsWith('/')) throw new RootPathError(path, 'is not an absolute path');
    if (path.split('/').includes('..')) throw new RootPathError(path, "contains '..'");
    const done: string[] = [];
    let pending = path.split('/').filter((part) => part !== '' && part !== '.');
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      const host = join(this.root, ...done, part);
      let isLink: boolean;
      try {
        isLink = lstatSync(host).isSymbolicLink();
      } catch {
        throw new RootPathError(path, `does not exist under ${this.root}`);
      }
      if (!isLink) {
        done.push(part);
        continue;
      }
      if (++links > MAX_SYMLINKS) throw new RootPathError(path, 'has too many levels of symbolic links');
      const target = readlinkSync(host);
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
      if (target.startsWith('/')) done.length = 0;
      pending = [...targetParts, ...pending];
    }
    return join(this.root, ...done);
  }

  /** Opens `path` read-only inside the root; returns its descriptor and size. The caller closes it. */
  open(path: string): { fd: number; size: number; hostPath: string } {
    const hostPath = this.resolve(path);
    let fd: number;
    try {
      fd = openSync(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      throw new RootPathError(path, `cannot be opened (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      throw new RootPathError(path, 'is not a regular file');
    }
    return { fd, size: stat.size, hostPath };
  }
}
