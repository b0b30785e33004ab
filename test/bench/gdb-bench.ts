/**
 * gdb benchmarks for criu-load, printed as tables, on the 1 MiB and 2 GiB checkpoints of test/bench/subjects.ts:
 *   - opening: wall time from starting gdb to a printed `bt`, through `criu-load` (local files and vFile) and
 *     through `criu-gdb DIR -- -batch -ex bt`, against gdb on an ELF core exported from the checkpoint;
 *   - read throughput through gdb: `dump binary memory` of 256 MiB of distinct data and of 256 MiB of zero
 *     pages, against gdb reading the same range from an ELF core of the same (live) program made by gcore,
 *     for every installed gdb (13 reads hex `m` packets; 16 and later binary `x` packets);
 *   - the floor of gdb's remote layer for the same read: gdb connected to test/bench/floor-stub.ts, which
 *     answers every read at once from precomputed distinct data; and gdb connected to gdbserver attached to
 *     a live bigmem (when gdbserver is installed). criu-load / floor shows how much of gdb's ceiling it reaches;
 *   - the helper's peak RSS after those reads;
 *   - a large executable: `node` (about 100 MB) running a `node -e` script, checkpointed once: open and
 *     `thread apply all bt` through criu-load (local files) and through vFile (`--remote-files`), against gdb
 *     on an ELF core of the same process (exported once from the checkpoint). Goal: criu-load at most 1.5x;
 *   - small reads: 8-byte reads from gdb's Python (what heap walkers and pretty printers do), nearby and
 *     scattered, on the 1 MiB checkpoint against gdb on an ELF core exported from it, for every installed
 *     gdb, with the floor stub under the plugin's cache settings beside them. Goal: at most 3x.
 * Options: `--only=node,small-reads,opening,bulk` runs some parts (`--node` and `--small-reads` one each);
 * the environment variable CRIU_GDB_BENCH_READ_MIB sets the bulk read size (default 256).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gdbMatrix, type GdbUnderTest } from '../helpers/gdb-versions.js';
import { startFloorStub } from './floor-stub.js';
import { BENCH_WORK, CLI, CRIU, PROJECT, makeCheckpoint, median, printTable, requireTools, standardSubjects, type Subject } from './subjects.js';

const PLUGIN = join(PROJECT, 'gdb-plugin', 'criu_gdb.py');
const MIB = 2 ** 20;
const READ = Number(process.env['CRIU_GDB_BENCH_READ_MIB'] ?? 256) * MIB;

function timeRuns(runs: number, action: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    action();
    times.push(performance.now() - start);
  }
  return median(times);
}

function gdb(args: string[], command = 'gdb'): string {
  const result = spawnSync(command, ['-nx', '-batch', ...args], { encoding: 'utf8', maxBuffer: 64 * MIB });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
  return result.stdout;
}

/** Seconds gdb takes for `dump binary memory` of [start, start+length), measured inside gdb. */
function dumpCommand(start: bigint, length: number): string[] {
  const end = start + BigInt(length);
  return ['-ex', `python import time; t=time.time(); gdb.execute('dump binary memory /dev/null 0x${start.toString(16)} 0x${end.toString(16)}'); print('@@SECONDS', time.time()-t)`];
}

function seconds(output: string): number {
  return Number(/^@@SECONDS (\S+)$/m.exec(output)?.[1] ?? NaN);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Starts bigmem with `mib` MiB in its own session; returns its pid once it has written `readyFile`. */
function startBigmem(mib: number, readyFile: string): string {
  execFileSync('setsid', ['-f', join(BENCH_WORK, 'bigmem'), String(mib), readyFile], { stdio: 'ignore' });
  for (let i = 0; i < 600 && !existsSync(readyFile); i++) sleep(100);
  return execFileSync('pgrep', ['-n', '-f', `bigmem ${mib} ${readyFile}`]).toString().trim();
}

/** The data and zero-page addresses bigmem wrote to its ready file. */
function readyAddresses(readyFile: string): { region: bigint; zeros: bigint } {
  const [region, , zeros] = readFileSync(readyFile, 'utf8').trim().split(' ');
  return { region: BigInt(region ?? '0'), zeros: BigInt(zeros ?? '0') };
}

/** An ELF core of a live bigmem of `mib` MiB, made once with gdb's gcore; returns paths and addresses. */
function liveCore(mib: number): { core: string; binary: string; region: bigint; zeros: bigint } {
  const dir = join(BENCH_WORK, `gcore-${mib}`);
  const readyFile = join(dir, 'ready');
  const core = join(dir, 'core');
  const binary = join(BENCH_WORK, 'bigmem');
  if (!existsSync(core) || !existsSync(readyFile)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const pid = startBigmem(mib, readyFile);
    execFileSync('gcore', ['-o', join(dir, 'gcore'), pid], { stdio: 'ignore' });
    execFileSync('mv', [join(dir, `gcore.${pid}`), core]);
    execFileSync('kill', ['-9', pid]);
  }
  return { core, binary, ...readyAddresses(readyFile) };
}

/** A private directory for sockets and ready files, removed by the caller. */
function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'criu-gdb-bench-'));
}

