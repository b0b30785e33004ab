/**
 * Finds a file by its GNU build-id, the way gdb and elfutils do: the debuginfod client cache first, then
 * local `.build-id` trees, then the servers of `DEBUGINFOD_URLS` (`GET URL/buildid/ID/executable` or
 * `/debuginfo`). Downloads land in the same cache, under the same names, so gdb and criu-gdb share them.
 * A download is checked to carry the build-id that was asked for before it is kept.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CriuGdbError } from '../errors.js';
import { readBuildId } from './build-id.js';

/** What a build-id names: the ELF file itself, or its separate debug info. */
export type BuildIdArtifact = 'executable' | 'debuginfo';

export interface DebuginfodSettings {
  /** Server base URLs, in the order they are tried. */
  urls: string[];
  /** The debuginfod client cache (`$DEBUGINFOD_CACHE_PATH`, else `$XDG_CACHE_HOME/debuginfod_client`). */
  cacheDir: string;
  /** Directories that hold a `.build-id` tree (or are one), searched before any server. */
  buildIdDirs: string[];
  /** Largest file a server may send, in bytes. */
  maxBytes: number;
  /** Seconds after which a server that has sent nothing is given up. */
  timeoutSeconds: number;
}

/** Where a file was found. */
export interface FoundByBuildId {
  path: string;
  from: 'cache' | 'local' | 'server';
  /** The server's URL, when downloaded now. */
  url?: string;
}

/** A server answered with an error, sent a wrong file, or could not be reached. */
export class DebuginfodError extends CriuGdbError {
  override readonly name = 'DebuginfodError';
}

/** How long a negative cache entry (an empty file elfutils leaves after a miss) stops new queries. */
const CACHE_MISS_SECONDS = 600;
const DEFAULT_MAX_BYTES = 4 * 2 ** 30;
const DEFAULT_TIMEOUT_SECONDS = 90;

/** Settings from the environment, as elfutils reads them, plus directories the user named. */
export function debuginfodSettings(env: NodeJS.ProcessEnv = process.env, extraBuildIdDirs: string[] = []): DebuginfodSettings {
  const cacheBase = env['XDG_CACHE_HOME'] || join(env['HOME'] || homedir(), '.cache');
  const timeout = Number(env['DEBUGINFOD_TIMEOUT']);
  const maxBytes = Number(env['DEBUGINFOD_MAXSIZE']);
  return {
    urls: (env['DEBUGINFOD_URLS'] ?? '').split(/\s+/).filter((url) => /^https?:\/\//.test(url)).map((url) => url.replace(/\/+$/, '')),
    cacheDir: env['DEBUGINFOD_CACHE_PATH'] || join(cacheBase, 'debuginfod_client'),
    buildIdDirs: [...extraBuildIdDirs, '/usr/lib/debug'],
    maxBytes: Number.isFinite(maxBytes) && maxBytes > 0 ? maxBytes : DEFAULT_MAX_BYTES,
    timeoutSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_TIMEOUT_SECONDS,
  };
}

function isBuildId(hex: string): boolean {
  return /^[0-9a-f]{2,128}$/.test(hex) && hex.length % 2 === 0;
}

function regularFile(path: string): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && stat.size > 0;
  } catch {
    return false;
  }
}

/** The build-id of the ELF file at `path`, as lowercase hex, or undefined. */
export function fileBuildId(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    return readBuildId(fd)?.toString('hex');
  } finally {
    closeSync(fd);
  }
}

/** Candidates in one `.build-id` tree: `ab/cdef...` for the file itself, `ab/cdef....debug` for debug info. */
function localCandidates(dir: string, buildId: string, artifact: BuildIdArtifact): string[] {
  const tree = dir.endsWith('.build-id') ? dir : join(dir, '.build-id');
  const base = join(tree, buildId.slice(0, 2), buildId.slice(2));
  return [artifact === 'debuginfo' ? `${base}.debug` : base];
}

