/**
 * The gdbs the tests run criu-gdb under: the system's gdb (Debian 12's 13.1) first, then the private gdb 16
 * (Debian trixie) and gdb 18 (Debian forky) that test/setup/install-gdb-versions.sh installs beside it
 * (`npm test` runs it). A private gdb that could not be installed is listed as unavailable, with the reason
 * the installer recorded, and the tests that need it are skipped.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One gdb of the version matrix. */
export interface GdbUnderTest {
  /** `gdb` and the version it reports, e.g. `gdb 13.1`; `gdb 16` when it is not available. */
  readonly label: string;
  /** Major version, e.g. 13. */
  readonly major: number;
  /** What to run: `gdb` for the system's (found on PATH), else the absolute path of the private wrapper. */
  readonly command: string;
  readonly available: boolean;
  /** Why it is not available (only when `available` is false). */
  readonly reason?: string;
}

/** The private gdbs install-gdb-versions.sh installs by default, by Debian suite. */
const PRIVATE_GDBS: readonly { suite: string; major: number }[] = [
  { suite: 'trixie', major: 16 },
  { suite: 'forky', major: 18 },
];

const HOW_TO_INSTALL = 'run `npm test` (or `bash test/setup/install-gdb-versions.sh` as root)';

/** Where the installers put their trees and wrappers: $CRIU_GDB_CACHE, else /var/cache/criu-gdb. */
function cacheDir(): string {
  const cache = process.env['CRIU_GDB_CACHE'];
  return cache !== undefined && cache !== '' ? cache : '/var/cache/criu-gdb';
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? '';
}

/** The error output of a failed child process, or its message. */
function failure(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'stderr' in error) {
    const stderr = error.stderr;
    const text = typeof stderr === 'string' ? stderr : Buffer.isBuffer(stderr) ? stderr.toString('utf8') : '';
    if (firstLine(text) !== '') return firstLine(text);
  }
  return error instanceof Error ? error.message : String(error);
}

/** Runs `command --version`; the version is the last word of its first line (`GNU gdb (Debian 16.3-1) 16.3`). */
function probe(command: string, fallbackMajor: number): GdbUnderTest {
  let out: string;
  try {
    out = execFileSync(command, ['--version'], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return { label: `gdb ${fallbackMajor}`, major: fallbackMajor, command, available: false, reason: `\`${command} --version\` failed: ${failure(error)}` };
  }
  const m = /(\d+)\.\d+\S*\s*$/.exec(firstLine(out));
  if (!m || m[1] === undefined) {
    return { label: `gdb ${fallbackMajor}`, major: fallbackMajor, command, available: false, reason: `cannot read a version in \`${command} --version\`: ${firstLine(out)}` };
  }
  return { label: `gdb ${m[0].trim()}`, major: Number(m[1]), command, available: true };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A private gdb: its wrapper (recorded in gdb-<suite>/criu-gdb.wrapper, else bin/gdb-<major>), or why there is none. */
function privateGdb(suite: string, major: number): GdbUnderTest {
  const cache = cacheDir();
  const unavailable = join(cache, `gdb-${suite}.unavailable`);
  const marker = join(cache, `gdb-${suite}`, 'criu-gdb.wrapper');
  const recorded = existsSync(marker) ? firstLine(readFileSync(marker, 'utf8')) : '';
  const wrapper = recorded !== '' ? recorded : join(cache, 'bin', `gdb-${major}`);
  const missing = (reason: string): GdbUnderTest => ({ label: `gdb ${major}`, major, command: wrapper, available: false, reason });
  if (existsSync(unavailable)) {
    const why = firstLine(readFileSync(unavailable, 'utf8'));
    return missing(`gdb ${major} from Debian ${suite} could not be installed: ${why !== '' ? why : 'no reason recorded'}`);
  }
  if (!isExecutable(wrapper)) return missing(`gdb ${major} from Debian ${suite} is not installed (no ${wrapper}): ${HOW_TO_INSTALL}`);
  return probe(wrapper, major);
}

let matrix: readonly GdbUnderTest[] | undefined;

/**
 * The system's gdb, then gdb 16 and gdb 18, each with `available` and, if not, the reason. Each gdb's
 * `--version` is read once per process.
 */
export function gdbMatrix(): GdbUnderTest[] {
  if (matrix === undefined) {
    const system = probe('gdb', 13);
    matrix = [
      system.available ? system : { ...system, reason: `the system has no working gdb (${system.reason ?? 'unknown'}): run \`npm test\`, which installs it` },
      ...PRIVATE_GDBS.map(({ suite, major }) => privateGdb(suite, major)),
    ];
  }
  return [...matrix];
}

const warned = new Set<string>();

/** Prints once per process, to stderr, why `gdb` is skipped; does nothing for an available gdb. */
export function warnIfUnavailable(gdb: GdbUnderTest): void {
  if (gdb.available || warned.has(gdb.command)) return;
  warned.add(gdb.command);
  console.warn(`skipping the tests with ${gdb.label}: ${gdb.reason ?? 'unavailable'}`);
}
