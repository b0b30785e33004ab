/**
 * Turns the raw records that the emulated arm64 guest wrote (test/setup/make-arm64-fixtures.sh,
 * arm64/guest-init.sh) into fixtures test/fixtures/arm64-<name>/ in the layout of the other fixtures:
 *
 *   npx tsx test/setup/arm64-fixtures.ts RAW_DIR GUEST_ROOT FLAVOUR...
 *
 * RAW_DIR/<flavour>/ holds system.txt, the compile command lines and, per program, the guest's record: /proc
 * files, the memory of every mapping (mem/), ptrace's registers, live gdb's output and the checkpoint.
 * GUEST_ROOT is the unpacked arm64 Debian tree the guest ran, from which the mapped libraries are copied into
 * the fixture's rootfs/ at their recorded paths.
 *
 * Everything in truth.json comes from the guest; this script only reformats it (and hashes the memory).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FIXTURES_DIR, REPO_ROOT } from '../helpers/checkpoints.js';
import {
  type AddressRange,
  type AuxvEntry,
  type FdTruth,
  type GdbTruth,
  type MappedFileTruth,
  type MappingTruth,
  type MemoryTruth,
  type ProcessTruth,
  type SymbolTruth,
  type ThreadTruth,
  TRUTH_FORMAT,
  type Truth,
  formatAddress,
} from '../helpers/truth.js';
import { nmSymbols, parseFacts } from './lib/capture.js';
import { type MapsLine, parseMaps, readElfInfo, readNulList, readStat, sha256File, statusField } from './lib/proc.js';

/** What each guest program is: its sources (the first is the main one) and the files of its /opt directory. */
interface ProgramSpec {
  binary: string;
  sources: string[];
  /** Extra files of the program's directory (shared libraries it links). */
  extraFiles: string[];
  compileKeys: string[];
}

const OPT_DIR = '/opt/criu-gdb-arm64';

const PROGRAMS: Record<string, ProgramSpec> = {
  named_threads: { binary: 'named_threads', sources: ['test/programs/named_threads.c', 'test/programs/common.h'], extraFiles: [], compileKeys: ['named_threads'] },
  fork_tree: { binary: 'fork_tree', sources: ['test/programs/fork_tree.c', 'test/programs/common.h'], extraFiles: [], compileKeys: ['fork_tree'] },
  neon_regs: { binary: 'neon_regs', sources: ['test/programs/neon_regs.c', 'test/programs/common.h'], extraFiles: [], compileKeys: ['neon_regs'] },
  lib_chain: {
    binary: 'lib_chain',
    sources: ['test/programs/lib_chain.c', 'test/programs/lib_chain_lib.c', 'test/programs/common.h'],
    extraFiles: ['libcriugdbchain.so'],
    compileKeys: ['lib_chain', 'libcriugdbchain'],
  },
};

/** Largest mapping whose bytes a fixture keeps (as make-fixtures.ts). */
const FIXTURE_MAX_MAPPING_BYTES = 64 * 1024;

const AUXV_NAMES: Record<number, string> = {
  0: 'AT_NULL',
  3: 'AT_PHDR',
  4: 'AT_PHENT',
  5: 'AT_PHNUM',
  6: 'AT_PAGESZ',
  7: 'AT_BASE',
  8: 'AT_FLAGS',
  9: 'AT_ENTRY',
  11: 'AT_UID',
  12: 'AT_EUID',
  13: 'AT_GID',
  14: 'AT_EGID',
  15: 'AT_PLATFORM',
  16: 'AT_HWCAP',
  17: 'AT_CLKTCK',
  23: 'AT_SECURE',
  25: 'AT_RANDOM',
  26: 'AT_HWCAP2',
  27: 'AT_RSEQ_FEATURE_SIZE',
  28: 'AT_RSEQ_ALIGN',
  29: 'AT_HWCAP3',
  30: 'AT_HWCAP4',
  31: 'AT_EXECFN',
  33: 'AT_SYSINFO_EHDR',
  51: 'AT_MINSIGSTKSZ',
};

function log(message: string): void {
  process.stdout.write(`arm64-fixtures: ${message}\n`);
}

