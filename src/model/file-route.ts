/**
 * How gdb gets the checkpoint's files (executables, libraries): gdb's `sysroot` for the session.
 *
 * - `local` (sysroot `/`): the root is this machine's `/`, there is no container overlay, and every mapped
 *   file matches the checkpoint. gdb opens the processes' own paths, as with a live process.
 * - `view` (sysroot: a private directory): anything else. The directory holds, at each mapped file's path,
 *   a symlink to the checked file: the helper's own descriptor of it (`/proc/PID/fd/N`, open for the
 *   session, so a file under the root cannot be swapped after its check), extracted from the container's
 *   rootfs diff, or found by build-id (local `.build-id` trees, the debuginfod cache and servers). A file
 *   that does not match and cannot be found by build-id is left out: gdb gets no file rather than a wrong one.
 * - `remote` (sysroot `target:`): on request, every file through the remote protocol's vFile packets.
 */
import { closeSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CriuGdbError } from '../errors.js';
import { findByBuildId, fileBuildId, type DebuginfodSettings } from '../rootfs/debuginfod.js';

export { debuginfodSettings } from '../rootfs/debuginfod.js';
import type { Checkpoint } from './checkpoint.js';
import type { MappedFile } from './file-check.js';

/** The file route of a session. */
export interface FileRoute {
  route: 'local' | 'view' | 'remote';
  /** What gdb's `sysroot` is set to. */
  sysroot: string;
  /** Lines to tell the user (why a view, what was found by build-id). */
  notes: string[];
}

/** Options of {@link prepareFileRoute}. */
export interface FileRouteOptions {
  /** Use vFile for every file (sysroot `target:`). */
  remote?: boolean | undefined;
  /** Where to look files up by build-id; undefined disables it. */
  debuginfod?: DebuginfodSettings | undefined;
  signal?: AbortSignal | undefined;
  progress?: ((message: string) => void) | undefined;
}

/** Whether `file` can be found by its build-id: it does not match (or is missing) and a build-id was recorded. */
function wantsBuildIdLookup(file: MappedFile): boolean {
  return (file.status === 'mismatch' || file.status === 'missing') && file.recorded.buildId !== undefined;
}

/** The file with `file`'s recorded build-id (and size, when recorded), or undefined. */
async function fileByBuildId(checkpoint: Checkpoint, file: MappedFile, options: FileRouteOptions, notes: string[]): Promise<string | undefined> {
  const buildId = file.recorded.buildId;
  if (!buildId || !options.debuginfod) return undefined;
  let found;
  try {
    found = await findByBuildId(buildId, 'executable', options.debuginfod, { signal: options.signal, progress: options.progress });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    if (!(error instanceof CriuGdbError)) throw error;
    notes.push(`${file.path}: ${error.message}`);
    return undefined;
  }
  if (!found || fileBuildId(found.path) !== buildId) return undefined;
  // The same checks as the file under the root (size and build-id); its pages are then served from it too.
  if (!checkpoint.substituteFile(file.fileId, found.path)) {
    notes.push(`${file.path}: the file found by build-id ${buildId} (${found.path}) does not match the recorded size`);
    return undefined;
  }
  const where = found.from === 'server' ? `from ${found.url ?? 'a debuginfod server'}` : found.from === 'cache' ? 'in the debuginfod cache' : 'in a .build-id directory';
  notes.push(`${file.path}: using the file with the recorded build-id ${buildId}, found ${where} (${found.path})`);
  return found.path;
}

/**
 * Decides the file route for `checkpoint` and, for a view, makes it in `directory/root`. Mismatched files
 * are looked up by build-id (downloads report progress and stop on `signal`); a file found so also serves
 * the pages of its mappings, so call this before the processes' memory is read.
 */