/** gdb arguments that connect to the floor stub without a file (no shared-library walk, amd64 registers). */
function floorConnect(socket: string): string[] {
  return ['-ex', 'set architecture i386:x86-64', '-ex', `target remote ${socket}`];
}

/** The plugin's cache settings (gdb-plugin/criu_gdb_plugin/session.py) for [start, end). */
function cacheSettings(start: bigint, end: bigint): string[] {
  return [
    '-ex', 'set mem inaccessible-by-default off',
    '-ex', 'set dcache line-size 4096',
    '-ex', 'set dcache size 4096',
    '-ex', `mem 0x${start.toString(16)} 0x${end.toString(16)} cache`,
  ];
}

/** Why gdbserver cannot be benchmarked, or undefined when it can. */
function gdbserverMissing(): string | undefined {
  const probe = spawnSync('gdbserver', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `no gdbserver on PATH (${probe.error.message})`;
  return probe.status === 0 ? undefined : `\`gdbserver --version\` failed: ${probe.stderr.trim()}`;
}

/** The first line of `gdbserver --version`, e.g. `GNU gdbserver (Debian 13.1-3) 13.1`. */
function gdbserverVersion(): string {
  return execFileSync('gdbserver', ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim() ?? 'gdbserver';
}

/**
 * Seconds `version` takes to dump [start, start+length) from gdbserver attached to `pid` over TCP (one
 * gdbserver --once per gdb; gdb detaches at its end and the process runs on).
 */
function gdbserverSeconds(version: GdbUnderTest, pid: string, binary: string, start: bigint, length: number, scratch: string): number {
  const log = join(scratch, `gdbserver-${version.major}.log`);
  const server = spawn('sh', ['-c', `exec gdbserver --once --attach 127.0.0.1:0 ${pid} 2>${log}`], { stdio: 'ignore' });
  let port: string | undefined;
  for (let i = 0; i < 300 && port === undefined; i++) {
    sleep(50);
    port = existsSync(log) ? /Listening on port (\d+)/.exec(readFileSync(log, 'utf8'))?.[1] : undefined;
  }
  if (port === undefined) {
    server.kill();
    throw new Error(`gdbserver did not listen: ${existsSync(log) ? readFileSync(log, 'utf8') : 'no output'}`);
  }
  try {
    return seconds(gdb([binary, '-ex', `target remote 127.0.0.1:${port}`, ...dumpCommand(start, length)], version.command));
  } finally {
    // gdbserver --once ends when gdb detaches; this only stops one that is left (the child is not reaped until now).
    server.kill();
  }
}

/** Median milliseconds of each command, run in turns (one run of each per round) so drift hits all alike. */
function interleaved(rounds: number, commands: Record<string, () => void>): Record<string, number> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(commands)) {
      const start = performance.now();
      run();
      times[name]!.push(performance.now() - start);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, list]) => [name, median(list)]));
}

/**
 * Opening, per checkpoint: gdb start to a printed `bt` through `criu-load` with local files, through
 * `criu-load --remote-files` (vFile), through the launcher, and through gdb on an ELF core exported
 * from the checkpoint (plus the export's own time). One row per route, with its ratio to gdb on the core.
 */