/** A negative cache entry younger than the cache-miss time: servers had nothing a moment ago. */
function recentMiss(path: string): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && stat.size === 0 && (stat.mode & 0o777) === 0 && Date.now() - stat.mtimeMs < CACHE_MISS_SECONDS * 1000;
  } catch {
    return false;
  }
}

/**
 * The file with `buildId` (hex), or undefined when no cache, directory or server has it. `progress` is called
 * with one line per download step; `signal` cancels a download (the partial file is removed).
 */
export async function findByBuildId(
  buildId: string,
  artifact: BuildIdArtifact,
  settings: DebuginfodSettings,
  options: { signal?: AbortSignal; progress?: (message: string) => void } = {},
): Promise<FoundByBuildId | undefined> {
  const id = buildId.toLowerCase();
  if (!isBuildId(id)) throw new DebuginfodError(`${JSON.stringify(buildId)} is not a build-id`);
  const cached = join(settings.cacheDir, id, artifact);
  if (regularFile(cached) && (artifact === 'debuginfo' || fileBuildId(cached) === id)) return { path: cached, from: 'cache' };
  for (const dir of settings.buildIdDirs) {
    for (const candidate of localCandidates(dir, id, artifact)) {
      if (regularFile(candidate) && fileBuildId(candidate) === id) return { path: candidate, from: 'local' };
    }
  }
  if (settings.urls.length === 0 || recentMiss(cached)) return undefined;
  const problems: string[] = [];
  for (const url of settings.urls) {
    try {
      const path = await download(`${url}/buildid/${id}/${artifact}`, cached, id, artifact, settings, options);
      if (path) return { path, from: 'server', url };
    } catch (error) {
      if (options.signal?.aborted) throw new DebuginfodError(`download of ${id} ${artifact} cancelled`);
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  if (problems.length > 0) throw new DebuginfodError(`build-id ${id}: ${problems.join('; ')}`);
  return undefined;
}

/** Downloads into a temporary file beside `target`, checks it, then renames it into place. Undefined on 404. */
async function download(
  url: string,
  target: string,
  buildId: string,
  artifact: BuildIdArtifact,
  settings: DebuginfodSettings,
  options: { signal?: AbortSignal; progress?: (message: string) => void },
): Promise<string | undefined> {
  const timeout = AbortSignal.timeout(settings.timeoutSeconds * 1000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const response = await fetch(url, { signal, redirect: 'follow' });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new DebuginfodError(`${url}: HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > settings.maxBytes) {
    await response.body.cancel();
    throw new DebuginfodError(`${url}: ${declared} bytes is more than the limit of ${settings.maxBytes}`);
  }
  mkdirSync(join(target, '..'), { recursive: true });
  const partial = `${target}.${process.pid}.part`;
  const fd = openSync(partial, 'w', 0o600);
  let received = 0;
  let reported = 0;
  try {
    options.progress?.(`Downloading ${artifact} for build-id ${buildId} from ${new URL(url).host}${Number.isFinite(declared) ? ` (${formatBytes(declared)})` : ''}`);
    for await (const chunk of response.body) {
      const bytes = chunk instanceof Uint8Array ? chunk : new Uint8Array();
      received += bytes.length;
      if (received > settings.maxBytes) throw new DebuginfodError(`${url}: more than the limit of ${settings.maxBytes} bytes`);
      writeSync(fd, bytes);
      if (received - reported >= 16 * 2 ** 20) {
        reported = received;
        options.progress?.(`  ${formatBytes(received)}${Number.isFinite(declared) ? ` of ${formatBytes(declared)}` : ''}`);
      }
    }
  } catch (error) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw error;
  }
  closeSync(fd);
  if (artifact === 'executable' && fileBuildId(partial) !== buildId) {
    rmSync(partial, { force: true });
    throw new DebuginfodError(`${url}: the file sent does not have build-id ${buildId}`);
  }
  renameSync(partial, target);
  return existsSync(target) ? target : undefined;
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}
