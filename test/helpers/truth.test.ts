/**
 * Self-checks of the ground truth recorded with the real checkpoints: what the programs reported,
 * what /proc showed and what gdb showed must agree, and the recorded memory must match its hashes.
 * These test the test infrastructure, not criu-gdb.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ARM64_FIXTURE_NAMES,
  type Arm64FixtureName,
  CHECKPOINT_NAMES,
  type CheckpointName,
  FIXTURE_NAMES,
  type ProcessTruth,
  type Truth,
  checkpointAvailability,
  checkpointDir,
  criuPath,
  fact,
  findProcess,
  findSymbol,
  fixtureDir,
  fixtureImagesDir,
  fixtureRootfs,
  imagesDir,
  loadFixtureTruth,
  loadTruth,
  parseAddress,
  rootProcess,
  truthBytes,
} from './checkpoints.js';
import { allRegistersDifferences, ptraceRegisterBytes } from './registers.js';

function checkMemoryHashes(dir: string, truth: Truth): number {
  let checked = 0;
  for (const proc of truth.processes) {
    for (const m of proc.maps) {
      if (m.memory.kind !== 'bytes') continue;
      const data = readFileSync(join(dir, m.memory.file));
      expect(data.length).toBe(m.memory.size);
      expect(createHash('sha256').update(data).digest('hex')).toBe(m.memory.sha256);
      checked++;
    }
  }
  return checked;
}

function checkCommon(truth: Truth): void {
  expect(truth.processes.length).toBeGreaterThan(0);
  expect(truth.criu.version).toMatch(/^Version: 4\.2/);
  for (const proc of truth.processes) {
    expect(proc.state).toBe('T');
    for (const t of proc.threads) {
      expect(t.state).toBe('T');
      // Every thread's XSAVE area was read with ptrace.
      if (truth.cpu) expect(t.xstate?.registers['xmm0'], `thread ${t.tid} xstate`).toMatch(/^[0-9a-f]{32}$/);
      // gdb's registers and /proc's syscall file agree on where each thread is stopped.
      const fields = t.syscall.split(' ');
      expect(t.registers['rsp']).toBe(fields[fields.length - 2]);
      expect(t.registers['rip']).toBe(fields[fields.length - 1]);
      // gdb names threads `(LWP tid) "name"`, or `process pid "name"` without libthread_db (static non-PIE).
      expect(proc.gdb.infoThreads).toMatch(new RegExp(`(\\(LWP ${t.tid}\\)|process ${t.tid}) "${t.name}"`));
    }
    // Every symbol the program reported by address agrees with nm plus the load base.
    for (const [key, value] of Object.entries(proc.facts)) {
      const m = /^global\.(\w+)\.addr$/.exec(key);
      if (m && m[1] !== undefined) expect(findSymbol(proc, m[1]).address).toBe(value);
    }
  }
}

const made = CHECKPOINT_NAMES.filter((n) => n !== 'incremental');

describe('checkpoints made by make-checkpoints.ts', () => {
  it('finds the private CRIU', () => {
    expect(existsSync(criuPath())).toBe(true);
  });

  it.each(made)('%s has images and a consistent truth', (name: CheckpointName) => {
    const truth = loadTruth(name);
    expect(existsSync(join(imagesDir(name), 'inventory.img'))).toBe(true);
    checkCommon(truth);
    expect(checkMemoryHashes(checkpointDir(name), truth)).toBeGreaterThan(0);
  });

  const incremental = checkpointAvailability('incremental');
  it.skipIf(!incremental.available)('incremental has a parent pre-dump', () => {
    const truth = loadTruth('incremental');
    expect(truth.incremental?.preDumpDir).toBe('pre');
    expect(existsSync(join(imagesDir('incremental'), 'parent'))).toBe(true);
  });

  it('pie_callchain: globals, heap string and the call chain', () => {
    const truth = loadTruth('pie_callchain');
    const proc = rootProcess(truth);
    expect(truth.program.elfType).toBe('dyn');
    expect(proc.cmdline.slice(2)).toEqual(['alpha', 'two words']);
    expect(proc.environ).toContain('CRIU_GDB_PROGRAM=pie_callchain');
    expect(truthBytes('pie_callchain', proc.pid, fact(proc, 'global.g_answer.addr'), 4).readInt32LE(0)).toBe(42);
    expect(findSymbol(proc, 'g_answer').bytes).toBe('2a000000');
    const heap = truthBytes('pie_callchain', proc.pid, fact(proc, 'heap.string.addr'), 25);
    expect(heap.toString('latin1')).toBe('heap string for criu-gdb\0');
    const pointer = truthBytes('pie_callchain', proc.pid, fact(proc, 'global.g_heap_string.addr'), 8).readBigUInt64LE(0);
    expect(pointer).toBe(parseAddress(fact(proc, 'heap.string.addr')));
    const magic = truthBytes('pie_callchain', proc.pid, fact(proc, 'local.level_three.l3_magic.addr'), 8);
    expect(magic.readBigInt64LE(0)).toBe(0x1122334455667788n);
    const frames = [...proc.gdb.backtraces.matchAll(/^#\d+\s+.*? in (\w+) \(/gm)].map((m) => m[1]);
    expect(frames.slice(-4)).toEqual(['level_three', 'level_two', 'level_one', 'main']);
  });

  it('static_prog: ET_EXEC at its link address', () => {
    const truth = loadTruth('static_prog');
    const proc = rootProcess(truth);
    expect(truth.program.elfType).toBe('exec');
    expect(truth.program.static).toBe(true);
    expect(proc.loadBase).toBe('0x0');
    expect(findSymbol(proc, 'g_static_value').bytes).toBe('5a5a5a5a');
  });

  it('named_threads: thread names, tids and thread-local values', () => {
    const truth = loadTruth('named_threads');
    const proc = rootProcess(truth);
    expect(proc.threads.map((t) => t.name)).toEqual(['named_threads', 'worker-1', 'worker-2', 'worker-3', 'worker-4']);
    for (let i = 1; i <= 4; i++) {
      const name = `worker-${i}`;
      const thread = proc.threads.find((t) => t.name === name);
      expect(String(thread?.tid)).toBe(fact(proc, `thread.${name}.tid`));
      const tls = truthBytes('named_threads', proc.pid, fact(proc, `thread.${name}.t_worker_value.addr`), 8);
      expect(tls.readBigInt64LE(0)).toBe(BigInt(1000 * i + 7));
      expect(proc.gdb.backtraces).toContain(`in ${fact(proc, `thread.${name}.function`)} (index=${i})`);
    }
  });

  it('fork_tree: four processes with their own names and globals', () => {
    const truth = loadTruth('fork_tree');
    const parent = findProcess(truth, 'ft-parent');
    const a = findProcess(truth, 'ft-child-a');
    const b = findProcess(truth, 'ft-child-b');
    const g = findProcess(truth, 'ft-grandchild');
    expect(truth.rootPid).toBe(parent.pid);
    expect([a.ppid, b.ppid, g.ppid]).toEqual([parent.pid, parent.pid, a.pid]);
    const roles = [parent, a, b, g].map((p: ProcessTruth) => findSymbol(p, 'g_role').bytes);
    expect(roles).toEqual(['01000000', '02000000', '03000000', '04000000']);
    expect(new Set(truth.processes.map((p) => p.sid))).toEqual(new Set([parent.pid]));
  });

  it('avx_regs: ptrace shows the vector and mask registers the program loaded, gdb the general ones', () => {
    const truth = loadTruth('avx_regs');
    const proc = rootProcess(truth);
    const thread = proc.threads[0]!;
    for (const name of ['rbx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r12', 'r13', 'r14', 'r15']) {
      expect(BigInt(thread.registers[name] ?? '-1')).toBe(BigInt(fact(proc, `gpr.${name}`)));
    }
    expect(truth.cpu?.components['2']?.offset).toBe(576);
    const avx512 = fact(proc, 'avx.mode') === 'avx512';
    for (let i = 0; i < (avx512 ? 32 : 16); i++) {
      const reg = avx512 ? `zmm${i}` : `ymm${i}`;
      expect(ptraceRegisterBytes(thread, reg).toString('hex'), reg).toBe(fact(proc, avx512 ? `zmm.${i}.bytes` : `ymm.${i}.bytes`));
    }
    if (avx512) {
      for (let i = 0; i < 8; i++) expect(ptraceRegisterBytes(thread, `k${i}`).readBigUInt64LE(0), `k${i}`).toBe(BigInt(fact(proc, `k.${i}`)));
    }
    // Where gdb reads the layout right (every gdb on Intel-layout CPUs, gdb 14+ everywhere), it agrees with ptrace.
    const layout = truth.cpu?.components['5']?.offset === 1088 ? 'intel' : 'other';
    const views = [...(layout === 'intel' ? [proc.gdb] : []), ...Object.entries(proc.otherGdbs ?? {}).filter(([major]) => Number(major) >= 14).map(([, view]) => view)];
    for (const view of views) expect(allRegistersDifferences(view.allRegisters, view.allRegisters, thread), view.version).toEqual([]);
  });

  it('resources: descriptors and memory with known contents', () => {
    const proc = rootProcess(loadTruth('resources'));
    const fdTarget = (key: string): string => proc.fds.find((f) => String(f.fd) === fact(proc, key))?.target ?? '';
    expect(fdTarget('fd.regular')).toBe(fact(proc, 'regular.path'));
    expect(proc.fds.find((f) => String(f.fd) === fact(proc, 'fd.regular'))?.pos).toBe(8);
    expect(fdTarget('fd.pipe.read')).toMatch(/^pipe:/);
    expect(fdTarget('fd.tcp')).toMatch(/^socket:/);
    expect(fdTarget('fd.eventfd')).toBe('anon_inode:[eventfd]');
    expect(fdTarget('fd.memfd')).toBe('/memfd:criu-gdb-memfd (deleted)');
    expect(fdTarget('fd.deleted')).toBe(`${fact(proc, 'deleted.path')} (deleted)`);
    const page = (key: string, n: number, len: number): string =>
      truthBytes('resources', proc.pid, parseAddress(fact(proc, key)) + BigInt(n * 4096), len).toString('latin1');
    for (let i = 0; i < 4; i++) {
      const head = fact(proc, `private_file.page.${i}`);
      expect(page('private_file.addr', i, head.length)).toBe(head);
    }
    expect(page('memfd.addr', 1, 20)).toBe('memfd page 1 content');
    expect(page('shared_anon.addr', 2, 18)).toBe('shared anon page 2');
  });
});

describe('committed fixtures', () => {
  it.each(FIXTURE_NAMES)('%s has images, a rootfs with its binary and a consistent truth', (name) => {
    const truth = loadFixtureTruth(name);
    checkCommon(truth);
    expect(existsSync(join(fixtureImagesDir(name), 'inventory.img'))).toBe(true);
    const exe = join(fixtureRootfs(name), truth.program.binary);
    expect(createHash('sha256').update(readFileSync(exe)).digest('hex')).toBe(truth.program.sha256);
    checkMemoryHashes(fixtureDir(name), truth);
  });

  it('demo has three named threads', () => {
    const proc = rootProcess(loadFixtureTruth('demo'));
    expect(proc.threads.map((t) => t.name)).toEqual(['demo', 'stocker', 'clock']);
    expect(findSymbol(proc, 'g_open_hours').bytes).toBe('0c000000');
  });
});

/** The ground truth of the arm64 fixtures: the guest's /proc, ptrace, live gdb and the programs agree. */
describe('committed arm64 fixtures', () => {
  const GENERAL = [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'tpidr', 'fpsr', 'fpcr'];

  it.each(ARM64_FIXTURE_NAMES)('%s has images, a rootfs with its binary and libraries, and a consistent truth', (name) => {
    const truth = loadFixtureTruth(name);
    expect(truth.guest?.machine).toBe('aarch64');
    expect(truth.criu.version).toMatch(/^Version: 4\./);
    expect(existsSync(join(fixtureImagesDir(name), 'inventory.img'))).toBe(true);
    const exe = join(fixtureRootfs(name), truth.program.binary);
    expect(createHash('sha256').update(readFileSync(exe)).digest('hex')).toBe(truth.program.sha256);
    expect(checkMemoryHashes(fixtureDir(name), truth)).toBeGreaterThan(0);
    for (const proc of truth.processes) {
      expect(proc.state).toBe('T');
      const pageSize = proc.auxv.find((a) => a.name === 'AT_PAGESZ')?.value;
      expect(pageSize).toBe(`0x${(truth.guest?.pageSize ?? 0).toString(16)}`);
      // The loader and libc by the paths the guest's loader used (merged /usr: /lib -> usr/lib).
      expect(existsSync(join(fixtureRootfs(name), 'lib/ld-linux-aarch64.so.1'))).toBe(true);
      expect(existsSync(join(fixtureRootfs(name), 'lib/aarch64-linux-gnu/libc.so.6'))).toBe(true);
      for (const file of proc.mappedFiles) {
        const local = join(fixtureRootfs(name), file.path);
        expect(createHash('sha256').update(readFileSync(local)).digest('hex'), file.path).toBe(file.sha256);
      }
      for (const t of proc.threads) {
        expect(t.state).toBe('T');
        const fields = t.syscall.split(' ');
        expect(t.registers['sp']).toBe(fields[fields.length - 2]);
        expect(t.registers['pc']).toBe(fields[fields.length - 1]);
        expect(proc.gdb.infoThreads).toMatch(new RegExp(`\\(LWP ${t.tid}\\) "${t.name}"`));
        // live gdb and ptrace agree on the registers both show.
        for (const reg of GENERAL) expect(t.registers[reg], `${t.tid} ${reg}`).toBe(t.ptraceRegisters?.[reg]);
      }
    }
  });

  it.each(['arm64-neon', 'arm64-16k-neon'] as const satisfies readonly Arm64FixtureName[])(
    '%s: ptrace shows the v0-v31, x19-x28, fpcr and fpsr values the program loaded',
    (name) => {
      const proc = rootProcess(loadFixtureTruth(name));
      const regs = proc.threads[0]?.ptraceRegisters ?? {};
      for (let i = 0; i < 32; i++) expect(regs[`v${i}`], `v${i}`).toBe(`0x${fact(proc, `v${i}`)}`);
      for (let i = 19; i <= 28; i++) expect(regs[`x${i}`], `x${i}`).toBe(fact(proc, `x${i}`));
      expect(regs['fpcr']).toBe(fact(proc, 'fpcr'));
      expect(regs['fpsr']).toBe(fact(proc, 'fpsr'));
    },
  );

  it.each(['arm64-libchain', 'arm64-16k-libchain', 'arm64-pac-libchain'] as const satisfies readonly Arm64FixtureName[])(
    '%s: live gdb showed the chain through the shared library and libc',
    (name) => {
      const proc = rootProcess(loadFixtureTruth(name));
      expect(proc.gdb.backtraces).toMatch(/compare_and_block[\s\S]*qsort[\s\S]*chain_sort[\s\S]*run_chain[\s\S]*main/);
      expect(proc.gdb.backtracesFull).toContain(`run_local = ${fact(proc, 'run_chain.run_local')}`);
      expect(proc.mappedFiles.map((f) => f.path)).toContain('/opt/criu-gdb-arm64/libcriugdbchain.so');
    },
  );

  it('arm64-forktree has the parent and three descendants', () => {
    const truth = loadFixtureTruth('arm64-forktree');
    expect(truth.processes.map((p) => p.comm).sort()).toEqual(['ft-child-a', 'ft-child-b', 'ft-grandchild', 'ft-parent']);
  });

  it('arm64-threads has the main thread and four named workers', () => {
    const proc = rootProcess(loadFixtureTruth('arm64-threads'));
    expect(proc.threads.map((t) => t.name)).toEqual(['named_threads', 'worker-1', 'worker-2', 'worker-3', 'worker-4']);
  });
});