function text(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

function keyValues(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text(path).split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line);
    if (m && m[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

function parseAuxv(path: string): AuxvEntry[] {
  const buf = readFileSync(path);
  const out: AuxvEntry[] = [];
  for (let off = 0; off + 16 <= buf.length; off += 16) {
    const type = Number(buf.readBigUInt64LE(off));
    out.push({ type, name: AUXV_NAMES[type] ?? `AT_${type}`, value: formatAddress(buf.readBigUInt64LE(off + 8)) });
    if (type === 0) break;
  }
  return out;
}

function isZero(buf: Buffer): boolean {
  for (const byte of buf) if (byte !== 0) return false;
  return true;
}

const hashCache = new Map<string, Map<string, string>>();

/** sha256sum's output that the guest wrote for the memory files: file name -> hash. */
function guestHashes(memDir: string): Map<string, string> {
  let hashes = hashCache.get(memDir);
  if (!hashes) {
    hashes = new Map();
    for (const line of text(join(memDir, 'sha256.txt')).split('\n')) {
      const m = /^([0-9a-f]{64})\s+\*?(?:\.\/)?(\S+)$/.exec(line);
      if (m && m[1] !== undefined && m[2] !== undefined) hashes.set(m[2], m[1]);
    }
    hashCache.set(memDir, hashes);
  }
  return hashes;
}

/** The mapping's truth from the guest's memory record; small non-file mappings keep their bytes in truth-mem/. */
function mappingTruth(line: MapsLine, pid: number, memDir: string, fixtureDir: string): MemoryTruth {
  if (['[vvar]', '[vvar_vclock]', '[vsyscall]'].includes(line.name)) return { kind: 'skipped', reason: `${line.name} is not process memory` };
  if (!line.perms.startsWith('r')) return { kind: 'skipped', reason: 'mapping is not readable' };
  const fileName = `${pid}-${line.start.toString(16)}.bin`;
  const file = join(memDir, fileName);
  const size = Number(line.end - line.start);
  const bytes = existsSync(file) ? readFileSync(file) : null;
  if (bytes && bytes.length !== size) throw new Error(`${file}: ${bytes.length} bytes, the mapping has ${size}`);
  const guestSha = guestHashes(memDir).get(fileName);
  if (!bytes && !guestSha) return { kind: 'unreadable', reason: 'the guest recorded no bytes' };
  const unreadable: AddressRange[] = [];
  for (const row of text(join(memDir, `${pid}-${line.start.toString(16)}.unreadable`)).split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+)$/.exec(row);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const start = formatAddress(BigInt(`0x${m[1]}`));
    const end = formatAddress(BigInt(`0x${m[2]}`));
    const last = unreadable[unreadable.length - 1];
    if (last && last.end === start) last.end = end;
    else unreadable.push({ start, end });
  }
  if (unreadable.length > 0 && unreadable[0]?.start === formatAddress(line.start) && unreadable[0]?.end === formatAddress(line.end)) {
    return { kind: 'unreadable', reason: 'no page could be read' };
  }
  const sha256 = bytes ? createHash('sha256').update(bytes).digest('hex') : (guestSha ?? '');
  if (bytes && guestSha && guestSha !== sha256) throw new Error(`${file}: sha256 differs from the guest's`);
  const fileBacked = line.name.startsWith('/') && line.inode !== 0;
  const keep = size <= FIXTURE_MAX_MAPPING_BYTES && (!fileBacked || line.perms.includes('w'));
  if (!keep || !bytes) return { kind: 'sha256', size, sha256, unreadable };
  const rel = `truth-mem/${pid}-${line.start.toString(16)}.bin`;
  mkdirSync(join(fixtureDir, 'truth-mem'), { recursive: true });
  writeFileSync(join(fixtureDir, rel), isZero(bytes) ? Buffer.alloc(0) : bytes);
  if (isZero(bytes)) execFileSync('truncate', ['-s', String(size), join(fixtureDir, rel)]);
  return { kind: 'bytes', file: rel, size, sha256, unreadable };
}

/** Reads `length` bytes at `address` from the guest's memory record of the process. */
function memoryAt(maps: MapsLine[], pid: number, memDir: string, address: bigint, length: number): Buffer | null {
  const line = maps.find((m) => m.start <= address && address + BigInt(length) <= m.end);
  if (!line) return null;
  const file = join(memDir, `${pid}-${line.start.toString(16)}.bin`);
  if (!existsSync(file)) return null;
  const off = Number(address - line.start);
  return readFileSync(file).subarray(off, off + length);
}

interface GdbRecord {
  truth: GdbTruth;
  threadRegisters: Map<number, Record<string, string>>;
}

function splitThreads(section: string): Map<number, string> {
  const out = new Map<number, string>();
  const parts = section.split(/^\nThread \d+ \(.*?(?:LWP|process) (\d+)\b.*\):\n/m);
  for (let i = 1; i + 1 < parts.length; i += 2) out.set(Number(parts[i]), parts[i + 1] ?? '');
  return out;
}

function readGdb(dir: string, gdbVersion: string): GdbRecord {
  const stdout = text(join(dir, 'gdb.txt'));
  const sections = new Map<string, string>();
  const parts = stdout.split(/^@@criu-gdb:(\S+)\n/m);
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const key = parts[i];
    const body = parts[i + 1];
    if (key !== undefined && body !== undefined) sections.set(key, body.replace(/\[Inferior 1 \(process \d+\) detached\]\n?$/, ''));
  }
  const section = (key: string): string => {
    const body = sections.get(key);
    if (body === undefined) throw new Error(`${dir}: live gdb printed no ${key}\n${text(join(dir, 'gdb-stderr.txt'))}`);
    return body;
  };
  const threadRegisters = new Map<number, Record<string, string>>();
  for (const key of ['thread-registers', 'thread-tls', 'thread-fp']) {
    for (const [tid, body] of splitThreads(section(key))) {
      const regs = threadRegisters.get(tid) ?? {};
      for (const line of body.split('\n')) {
        const m = /^(\w+)\s+(0x[0-9a-f]+)/.exec(line);
        if (m && m[1] !== undefined && m[2] !== undefined) regs[m[1]] = m[2];
      }
      threadRegisters.set(tid, regs);
    }
  }
  const command = text(join(dir, 'gdb-command.txt')).split('\n');
  if (command[command.length - 1] === '') command.pop();
  const probes: Record<string, string> = {};
  for (const [key, cmd] of [
    ['thread-tls', 'thread apply all info registers tpidr'],
    ['thread-fp', 'thread apply all info registers fpsr fpcr'],
    ['thread-names', 'thread apply all p $_thread'],
    ['sharedlibrary', 'info sharedlibrary'],
  ] as const) {
    probes[cmd] = section(key);
  }
  return {
    truth: {
      command,
      infoThreads: section('info-threads'),
      backtraces: section('backtraces'),
      backtracesFull: section('backtraces-full'),
      allRegisters: section('all-registers'),
      stderr: text(join(dir, 'gdb-stderr.txt')),
      version: gdbVersion,
      probes,
      threadRegisters: Object.fromEntries([...threadRegisters].map(([tid, regs]) => [String(tid), regs])),
    },
    threadRegisters,
  };
}

/** ptrace's registers as the guest probe printed them: tid -> name -> value. */
function readPtraceRegisters(path: string): Map<number, Record<string, string>> {
  const out = new Map<number, Record<string, string>>();
  for (const line of text(path).split('\n')) {
    const m = /^reg (\d+) (\w+) (0x[0-9a-f]+)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) continue;
    const regs = out.get(Number(m[1])) ?? {};
    regs[m[2]] = m[3];
    out.set(Number(m[1]), regs);
  }
  return out;
}

