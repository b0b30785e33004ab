/**
 * Benchmark subjects shared by the bench scripts: real CRIU checkpoints of test/bench/bigmem.c, made once
 * with the CRIU that `npm test` installs and kept in test/.work/bench/<label>/images.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';

export const PROJECT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BENCH_WORK = join(PROJECT, 'test', '.work', 'bench');
export const CLI = join(PROJECT, 'dist', 'src', 'cli', 'main.js');
const cache = process.env['CRIU_GDB_CACHE'] ?? '/var/cache/criu-gdb';
export const CRIU = join(cache, 'bin', 'criu');

/** A checkpoint of bigmem: `mib` MiB of distinct page contents at `region`, 256 MiB never touched at `zeros`. */
export interface Subject {
  label: string;
  mib: number;
  dir: string;
  region: bigint;
  zeros: bigint;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Fails early with a clear message when the project is not built or CRIU is not installed. */
export function requireTools(): void {
  if (!existsSync(CLI)) throw new Error('build first: npm run build');
  if (!existsSync(CRIU)) throw new Error(`no CRIU at ${CRIU}: run npm test once to install it`);
  mkdirSync(BENCH_WORK, { recursive: true });
}

/** Makes (once) and returns the checkpoint `label` of bigmem with `mib` MiB. */
export function makeCheckpoint(label: string, mib: number): Subject {
  const dir = join(BENCH_WORK, label);
  const images = join(dir, 'images');
  const readyFile = join(dir, 'ready');
  const ready = existsSync(readyFile) ? readFileSync(readyFile, 'utf8').trim().split(' ') : [];
  if (!existsSync(join(images, 'pstree.img')) || ready.length < 4) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(images, { recursive: true });
    const binary = join(BENCH_WORK, 'bigmem');
    execFileSync('gcc', ['-O2', '-g', '-o', binary, join(PROJECT, 'test', 'bench', 'bigmem.c')]);
    execFileSync('setsid', ['-f', binary, String(mib), readyFile], { stdio: 'ignore' });
    for (let i = 0; i < 600 && !existsSync(readyFile); i++) sleep(100);
    sleep(200);
    const pid = execFileSync('pgrep', ['-n', '-f', `bigmem ${mib} ${readyFile}`]).toString().trim();
    execFileSync(CRIU, ['dump', '-t', pid, '-D', images, '-o', 'dump.log', '-v2'], { stdio: 'inherit' });
  }
  const [address, , zeros] = readFileSync(readyFile, 'utf8').trim().split(' ');
  return { label, mib, dir: images, region: BigInt(address ?? '0'), zeros: BigInt(zeros ?? '0') };
}

/** The small (1 MiB) and large (2 GiB) subjects. */
export function standardSubjects(): Subject[] {
  return [makeCheckpoint('small', 1), makeCheckpoint('large', 2048)];
}

/** Total size of the files in a directory. */
export function directoryBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** Median of the values. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Median wall time of running a command `runs` times, in milliseconds. */
export function timeCommand(command: string, args: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    times.push(performance.now() - start);
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`);
  }
  return median(times);
}

/** Prints rows as a right-aligned table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
