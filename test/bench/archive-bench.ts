/**
 * Opening a 2 GiB checkpoint archive directly versus unpacking it first, printed as one table.
 *
 *   npx tsx test/bench/archive-bench.ts [--gzip]
 *
 * Needs the 2 GiB checkpoint that test/bench/bench.ts makes (test/.work/bench/large/images: run
 * `npm run bench` once) and the built CLI. Puts it once in the Podman layout (checkpoint/, config.dump,
 * spec.dump) as large.tar and large.tar.zst (and large.tar.gz with --gzip) in test/.work/bench/archive/, then
 * times, as medians of a few runs:
 *   - `criu-gdb ps ARCHIVE` (ps reads every command line from memory, so it needs the pages);
 *   - the same with pages extracted lazily, and with the WebAssembly zstd decoder;
 *   - `tar -x` into a temporary directory, then `criu-gdb ps DIR`;
 *   - time to the first backtrace in gdb (criu-load + bt) both ways.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const project = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(project, 'dist', 'src', 'cli', 'main.js');
/** The gdb plugin (CRIU_GDB_PLUGIN overrides it, e.g. to try a patched copy). */
const plugin = process.env['CRIU_GDB_PLUGIN'] ?? join(project, 'gdb-plugin', 'criu_gdb.py');
const large = join(project, 'test', '.work', 'bench', 'large', 'images');
const work = join(project, 'test', '.work', 'bench', 'archive');
const RUNS = 3;

