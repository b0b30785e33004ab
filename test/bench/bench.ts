/**
 * Benchmarks for the reader and the CLI, printed as one table. Makes (once) a small and a 2 GiB checkpoint of
 * test/bench/bigmem.c with the test CRIU, then measures on both:
 *   - `criu-gdb ps` wall time (median of several runs): should not grow with the checkpoint size;
 *   - CLI start-up, built (node dist/) and through tsx;
 *   - sequential read throughput through the reader API (256 MiB in 1 MiB reads);
 *   - peak RSS of a process that opens the checkpoint and reads 256 MiB.
 * Run: npm run bench   (needs root and the CRIU that `npm test` installs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const project = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = join(project, 'test', '.work', 'bench');
const cache = process.env['CRIU_GDB_CACHE'] ?? '/var/cache/criu-gdb';
const criu = join(cache, 'bin', 'criu');
const cli = join(project, 'dist', 'src', 'cli', 'main.js');

interface Subject {
  label: string;
  mib: number;
  dir: string;
  region: bigint;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function makeCheckpoint(label: string, mib: number): Subject {
  const dir = join(work, label);
  const images = join(dir, 'images');
  const readyFile = join(dir, 'ready');
  if (!existsSync(join(images, 'pstree.img')) || !existsSync(readyFile)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(images, { recursive: true });
    const binary = join(work, 'bigmem');
    if (!existsSync(binary)) execFileSync('gcc', ['-O2', '-o', binary, join(project, 'test', 'bench', 'bigmem.c')]);
    execFileSync('setsid', ['-f', binary, String(mib), readyFile], { stdio: 'ignore' });
    for (let i = 0; i < 600 && !existsSync(readyFile); i++) sleep(100);
    sleep(200);
    const pid = execFileSync('pgrep', ['-n', '-f', `bigmem ${mib} ${readyFile}`]).toString().trim();
    execFileSync(criu, ['dump', '-t', pid, '-D', images, '-o', 'dump.log', '-v2'], { stdio: 'inherit' });
  }
  const [address] = readFileSync(readyFile, 'utf8').trim().split(' ');
  return { label, mib, dir: images, region: BigInt(address ?? '0') };
}

function imagesBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function timeCommand(command: string, args: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    times.push(performance.now() - start);
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`);
  }
  return median(times);
}

/** Runs the read benchmark in a child process so that its RSS is its own. */
function readBenchmark(subject: Subject, bytes: number): { mbPerSecond: number; peakRssMb: number } {
  const script = `
    import { Checkpoint } from ${JSON.stringify(join(project, 'dist', 'src', 'model', 'checkpoint.js'))};
    const checkpoint = Checkpoint.open(${JSON.stringify(subject.dir)});
    const memory = checkpoint.rootProcess.memory();
    const chunk = 1 << 20;
    const total = ${bytes};
    const start = performance.now();
    let read = 0;
    for (let at = ${subject.region}n; read < total; at += BigInt(chunk)) { const r = memory.read(at, chunk); if (r.unavailable.length) throw new Error('unavailable'); read += chunk; }
    const seconds = (performance.now() - start) / 1000;
    console.log(JSON.stringify({ mbPerSecond: total / 1e6 / seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
  `;
  const out = execFileSync('node', ['--input-type=module', '-e', script]).toString();
  return JSON.parse(out) as { mbPerSecond: number; peakRssMb: number };
}

function main(): void {
  if (!existsSync(cli)) throw new Error('build first: npm run build');
  if (!existsSync(criu)) throw new Error(`no CRIU at ${criu}: run npm test once to install it`);
  mkdirSync(work, { recursive: true });
  const subjects = [makeCheckpoint('small', 1), makeCheckpoint('large', 2048)];
  const rows: string[][] = [];
  const startupBuilt = timeCommand('node', [cli, '--help'], 9);
  const startupTsx = timeCommand(join(project, 'node_modules', '.bin', 'tsx'), [join(project, 'src', 'cli', 'main.ts'), '--help'], 5);
  for (const subject of subjects) {
    const psMs = timeCommand('node', [cli, 'ps', subject.dir], 7);
    const infoMs = timeCommand('node', [cli, 'info', subject.dir], 7);
    const readBytes = Math.min(256 * 2 ** 20, subject.mib * 2 ** 20);
    const reads = readBenchmark(subject, readBytes);
    rows.push([
      subject.label,
      `${(imagesBytes(subject.dir) / 2 ** 20).toFixed(1)} MiB`,
      psMs.toFixed(0),
      infoMs.toFixed(0),
      `${(readBytes / 2 ** 20).toFixed(0)} MiB`,
      reads.mbPerSecond.toFixed(0),
      reads.peakRssMb.toFixed(0),
    ]);
  }
  const header = ['checkpoint', 'images', 'ps ms', 'info ms', 'read', 'read MB/s', 'peak RSS MB'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log('');
  console.log(`CLI start-up (--help): built ${startupBuilt.toFixed(0)} ms, through tsx ${startupTsx.toFixed(0)} ms`);
  const [small, large] = rows;
  if (small && large) console.log(`ps on ${large[1]} vs ${small[1]}: ${(Number(large[2]) / Number(small[2])).toFixed(2)}x`);
}

main();