/** The mapped regular files, hashed from the fixture's rootfs (the program's directory) or the guest's root. */
function mappedFilesOf(maps: MapsLine[], resolve: (path: string) => string | null): MappedFileTruth[] {
  const paths = [...new Set(maps.filter((m) => m.name.startsWith('/') && m.inode !== 0).map((m) => m.name))].sort();
  const out: MappedFileTruth[] = [];
  for (const path of paths) {
    const local = resolve(path);
    if (local === null || !statSync(local).isFile()) continue;
    out.push({ path, size: statSync(local).size, sha256: sha256File(local), buildId: readElfInfo(local)?.buildId ?? null });
  }
  return out;
}

interface ProcessRecord {
  truth: ProcessTruth;
  maps: MapsLine[];
}

function readProcess(
  runDir: string,
  pid: number,
  facts: Record<string, string>,
  stateBeforeStop: string,
  spec: ProgramSpec,
  binaryLocal: string,
  resolve: (path: string) => string | null,
  fixtureDir: string,
  gdbVersion: string,
): ProcessRecord {
  const dir = join(runDir, 'proc', String(pid));
  const stat = readStat(join(dir, 'stat'));
  if (!stat) throw new Error(`${dir}: no stat`);
  const status = text(join(dir, 'status'));
  const maps = parseMaps(text(join(dir, 'maps')));
  const exe = text(join(dir, 'exe.link')).trim();
  const gdb = readGdb(dir, gdbVersion);
  const ptrace = readPtraceRegisters(join(dir, 'ptrace-regs.txt'));
  const tids = readdirSync(join(dir, 'task'))
    .map(Number)
    .sort((a, b) => a - b);
  const threads: ThreadTruth[] = tids.map((tid) => {
    const tdir = join(dir, 'task', String(tid));
    return {
      tid,
      name: text(join(tdir, 'comm')).replace(/\n$/, ''),
      state: readStat(join(tdir, 'stat'))?.state ?? '?',
      syscall: text(join(tdir, 'syscall')).trim(),
      registers: gdb.threadRegisters.get(tid) ?? {},
      ...(ptrace.has(tid) ? { ptraceRegisters: ptrace.get(tid) } : {}),
    };
  });
  const memDir = join(dir, 'mem');
  const elf = readElfInfo(binaryLocal);
  let base = 0n;
  if (elf?.type === 'dyn') {
    const first = maps.find((m) => m.name === exe && m.offset === 0n);
    if (!first) throw new Error(`no offset-0 mapping of ${exe}`);
    base = first.start - (elf.firstLoadVaddr ?? 0n);
  }
  const symbols: SymbolTruth[] = nmSymbols(binaryLocal, spec.sources.map((source) => join(REPO_ROOT, source)), 'aarch64-linux-gnu-nm').map((s) => {
    const address = s.link + base;
    const sym: SymbolTruth = { name: s.name, type: s.type, address: formatAddress(address), linkAddress: formatAddress(s.link), size: s.size };
    if ('DdBbRr'.includes(s.type) && s.size > 0 && s.size <= 4096) {
      const bytes = memoryAt(maps, pid, memDir, address, s.size);
      if (bytes) sym.bytes = bytes.toString('hex');
    }
    return sym;
  });
  const fds: FdTruth[] = readdirSync(join(dir, 'fd'))
    .map(Number)
    .sort((a, b) => a - b)
    .map((fd) => {
      const fdinfo = text(join(dir, 'fdinfo', String(fd)));
      return {
        fd,
        target: text(join(dir, 'fd', String(fd))).trim(),
        pos: Number(/^pos:\s*(\d+)/m.exec(fdinfo)?.[1] ?? 0),
        flags: /^flags:\s*([0-7]+)/m.exec(fdinfo)?.[1] ?? '',
        fdinfo,
      };
    });
  const mappings: MappingTruth[] = maps.map((line) => ({
    start: formatAddress(line.start),
    end: formatAddress(line.end),
    perms: line.perms,
    offset: formatAddress(line.offset),
    dev: line.dev,
    inode: line.inode,
    name: line.name,
    memory: mappingTruth(line, pid, memDir, fixtureDir),
  }));
  const hexMask = (name: string): string => `0x${statusField(status, name)}`;
  const ids = (name: string): number[] => statusField(status, name).split(/\s+/).map(Number);
  return {
    maps,
    truth: {
      pid,
      ppid: stat.ppid,
      pgid: stat.pgid,
      sid: stat.sid,
      comm: text(join(dir, 'comm')).replace(/\n$/, ''),
      exe,
      cmdline: readNulList(join(dir, 'cmdline')),
      environ: readNulList(join(dir, 'environ')),
      cwd: text(join(dir, 'cwd.link')).trim(),
      root: text(join(dir, 'root.link')).trim(),
      state: stat.state,
      stateBeforeStop,
      uid: ids('Uid'),
      gid: ids('Gid'),
      signals: { blocked: hexMask('SigBlk'), ignored: hexMask('SigIgn'), caught: hexMask('SigCgt') },
      threads,
      maps: mappings,
      fds,
      auxv: parseAuxv(join(dir, 'auxv')),
      mappedFiles: mappedFilesOf(maps, resolve),
      loadBase: formatAddress(base),
      symbols,
      facts,
      gdb: gdb.truth,
    },
  };
}