function fail(message: string): never {
  process.stderr.write(`archive-bench: ${message}\n`);
  process.exit(1);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Runs a command; returns its wall time in ms. Fails the benchmark when it fails. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const start = performance.now();
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - start;
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed: ${result.stderr.toString().trim() || result.stdout.toString().trim()}`);
  return ms;
}

function makeArchives(gzip: boolean): { tar: string; zstd: string; gzip: string } {
  mkdirSync(work, { recursive: true });
  const bundle = join(work, 'bundle');
  if (!existsSync(join(bundle, 'checkpoint'))) {
    mkdirSync(bundle, { recursive: true });
    symlinkSync(large, join(bundle, 'checkpoint'));
    writeFileSync(join(bundle, 'config.dump'), JSON.stringify({ id: 'b'.repeat(64), name: 'bigmem', rootfsImageName: 'localhost/bigmem:latest', runtime: 'crun', createdTime: '2026-01-01T00:00:00Z', checkpointedTime: '2026-01-01T00:01:00Z' }));
    writeFileSync(join(bundle, 'spec.dump'), JSON.stringify({ annotations: { 'io.container.manager': 'libpod' } }));
  }
  const tar = join(work, 'large.tar');
  const files = { tar, zstd: `${tar}.zst`, gzip: `${tar}.gz` };
  const tarArgs = ['-C', bundle, '--dereference', '-cf', '-', 'config.dump', 'spec.dump', 'checkpoint'];
  if (!existsSync(tar)) {
    process.stderr.write('archive-bench: writing large.tar\n');
    execFileSync('sh', ['-c', `tar ${tarArgs.map((a) => `'${a}'`).join(' ')} > '${tar}'`]);
  }
  if (!existsSync(files.zstd)) {
    process.stderr.write('archive-bench: writing large.tar.zst\n');
    execFileSync('zstd', ['-q', '-3', '-T0', tar, '-o', files.zstd]);
  }
  if (gzip && !existsSync(files.gzip)) {
    process.stderr.write('archive-bench: writing large.tar.gz (slow)\n');
    execFileSync('sh', ['-c', `gzip -1 -c '${tar}' > '${files.gzip}'`]);
  }
  return files;
}

interface Row {
  what: string;
  ms: number;
  note: string;
}

/** `tar -x` into a fresh directory, then `run` on it; returns both times. */
function extractThen(archive: string, flags: string[], run: (dir: string) => number): { extract: number; then: number; bytes: number } {
  const extracts: number[] = [];
  const thens: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'archive-bench-'));
    try {
      extracts.push(timed('tar', [...flags, '-xf', archive, '-C', dir]));
      bytes = dirBytes(dir);
      thens.push(run(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { extract: median(extracts), then: median(thens), bytes };
}

function gdbFirstBt(target: string): number {
  return timed('gdb', ['-nx', '-batch', '-iex', 'set pagination off', '-iex', `source ${plugin}`, '-ex', `criu-load ${target}`, '-ex', 'bt']);
}

function gdbWorksOnArchives(archive: string): boolean {
  const result = spawnSync('gdb', ['-nx', '-batch', '-iex', `source ${plugin}`, '-ex', `criu-load ${archive}`], { encoding: 'utf8' });
  return !/not a directory/.test(`${result.stdout}${result.stderr}`);
}

function main(): void {
  if (!existsSync(cli)) fail('the CLI is not built: run npm run build');
  if (!existsSync(join(large, 'pstree.img'))) fail(`${large} is missing: run npm run bench once (it makes the 2 GiB checkpoint)`);
  const withGzip = process.argv.includes('--gzip');
  const files = makeArchives(withGzip);
  const imageBytes = dirBytes(large);
  const rows: Row[] = [];
  const ps = (target: string, env: NodeJS.ProcessEnv = {}): number => median([...Array(RUNS).keys()].map(() => timed('node', [cli, 'ps', target], env)));

  rows.push({ what: 'criu-gdb ps DIR (already unpacked)', ms: ps(large), note: 'reference' });
  rows.push({ what: 'criu-gdb ps large.tar (plain, read in place)', ms: ps(files.tar), note: 'nothing extracted' });
  const plain = extractThen(files.tar, [], (dir) => timed('node', [cli, 'ps', join(dir, 'checkpoint')]));
  rows.push({ what: 'tar -x large.tar, then criu-gdb ps DIR', ms: plain.extract + plain.then, note: `tar -x ${plain.extract.toFixed(0)} ms + ps ${plain.then.toFixed(0)} ms` });

  rows.push({ what: 'criu-gdb ps large.tar.zst (zstd program, pages at open)', ms: ps(files.zstd), note: 'one pass' });
  rows.push({ what: 'criu-gdb ps large.tar.zst (pages on first read)', ms: ps(files.zstd, { CRIU_GDB_ARCHIVE_PAGES: 'lazy' }), note: 'two passes' });
  rows.push({ what: 'criu-gdb ps large.tar.zst (WebAssembly zstd)', ms: ps(files.zstd, { CRIU_GDB_ZSTD: 'wasm' }), note: 'no zstd program' });
  const zstd = extractThen(files.zstd, ['--zstd'], (dir) => timed('node', [cli, 'ps', join(dir, 'checkpoint')]));
  rows.push({ what: 'tar --zstd -x large.tar.zst, then criu-gdb ps DIR', ms: zstd.extract + zstd.then, note: `tar -x ${zstd.extract.toFixed(0)} ms + ps ${zstd.then.toFixed(0)} ms` });

  if (withGzip) {
    rows.push({ what: 'criu-gdb ps large.tar.gz (zlib)', ms: ps(files.gzip), note: 'one pass' });
    const gz = extractThen(files.gzip, ['-z'], (dir) => timed('node', [cli, 'ps', join(dir, 'checkpoint')]));
    rows.push({ what: 'tar -xz large.tar.gz, then criu-gdb ps DIR', ms: gz.extract + gz.then, note: `tar -x ${gz.extract.toFixed(0)} ms + ps ${gz.then.toFixed(0)} ms` });
  }

  if (gdbWorksOnArchives(files.zstd)) {
    rows.push({ what: 'gdb: criu-load large.tar.zst + bt', ms: median([...Array(RUNS).keys()].map(() => gdbFirstBt(files.zstd))), note: 'time to first backtrace' });
    const viaDir = extractThen(files.zstd, ['--zstd'], (dir) => gdbFirstBt(join(dir, 'checkpoint')));
    rows.push({ what: 'gdb: tar --zstd -x, then criu-load DIR + bt', ms: viaDir.extract + viaDir.then, note: `tar -x ${viaDir.extract.toFixed(0)} ms + gdb ${viaDir.then.toFixed(0)} ms` });
  } else {
    rows.push({ what: 'gdb: criu-load large.tar.zst + bt', ms: NaN, note: 'n/a: this gdb plugin refuses archive paths' });
  }

  const size = (path: string): string => `${(statSync(path).size / 2 ** 30).toFixed(2)} GiB`;
  process.stdout.write(
    `\nCheckpoint: ${(imageBytes / 2 ** 30).toFixed(2)} GiB of images; large.tar ${size(files.tar)}, large.tar.zst ${size(files.zstd)}` +
      `${withGzip ? `, large.tar.gz ${size(files.gzip)}` : ''}; median of ${RUNS} runs\n\n`,
  );
  const width = Math.max(...rows.map((r) => r.what.length));
  process.stdout.write(`${'case'.padEnd(width)}  ${'seconds'.padStart(8)}  notes\n`);
  for (const row of rows) process.stdout.write(`${row.what.padEnd(width)}  ${(Number.isNaN(row.ms) ? '-' : (row.ms / 1000).toFixed(2)).padStart(8)}  ${row.note}\n`);
}

main();