function openingTimes(subject: Subject): string[][] {
  const exported = join(BENCH_WORK, `export-${subject.label}`);
  rmSync(exported, { recursive: true, force: true });
  const convert = timeRuns(1, () => execFileSync('node', [CLI, 'coredump', subject.dir, '-o', exported], { stdio: 'ignore' }));
  const core = join(exported, readdirSync(exported).find((name) => name.startsWith('core.')) ?? 'core');
  const inGdb = (load: string) => () => execFileSync('gdb', ['-nx', '-batch', '-iex', `source ${PLUGIN}`, '-ex', load, '-ex', 'bt'], { stdio: 'ignore' });
  const times = interleaved(7, {
    local: inGdb(`criu-load ${subject.dir}`),
    vfile: inGdb(`criu-load ${subject.dir} --remote-files`),
    launcher: () => execFileSync('node', [CLI, subject.dir, '--', '-nx', '-batch', '-ex', 'bt'], { stdio: 'ignore' }),
    core: () => gdb([join(BENCH_WORK, 'bigmem'), core, '-ex', 'bt']),
  });
  rmSync(exported, { recursive: true, force: true });
  const onCore = times['core']!;
  const row = (route: string, ms: number): string[] => [subject.label, route, ms.toFixed(0), `${(ms / onCore).toFixed(2)}x`];
  return [
    row('gdb, criu-load (local files)', times['local']!),
    row('gdb, criu-load --remote-files (vFile)', times['vfile']!),
    row('criu-gdb DIR (launcher + the same)', times['launcher']!),
    row(`export to a core (${convert.toFixed(0)} ms), then gdb on it`, convert + onCore),
    row('gdb on an ELF core', onCore),
  ];
}