function makeFixture(flavourDir: string, guestRoot: string, runName: string): void {
  const runDir = join(flavourDir, runName);
  const [criuStatus, criuMs] = text(join(runDir, 'criu-result.txt')).trim().split(' ');
  if (criuStatus !== '0') {
    log(`${runName}: criu dump failed (${criuStatus}); skipped`);
    return;
  }
  const system = keyValues(join(flavourDir, 'system.txt'));
  const firstArg = text(join(runDir, 'tree.txt')).trim().split(/\s+/).map(Number);
  const rootPid = firstArg[0];
  if (rootPid === undefined) throw new Error(`${runDir}: no process tree`);
  const exe = text(join(runDir, 'proc', String(rootPid), 'exe.link')).trim();
  const spec = PROGRAMS[basename(exe)];
  if (!spec) throw new Error(`${runDir}: unknown program ${exe}`);
  const name = `arm64-${runName}`;
  const fixtureDir = join(FIXTURES_DIR, name);
  rmSync(fixtureDir, { recursive: true, force: true });
  mkdirSync(join(fixtureDir, 'src'), { recursive: true });
  for (const source of spec.sources) copyFileSync(join(REPO_ROOT, source), join(fixtureDir, 'src', basename(source)));

  // rootfs: the program's directory as the guest had it, then every other mapped file from the guest's root.
  const optLocal = join(flavourDir, 'opt');
  const rootfs = join(fixtureDir, 'rootfs');
  mkdirSync(join(rootfs, OPT_DIR), { recursive: true });
  for (const file of [spec.binary, ...spec.extraFiles]) copyFileSync(join(optLocal, file), join(rootfs, OPT_DIR, file));
  const resolve = (path: string): string | null => {
    const inRootfs = join(rootfs, path);
    if (existsSync(inRootfs)) return inRootfs;
    const inGuest = join(guestRoot, path);
    return existsSync(inGuest) ? inGuest : null;
  };
  const facts = parseFacts(text(join(runDir, 'stdout.txt')));
  const before = new Map<number, string>();
  for (const line of text(join(runDir, 'state-before-stop.txt')).split('\n')) {
    const [pid, state] = line.split(' ');
    if (pid && state) before.set(Number(pid), state);
  }
  const gdbVersion = system.gdb ?? '';
  const records = firstArg.map((pid) =>
    readProcess(runDir, pid, facts.get(pid) ?? {}, before.get(pid) ?? '?', spec, join(optLocal, spec.binary), resolve, fixtureDir, gdbVersion),
  );
  for (const record of records) {
    for (const file of record.truth.mappedFiles) {
      const target = join(rootfs, file.path);
      if (existsSync(target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(join(guestRoot, file.path), target);
    }
  }

  // The guest's merged-/usr links, so that the loader's paths (/lib/ld-linux-aarch64.so.1 in PT_INTERP,
  // /lib/aarch64-linux-gnu/libc.so.6 in the link map) resolve under --root as they did in the guest.
  symlinkSync('usr/lib', join(rootfs, 'lib'));
  const loaderLink = join(guestRoot, 'usr/lib/ld-linux-aarch64.so.1');
  if (lstatSync(loaderLink, { throwIfNoEntry: false })?.isSymbolicLink()) {
    symlinkSync(readlinkSync(loaderLink), join(rootfs, 'usr/lib/ld-linux-aarch64.so.1'));
  }

  cpSync(join(runDir, 'checkpoint'), join(fixtureDir, 'checkpoint'), { recursive: true });
  rmSync(join(fixtureDir, 'checkpoint', 'dump.log'), { force: true });
  // The live gdb record as gdb printed it, and ptrace's registers, per process.
  for (const pid of firstArg) {
    copyFileSync(join(runDir, 'proc', String(pid), 'gdb.txt'), join(fixtureDir, `live-gdb-${pid}.txt`));
    copyFileSync(join(runDir, 'proc', String(pid), 'ptrace-regs.txt'), join(fixtureDir, `ptrace-regs-${pid}.txt`));
  }

  const binaryLocal = join(optLocal, spec.binary);
  const elf = readElfInfo(binaryLocal);
  // The main binary's gcc arguments as the generator recorded them (with the guest's paths); the generator
  // also passed -fdebug-prefix-map=<repository>=., which is not recorded.
  const compile = text(join(flavourDir, `compile-${spec.compileKeys[0] ?? spec.binary}.txt`))
    .split('\n')
    .filter((l) => l !== '');
  const dumpLog = text(join(runDir, 'checkpoint', 'dump.log')).split('\n');
  const truth: Truth = {
    format: TRUTH_FORMAT,
    name,
    createdAt: statSync(join(runDir, 'criu-result.txt')).mtime.toISOString(),
    program: {
      // The debug info names the sources under test/programs (src/ has copies).
      source: spec.sources[0] ?? '',
      binary: exe,
      compile: ['aarch64-linux-gnu-gcc', '-fdebug-prefix-map=<repository>=.', ...compile],
      elfType: elf?.type === 'exec' ? 'exec' : 'dyn',
      static: !(elf?.hasInterp ?? false),
      buildId: elf?.buildId ?? null,
      sha256: sha256File(binaryLocal),
      args: text(join(runDir, 'args.txt')).split('\n').filter((a) => a !== ''),
    },
    criu: {
      version: system.criu ?? '',
      command: text(join(runDir, 'criu-command.txt')).trim().split(' '),
      imagesDir: 'checkpoint',
      durationMs: Number(criuMs),
      logErrors: dumpLog.filter((l) => l.includes('Error (')),
      logWarnings: dumpLog.filter((l) => l.includes('Warn  (')),
    },
    gdbVersion,
    kernel: system.kernel ?? '',
    rootPid,
    processes: records.map((r) => r.truth),
    guest: {
      machine: system.machine ?? '',
      pageSize: Number(system.pagesize ?? '') || Number(records[0]?.truth.auxv.find((a) => a.name === 'AT_PAGESZ')?.value ?? 0),
      kernelPackage: text(join(flavourDir, 'kernel-package.txt')).trim(),
      bootSeconds: Number(system.boot_seconds ?? 0),
      emulator: `qemu-system-aarch64 -machine virt -cpu ${text(join(flavourDir, 'cpu.txt')).trim()} -smp 2 -m 2G, TCG`,
    },
  };
  writeFileSync(join(fixtureDir, 'truth.json'), `${JSON.stringify(truth, null, 1)}\n`);
  log(`${name}: pid ${rootPid}, ${records.length} processes, ${records[0]?.truth.threads.length ?? 0} threads in the first`);
}

function main(): void {
  const [rawDir, guestRoot, ...flavours] = process.argv.slice(2);
  if (!rawDir || !guestRoot || flavours.length === 0) throw new Error('usage: arm64-fixtures.ts RAW_DIR GUEST_ROOT FLAVOUR...');
  for (const flavour of flavours) {
    const flavourDir = join(rawDir, flavour);
    for (const entry of readdirSync(flavourDir, { withFileTypes: true })) {
      if (entry.isDirectory() && existsSync(join(flavourDir, entry.name, 'criu-result.txt'))) makeFixture(flavourDir, guestRoot, entry.name);
    }
  }
}

main();