export async function prepareFileRoute(checkpoint: Checkpoint, directory: string, options: FileRouteOptions = {}): Promise<FileRoute> {
  if (options.remote) return { route: 'remote', sysroot: 'target:', notes: [] };
  const files = checkpoint.mappedFiles();
  const rootFs = checkpoint.rootFs;
  if (rootFs.root === '/' && !rootFs.overlay && files.every((file) => file.status === 'match')) {
    return { route: 'local', sysroot: '/', notes: [] };
  }
  const view = join(directory, 'root');
  mkdirSync(view, { mode: 0o700 });
  const notes: string[] = [];
  const linked: string[] = [];
  const lookups = files.filter(wantsBuildIdLookup);
  let looked = 0;
  for (const file of files) {
    let target: string | undefined;
    if (file.status === 'match' && file.source) {
      // The descriptor the check opened: gdb then reads exactly the checked file, with no window for
      // whoever controls the root to swap a directory for a symbolic link between the check and gdb's open.
      target = file.source.descriptorPath() ?? checkpoint.tolerate(() => {
        const opened = rootFs.open(file.path);
        try {
          return opened.hostPath;
        } finally {
          closeQuietly(opened.fd);
        }
      });
    } else if (wantsBuildIdLookup(file)) {
      looked++;
      if (lookups.length > 1) options.progress?.(`looking up ${file.path} by build-id (${looked}/${lookups.length})`);
      target = await fileByBuildId(checkpoint, file, options, notes);
    }
    if (target === undefined) continue;
    // Paths with `..` never match (the root refuses them); never let one place a link outside the view.
    if (!file.path.startsWith('/') || file.path.split('/').includes('..')) continue;
    const link = join(view, file.path);
    try {
      mkdirSync(dirname(link), { recursive: true, mode: 0o700 });
      symlinkSync(target, link);
      linked.push(file.path);
    } catch (error) {
      // The same path under two file ids links once; a path under another file's name cannot be a directory.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' && (error as NodeJS.ErrnoException).code !== 'ENOTDIR') throw error;
    }
  }
  mirrorNames(checkpoint, view, linked);
  const because = rootFs.root !== '/' ? `the root is ${rootFs.root}` : rootFs.overlay ? `the container's files are laid over the root` : 'not every mapped file matches the checkpoint';
  const absent = files.length - linked.length;
  notes.unshift(`gdb reads the checked files from a private view (${view}), because ${because}${absent > 0 ? `; ${absent} of ${files.length} mapped files are not in it` : ''}`);
  return { route: 'view', sysroot: view, notes };
}

/**
 * gdb asks for libraries by the names the dynamic linker used (`/lib/x86_64-linux-gnu/libc.so.6`,
 * `/lib64/ld-linux-x86-64.so.2`), and the images record where they really are
 * (`/usr/lib/x86_64-linux-gnu/libc.so.6`). The view gets the root's top-level symlinks (`/lib -> usr/lib`;
 * absolute targets made relative, so that they stay in the view) and, in the directories of the linked
 * files and of those top-level links, each symlink of the root that resolves (inside the root) to a linked
 * file, as a relative link to it.
 */
function mirrorNames(checkpoint: Checkpoint, view: string, linked: readonly string[]): void {
  const { rootFs } = checkpoint;
  const resolved = (path: string): string | undefined => {
    try {
      return rootFs.resolve(path);
    } catch {
      return undefined;
    }
  };
  const link = (target: string, at: string): void => {
    try {
      mkdirSync(dirname(at), { recursive: true, mode: 0o700 });
      symlinkSync(target, at);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw error;
    }
  };
  const directories = new Set(linked.map((path) => dirname(path)));
  for (const name of listDirectory(rootFs.root)) {
    const target = readLink(join(rootFs.root, name));
    if (target === undefined || target.split('/').includes('..')) continue;
    link(target.startsWith('/') ? target.replace(/^\/+/, '') || '.' : target, join(view, name));
    directories.add(`/${name}`);
  }
  const byHost = new Map<string, string>();
  for (const path of linked) {
    const host = resolved(path);
    if (host !== undefined) byHost.set(host, path);
  }
  for (const directory of directories) {
    const host = resolved(directory);
    if (host === undefined || !host.startsWith(rootFs.root)) continue;
    const inView = join(view, relative(rootFs.root, host));
    for (const name of listDirectory(host)) {
      if (readLink(join(host, name)) === undefined) continue;
      const file = byHost.get(resolved(join(directory, name)) ?? '');
      if (file !== undefined) link(relative(inView, join(view, file)), join(inView, name));
    }
  }
}

function listDirectory(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function readLink(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}