/** A checkpoint of a running `node -e` script (made once), and an ELF core of it (exported once). */
function nodeSubject(): { images: string; core: string; node: string } {
  const dir = join(BENCH_WORK, 'node');
  const images = join(dir, 'images');
  const readyFile = join(dir, 'ready');
  const node = execFileSync('readlink', ['-f', process.execPath]).toString().trim();
  if (!existsSync(join(images, 'pstree.img'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(images, { recursive: true });
    const script = `require('fs').writeFileSync(${JSON.stringify(readyFile)}, String(process.pid)); setInterval(() => {}, 1e9)`;
    // libuv's io_uring cannot be checkpointed; epoll can.
    execFileSync('setsid', ['-f', node, '-e', script], { stdio: 'ignore', env: { ...process.env, UV_USE_IO_URING: '0' } });
    for (let i = 0; i < 600 && !existsSync(readyFile); i++) sleep(100);
    sleep(500);
    const pid = readFileSync(readyFile, 'utf8').trim();
    execFileSync(CRIU, ['dump', '-t', pid, '-D', images, '-o', 'dump.log', '-v2', '--shell-job'], { stdio: 'inherit' });
  }
  const cores = join(dir, 'cores');
  if (!existsSync(cores) || !readdirSync(cores).some((name) => name.startsWith('core.'))) {
    rmSync(cores, { recursive: true, force: true });
    execFileSync('node', [CLI, 'coredump', images, '-o', cores], { stdio: 'ignore' });
  }
  const core = join(cores, readdirSync(cores).find((name) => name.startsWith('core.')) ?? 'core');
  return { images, core, node };
}

function largeExecutable(): void {
  const { images, core, node } = nodeSubject();
  const bt = ['-nx', '-batch', '-ex', 'thread apply all bt'];
  const inGdb = (load: string): string[] => ['-nx', '-batch', '-iex', `source ${PLUGIN}`, '-ex', load, '-ex', 'thread apply all bt'];
  const times = interleaved(7, {
    local: () => execFileSync('gdb', inGdb(`criu-load ${images}`), { stdio: 'ignore' }),
    launcher: () => execFileSync('node', [CLI, images, '--', ...bt], { stdio: 'ignore' }),
    remote: () => execFileSync('gdb', inGdb(`criu-load ${images} --remote-files`), { stdio: 'ignore' }),
    onCore: () => execFileSync('gdb', [...bt.slice(0, 2), node, core, ...bt.slice(2)], { stdio: 'ignore' }),
  });
  const { local, launcher, remote, onCore } = times as Record<'local' | 'launcher' | 'remote' | 'onCore', number>;
  printTable(
    ['route', 'open + thread apply all bt (ms, median of 7, routes in turns)', 'vs gdb on the core'],
    [
      ['gdb, criu-load (local files)', local.toFixed(0), `${(local / onCore).toFixed(2)}x`],
      ['criu-gdb DIR (launcher + the same)', launcher.toFixed(0), `${(launcher / onCore).toFixed(2)}x`],
      ['gdb, criu-load --remote-files (vFile)', remote.toFixed(0), `${(remote / onCore).toFixed(2)}x`],
      ['gdb on an ELF core', onCore.toFixed(0), '1.00x'],
    ],
  );
}

/** Python for gdb: `count` 8-byte reads at `address` + `stride` * (i % `spread`); prints microseconds per read. */
function smallReadCommand(label: string, address: bigint, stride: number, spread: number, count: number): string[] {
  const loop = `python import time; inf = gdb.selected_inferior(); t = time.perf_counter(); [inf.read_memory(0x${address.toString(16)} + ${stride} * (i % ${spread}), 8) for i in range(${count})]; print('@@${label}', (time.perf_counter() - t) * 1e6 / ${count})`;
  return ['-ex', loop];
}

const SMALL_READS: Array<{ label: string; what: string; stride: number; spread: number; count: number }> = [
  { label: 'NEARBY', what: 'nearby (10,000 reads over 80 KB)', stride: 8, spread: 10000, count: 10000 },
  { label: 'SCATTERED', what: 'first touch of each page (250 reads, one per page over 1 MB)', stride: 4096 + 8, spread: 250, count: 250 },
];

function smallReads(subject: Subject): void {
  // Private scratch space: other runs of this bench may share test/.work/bench.
  const scratch = scratchDir();
  const exported = join(scratch, 'export');
  execFileSync('node', [CLI, 'coredump', subject.dir, '-o', exported], { stdio: 'ignore' });
  const core = join(exported, readdirSync(exported).find((name) => name.startsWith('core.')) ?? 'core');
  const size = BigInt(subject.mib * MIB);
  const floor = startFloorStub(join(scratch, 'floor.sock'), subject.region, subject.mib * MIB);
  const rows: string[][] = [];
  try {
    for (const version of gdbMatrix().filter((g) => g.available)) {
      const reads = SMALL_READS.flatMap((r) => smallReadCommand(r.label, subject.region, r.stride, r.spread, r.count));
      const loaded = gdb(['-iex', `source ${PLUGIN}`, '-ex', `criu-load ${subject.dir}`, ...reads], version.command);
      const onFloor = gdb([...cacheSettings(subject.region, subject.region + size), ...floorConnect(floor.socket), ...reads], version.command);
      const onCore = gdb([join(BENCH_WORK, 'bigmem'), core, ...reads], version.command);
      for (const read of SMALL_READS) {
        const pick = (text: string): number => Number(new RegExp(`^@@${read.label} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
        const [loadedUs, floorUs, coreUs] = [pick(loaded), pick(onFloor), pick(onCore)];
        const ratio = (over: number, under: number): string => `${(over / under).toFixed(1)}x`;
        rows.push([version.label, read.what, loadedUs.toFixed(1), floorUs.toFixed(1), coreUs.toFixed(1), ratio(loadedUs, floorUs), ratio(floorUs, coreUs), ratio(loadedUs, coreUs)]);
      }
    }
  } finally {
    floor.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  printTable(['gdb', 'reads', 'criu-load µs/read', 'floor stub µs/read', 'ELF core µs/read', 'criu-load / floor', 'floor / core', 'criu-load / core (goal <= 3x)'], rows);
  console.log("floor stub: gdb on test/bench/floor-stub.ts (every read answered at once) with the plugin's cache settings (dcache line 4096, 4096 lines, `mem ... cache` over the data)");
}

/** The parts `--only=a,b` names (node, small-reads, opening, bulk); all when not given. */
function parts(): Set<string> {
  const only = process.argv.find((arg) => arg.startsWith('--only='));
  if (process.argv.includes('--node')) return new Set(['node']);
  if (process.argv.includes('--small-reads')) return new Set(['small-reads']);
  return new Set(only ? only.slice('--only='.length).split(',') : ['node', 'small-reads', 'opening', 'bulk']);
}

function main(): void {
  requireTools();
  const run = parts();
  if (run.has('node')) {
    console.log(`Large executable: node (${(statSync(execFileSync('readlink', ['-f', process.execPath]).toString().trim()).size / MIB).toFixed(0)} MiB)`);
    largeExecutable();
    console.log('');
  }
  const subjects = run.has('opening') || run.has('bulk') ? standardSubjects() : [makeCheckpoint('small', 1)];
  if (run.has('small-reads')) {
    console.log("Small reads: 8 bytes at a time from gdb's Python, on the 1 MiB checkpoint");
    smallReads(subjects[0]!);
    console.log('');
  }
  if (run.has('opening')) {
    console.log('Opening: gdb start to a printed bt (ms, median of 7, routes in turns); goal for the 1 MiB checkpoint: criu-load at most 2x gdb on the core');
    // With --only, the 1 MiB checkpoint only (exporting the 2 GiB one takes minutes).
    const opened = (process.argv.some((arg) => arg.startsWith('--only=')) ? subjects.slice(0, 1) : subjects).map(openingTimes);
    printTable(['checkpoint', 'route', 'ms', 'vs gdb on the core'], opened.flat());
    const [small, big] = opened;
    if (small && big) console.log(`criu-load (local files) on 2 GiB vs 1 MiB: ${(Number(big[0]![2]) / Number(small[0]![2])).toFixed(2)}x`);
  }
  if (!run.has('bulk')) return;
  const large = subjects[1]!;
  console.log(`\nRead throughput through gdb: dump binary memory of ${READ / MIB} MiB (goal: at least 100 MiB/s on gdb 16 and later)`);
  const live = liveCore(large.mib);
  const rate = (s: number): string => (READ / MIB / s).toFixed(0);
  const rows: string[][] = [];
  let helperPeakMb = NaN;
  const scratch = scratchDir();
  const floor = startFloorStub(join(scratch, 'floor.sock'), large.region, READ);
  const noGdbserver = gdbserverMissing();
  const server = noGdbserver === undefined ? startBigmem(large.mib, join(scratch, 'ready')) : undefined;
  const serverRegion = server === undefined ? 0n : readyAddresses(join(scratch, 'ready')).region;
  try {
    for (const version of gdbMatrix().filter((g) => g.available)) {
      const loaded = gdb([
        '-iex', `source ${PLUGIN}`,
        '-ex', `criu-load ${large.dir}`,
        ...dumpCommand(large.region, READ),
        '-ex', "python print('@@DATA')",
        ...dumpCommand(large.zeros, READ),
        // The helper is gdb's child running dist/src/rpc/main.js: its peak RSS (VmHWM) after the reads.
        '-ex', "python import os\ndef criu_gdb_helper_hwm():\n  for p in os.listdir('/proc'):\n    try:\n      if p.isdigit() and b'rpc/main.js' in open('/proc/%s/cmdline' % p, 'rb').read() and open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[1] == str(os.getpid()):\n        return [l for l in open('/proc/%s/status' % p) if l.startswith('VmHWM')][0].split()[1]\n    except OSError:\n      pass\nprint('@@HWM', criu_gdb_helper_hwm())",
      ], version.command);
      const [loadedData, loadedZeros] = loaded.split('@@DATA');
      helperPeakMb = Math.max(Number.isNaN(helperPeakMb) ? 0 : helperPeakMb, Number(/^@@HWM (\d+)$/m.exec(loaded)?.[1] ?? NaN) / 1024);
      const fromCore = gdb([live.binary, live.core, ...dumpCommand(live.region, READ), '-ex', "python print('@@DATA')", ...dumpCommand(live.zeros, READ)], version.command);
      const [coreData, coreZeros] = fromCore.split('@@DATA');
      const floorTime = seconds(gdb([...floorConnect(floor.socket), ...dumpCommand(large.region, READ)], version.command));
      const serverTime = server === undefined ? NaN : gdbserverSeconds(version, server, live.binary, serverRegion, READ, scratch);
      const packet = version.major >= 16 ? 'x (binary)' : 'm (hex)';
      const [dataTime, zerosTime] = [seconds(loadedData ?? ''), seconds(loadedZeros ?? '')];
      const [coreDataTime, coreZerosTime] = [seconds(coreData ?? ''), seconds(coreZeros ?? '')];
      rows.push([version.label, packet, 'distinct data', rate(dataTime), rate(floorTime), `${(floorTime / dataTime).toFixed(2)}x`, server === undefined ? 'n/a' : rate(serverTime), rate(coreDataTime), `${(dataTime / coreDataTime).toFixed(1)}x`]);
      rows.push([version.label, packet, 'zero pages', rate(zerosTime), '-', '-', '-', rate(coreZerosTime), `${(zerosTime / coreZerosTime).toFixed(1)}x`]);
    }
  } finally {
    floor.stop();
    if (server !== undefined) execFileSync('kill', ['-9', server]);
    rmSync(scratch, { recursive: true, force: true });
  }
  printTable(['gdb', 'packet', 'memory', 'criu-load MiB/s', 'floor stub MiB/s', 'criu-load / floor', 'gdbserver MiB/s', 'ELF core MiB/s', 'time ratio'], rows);
  console.log(`floor stub: gdb on test/bench/floor-stub.ts, which answers every read at once from precomputed distinct data (PacketSize=${(0x40000).toString(16)}, \`x\` for gdb 16+): gdb's own ceiling over the remote protocol`);
  if (noGdbserver === undefined) console.log(`gdbserver: ${gdbserverVersion()} attached to a live bigmem of ${large.mib} MiB, over TCP on 127.0.0.1 (gdb reads with \`m\` unless gdbserver offers binary-upload, as gdbserver 16 and later do)`);
  else console.log(`gdbserver: skipped, ${noGdbserver}`);
  console.log(`\nHelper peak RSS on the 2 GiB checkpoint after reading ${(2 * READ) / MIB} MiB: ${helperPeakMb.toFixed(0)} MB`);
}

main();
