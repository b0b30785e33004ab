/**
 * Core export benchmark, printed as one table: `criu-gdb coredump` against CRIU's own coredump tool on the
 * 1 MiB and 2 GiB checkpoints of test/bench/subjects.ts, with the raw disk write speed for comparison.
 *
 * Per run: wall time, peak RSS (GNU time's %M), the core's apparent size and the disk space it takes.
 * criu-gdb and dd are run 5 times and the median is shown: write speed on these virtual machines varies
 * several-fold from run to run with the state of the page cache.
 * criu-gdb runs in a fresh node process that exports through the built dist/ (the CLI's code path); a
 * second row adds fdatasync of the core so that it compares with `dd conv=fdatasync`.
 *
 * CRIU's tool is the `coredump` directory of the criu 4.2.1 source package, fetched at bench time from
 * Debian (apt-get source with a private apt configuration, so the system's apt state is not touched), with
 * pycriu from Debian's python3-pycriu 4.2.1 and bookworm's python3-protobuf, both unpacked privately. It
 * runs three ways, in a temporary copy:
 *   as-is     the tree as unpacked;
 *   runs      its `coredump/pycriu` symlink removed, so that the packaged (built) pycriu is imported;
 *   finishes  also its page lookup indexed once and each mapping's bytes joined once (both quadratic as is).
 * Nothing of CRIU is kept in this repository. Every CRIU run has a time limit (CRIU_COREDUMP_TIMEOUT
 * seconds, default 300).
 *
 * Run: npm run bench (root; needs the CRIU that `npm test` installs, network access to the Debian archive).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_WORK, PROJECT, printTable, requireTools, standardSubjects, type Subject } from './subjects.js';

const TOOL_DIR = join(BENCH_WORK, 'criu-coredump-tool');
const OUT = join(BENCH_WORK, 'coredump-out');
const CRIU_TIMEOUT = Number(process.env['CRIU_COREDUMP_TIMEOUT'] ?? 300);
const CRIU_VERSION = '4.2.1';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

interface Measured {
  ok: boolean;
  /** Why it failed: the last line of its output, or the time limit. */
  status: string;
  seconds: number;
  peakRssMb: number;
  core?: { apparent: number; allocated: number } | undefined;
}

/** Runs a command under GNU time; returns its wall time, peak RSS and output. */
function timed(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutSeconds?: number } = {}): Measured & { output: string } {
  const report = join(BENCH_WORK, 'time.out');
  rmSync(report, { force: true });
  const start = process.hrtime.bigint();
  const limit = options.timeoutSeconds ? ['timeout', String(options.timeoutSeconds)] : [];
  const result = spawnSync('/usr/bin/time', ['-o', report, '-f', '%e %M', ...limit, command, ...args], {
    env: options.env ?? process.env,
    cwd: options.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const [, rss] = (existsSync(report) ? readFileSync(report, 'utf8') : '').trim().split('\n').at(-1)?.split(' ') ?? [];
  const output = `${result.stdout?.toString() ?? ''}${result.stderr?.toString() ?? ''}`;
  const lastLine = output.trim().split('\n').filter((l) => l.trim() !== '').at(-1) ?? '';
  const timedOut = result.status === 124;
  return {
    ok: result.status === 0,
    status: result.status === 0 ? 'ok' : timedOut ? `did not finish in ${options.timeoutSeconds} s` : `exit ${result.status}: ${lastLine.trim().slice(0, 70)}`,
    seconds: wall,
    peakRssMb: Number(rss ?? NaN) / 1024,
    output,
  };
}

/** Apparent size and allocated bytes of the core files in `dir` (summed). */
function coreSizes(dir: string): { apparent: number; allocated: number } | undefined {
  if (!existsSync(dir)) return undefined;
  const cores = readdirSync(dir).filter((name) => name.startsWith('core.'));
  if (cores.length === 0) return undefined;
  return cores.reduce(
    (sum, name) => {
      const stat = statSync(join(dir, name));
      return { apparent: sum.apparent + stat.size, allocated: sum.allocated + stat.blocks * 512 };
    },
    { apparent: 0, allocated: 0 },
  );
}

/** The run with the median wall time of `runs` runs (failed runs count as slowest). */
function medianRun(runs: number, run: () => Measured): Measured {
  const results = Array.from({ length: runs }, run).sort((a, b) => (a.ok === b.ok ? a.seconds - b.seconds : a.ok ? -1 : 1));
  return results[Math.floor(results.length / 2)]!;
}

/**
 * Raw sequential write speed of the disk under test/.work, in MB/s (median of 5 runs of 2 GiB):
 * [through the page cache, with fdatasync]. `sync` runs first so that earlier writes do not weigh on it.
 */
function ddSpeed(): [number, number] {
  const target = join(BENCH_WORK, 'dd.bin');
  const run = (sync: boolean): number => {
    spawnSync('sync');
    const result = spawnSync('dd', ['if=/dev/zero', `of=${target}`, 'bs=8M', 'count=256', ...(sync ? ['conv=fdatasync'] : [])]);
    rmSync(target, { force: true });
    const match = /copied, ([\d.]+) s/.exec(result.stderr.toString());
    return match ? (2048 * 1.048576) / Number(match[1]) : NaN;
  };
  const median5 = (sync: boolean): number => Array.from({ length: 5 }, () => run(sync)).sort((a, b) => a - b)[2]!;
  return [median5(false), median5(true)];
}

/** Exports `subject` with criu-gdb in a fresh node process; `sync` adds fdatasync of the core. */
function criuGdbExport(subject: Subject, sync: boolean): Measured {
  const out = join(OUT, `criu-gdb-${subject.label}`);
  rmSync(out, { recursive: true, force: true });
  const script = `
    import { closeSync, fdatasyncSync, openSync } from 'node:fs';
    import { Checkpoint } from ${JSON.stringify(join(PROJECT, 'dist', 'src', 'model', 'checkpoint.js'))};
    import { exportCoresSync } from ${JSON.stringify(join(PROJECT, 'dist', 'src', 'export', 'coredump.js'))};
    const checkpoint = Checkpoint.open(${JSON.stringify(subject.dir)});
    const reports = exportCoresSync(checkpoint, { outDir: ${JSON.stringify(out)} });
    if (${sync}) for (const r of reports) { const fd = openSync(r.path, 'r'); fdatasyncSync(fd); closeSync(fd); }
  `;
  spawnSync('sync');
  const run = timed('node', ['--input-type=module', '-e', script]);
  const result: Measured = { ...run, core: coreSizes(out) };
  rmSync(out, { recursive: true, force: true });
  return result;
}

/** The Debian archive: the one install-criu.sh used, else $CRIU_GDB_DEBIAN_MIRROR, else deb.debian.org. */
function debianMirror(): string {
  if (process.env['CRIU_GDB_DEBIAN_MIRROR']) return process.env['CRIU_GDB_DEBIAN_MIRROR'];
  const cache = process.env['CRIU_GDB_CACHE'] ?? '/var/cache/criu-gdb';
  const list = join(cache, 'apt', 'etc', 'sources.list');
  const uri = existsSync(list) ? /\]\s+(\S+)\s/.exec(readFileSync(list, 'utf8'))?.[1] : undefined;
  return uri ?? 'http://deb.debian.org/debian';
}

/** A private apt configuration under `dir` (nothing of the system's apt state is read or written). */
function privateApt(dir: string, sources: string): NodeJS.ProcessEnv {
  for (const sub of ['etc/apt.conf.d', 'etc/preferences.d', 'etc/trusted.gpg.d', 'etc/sources.list.d', 'lists/partial', 'archives/partial', 'cache', 'state', 'log']) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  writeFileSync(join(dir, 'etc', 'empty.conf'), '');
  writeFileSync(join(dir, 'status'), '');
  writeFileSync(join(dir, 'etc', 'sources.list'), sources);
  const settings = {
    'Dir::Etc::main': `${dir}/etc/empty.conf`,
    'Dir::Etc::parts': `${dir}/etc/apt.conf.d`,
    'Dir::Etc::SourceList': `${dir}/etc/sources.list`,
    'Dir::Etc::SourceParts': `${dir}/etc/sources.list.d`,
    'Dir::Etc::Preferences': `${dir}/etc/preferences`,
    'Dir::Etc::PreferencesParts': `${dir}/etc/preferences.d`,
    'Dir::Etc::TrustedParts': `${dir}/etc/trusted.gpg.d`,
    'Dir::State': `${dir}/state`,
    'Dir::State::Lists': `${dir}/lists`,
    'Dir::State::status': `${dir}/status`,
    'Dir::Cache': `${dir}/cache`,
    'Dir::Cache::Archives': `${dir}/archives`,
    'Dir::Log': `${dir}/log`,
    'Debug::NoLocking': 'true',
    'APT::Architecture': 'amd64',
    'APT::Sandbox::User': 'root',
    'Acquire::Languages': 'none',
    'Acquire::Check-Valid-Until': 'false',
  };
  writeFileSync(join(dir, 'etc', 'apt.conf'), Object.entries(settings).map(([k, v]) => `${k} "${v}";\n`).join(''));
  return { ...process.env, APT_CONFIG: join(dir, 'etc', 'apt.conf') };
}

function sh(script: string, env: NodeJS.ProcessEnv, cwd: string): string {
  return execFileSync('bash', ['-c', script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 }).toString();
}

/**
 * Fetches (once) the criu source tarball, python3-pycriu and python3-protobuf, unpacked in TOOL_DIR.
 * Returns the unpacked source tree and the site-packages directory, or the reason it could not.
 */
function fetchCriuTool(): { source: string; sitePackages: string } | { problem: string } {
  const source = join(TOOL_DIR, `criu-${CRIU_VERSION}`);
  const root = join(TOOL_DIR, 'root');
  const sitePackages = join(root, 'usr', 'lib', 'python3', 'dist-packages');
  if (existsSync(join(source, 'coredump', 'coredump')) && existsSync(join(sitePackages, 'pycriu')) && existsSync(join(sitePackages, 'google', 'protobuf'))) {
    return { source, sitePackages };
  }
  rmSync(TOOL_DIR, { recursive: true, force: true });
  mkdirSync(TOOL_DIR, { recursive: true });
  const mirror = debianMirror();
  const downloads = join(TOOL_DIR, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const problems: string[] = [];
  for (const suite of ['forky', 'sid']) {
    const env = privateApt(join(TOOL_DIR, 'apt'), `deb [signed-by=${KEYRING}] ${mirror} ${suite} main\ndeb-src [signed-by=${KEYRING}] ${mirror} ${suite} main\n`);
    try {
      sh('apt-get update -qq', env, downloads);
      const version = /^Version: (\S+)$/m.exec(sh('apt-cache showsrc criu', env, downloads))?.[1];
      if (!version?.startsWith(`${CRIU_VERSION}-`)) {
        problems.push(`${suite} has criu ${version ?? 'none'}`);
        continue;
      }
      // The .orig tarball is all that is needed; the Debian packaging tarball may be missing from a mirror.
      try {
        sh(`apt-get source --download-only -qq criu=${version}`, env, downloads);
      } catch (error) {
        problems.push(`apt-get source: ${String((error as { stderr?: Buffer }).stderr ?? error).trim().split('\n').at(-1)}`);
      }
      const tarball = readdirSync(downloads).find((name) => name === `criu_${CRIU_VERSION}.orig.tar.xz`);
      if (!tarball) continue;
      sh(`tar -xf ${tarball} -C ${TOOL_DIR}`, env, downloads);
      sh(`apt-get download -qq python3-pycriu=${version}`, env, downloads);
      // bookworm's python3-protobuf, from the system's own sources (pycriu's generated modules need it).
      sh('apt-get download -qq python3-protobuf', { ...process.env, APT_CONFIG: '' }, downloads);
      for (const deb of readdirSync(downloads).filter((name) => name.endsWith('.deb'))) sh(`dpkg-deb -x ${deb} ${root}`, env, downloads);
      rmSync(join(TOOL_DIR, 'apt'), { recursive: true, force: true });
      if (existsSync(join(source, 'coredump', 'coredump'))) return { source, sitePackages };
      problems.push(`the tarball has no coredump/coredump`);
    } catch (error) {
      problems.push(`${suite}: ${String((error as { stderr?: Buffer }).stderr ?? error).trim().split('\n').at(-1)}`);
    }
  }
  return { problem: problems.join('; ') };
}

type Variant = 'as-is' | 'runs' | 'finishes';

/** A temporary copy of the tool with the patches of `variant` applied; returns its coredump directory. */
function preparedTool(source: string, variant: Variant): string {
  const copy = join(TOOL_DIR, `run-${variant}`);
  rmSync(copy, { recursive: true, force: true });
  cpSync(join(source, 'coredump'), join(copy, 'coredump'), { recursive: true, verbatimSymlinks: true });
  cpSync(join(source, 'lib'), join(copy, 'lib'), { recursive: true, verbatimSymlinks: true });
  const dir = join(copy, 'coredump');
  if (variant === 'as-is') return dir;
  // Its pycriu is a symlink to the unbuilt ../lib/pycriu (no generated *_pb2 modules): use the packaged one.
  rmSync(join(dir, 'pycriu'));
  if (variant === 'runs') return dir;
  const file = join(dir, 'criu_coredump', 'coredump.py');
  let code = readFileSync(file, 'utf8');
  // _get_page scans every pagemap entry page by page for every page looked up: index the pages once.
  const scanStart = code.indexOf('        off = 0  # in pages\n        for m in pagemap[1:]:');
  const scanEnd = code.indexOf('            if "in_parent" in m and m["in_parent"]:');
  if (scanStart < 0 || scanEnd < 0) throw new Error('CRIU coredump.py: _get_page is not as expected');
  code =
    code.slice(0, scanStart) +
    [
      '        index = self.__dict__.setdefault("_page_index", {})',
      '        if pid not in index:',
      '            pages = {}',
      '            off = 0',
      '            for m in pagemap[1:]:',
      '                num_pages = m.get("nr_pages", m["compat_nr_pages"])',
      '                for i in range(num_pages):',
      '                    pages.setdefault(m["vaddr"] // PAGESIZE + i, (m, off + i))',
      '                off += num_pages',
      '            index[pid] = pages',
      '        for m, off in [index[pid][page_no]] if page_no in index[pid] else []:',
      '',
    ].join('\n') +
    code.slice(scanEnd);
  // _gen_mem_chunk grows one bytes object page by page (quadratic copying): collect and join once.
  const chunkStart = code.indexOf('    def _gen_mem_chunk(self, pid, vma, size):');
  const chunkEnd = code.indexOf('    def _gen_cmdline(self, pid):');
  let chunk = code.slice(chunkStart, chunkEnd);
  for (const [from, to] of [
    ['        buf = b""\n', '        buf = []\n'],
    ['            buf += page[n_skip:n_skip + n_read]\n', '            buf.append(page[n_skip:n_skip + n_read])\n'],
    ['        return buf\n', '        return b"".join(buf)\n'],
  ] as const) {
    if (!chunk.includes(from)) throw new Error(`CRIU coredump.py: _gen_mem_chunk has no ${from.trim()}`);
    chunk = chunk.replace(from, to);
  }
  writeFileSync(file, code.slice(0, chunkStart) + chunk + code.slice(chunkEnd));
  return dir;
}

function runCriuTool(dir: string, sitePackages: string, subject: Subject): Measured {
  const out = join(OUT, `criu-${subject.label}`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // The C protobuf extension needs libprotobuf32, which is not installed: use the pure-Python one.
  const env = { ...process.env, PYTHONPATH: sitePackages, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION: 'python', PYTHONDONTWRITEBYTECODE: '1' };
  const run = timed('/usr/bin/python3', [join(dir, 'coredump'), '-i', subject.dir, '-o', out], { env, cwd: dir, timeoutSeconds: CRIU_TIMEOUT });
  const result: Measured = { ...run, ok: run.ok, core: run.ok ? coreSizes(out) : undefined };
  rmSync(out, { recursive: true, force: true });
  return result;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function main(): void {
  requireTools();
  if (!existsSync('/usr/bin/time')) throw new Error('GNU time (/usr/bin/time) is needed to measure peak RSS: apt-get install time');
  mkdirSync(OUT, { recursive: true });
  const subjects = standardSubjects();
  const [cached, synced] = ddSpeed();
  const rows: string[][] = [];
  const row = (subject: Subject, tool: string, m: Measured): void => {
    rows.push([
      subject.label,
      tool,
      m.ok ? m.seconds.toFixed(2) : '-',
      Number.isFinite(m.peakRssMb) ? m.peakRssMb.toFixed(0) : '-',
      mib(m.core?.apparent),
      mib(m.core?.allocated),
      m.ok && m.core ? (m.core.allocated / 1e6 / m.seconds).toFixed(0) : '-',
      m.status,
    ]);
  };
  for (const subject of subjects) {
    row(subject, 'criu-gdb coredump', medianRun(5, () => criuGdbExport(subject, false)));
    row(subject, 'criu-gdb + fdatasync', medianRun(5, () => criuGdbExport(subject, true)));
  }
  const tool = fetchCriuTool();
  const notes: string[] = [];
  if ('problem' in tool) {
    notes.push(`CRIU's coredump tool could not be obtained: ${tool.problem}`);
  } else {
    for (const variant of ['as-is', 'runs', 'finishes'] as const) {
      const dir = preparedTool(tool.source, variant);
      let failedOnSmall: string | undefined;
      for (const subject of subjects) {
        if (failedOnSmall) {
          rows.push([subject.label, `CRIU tool, ${variant}`, '-', '-', '-', '-', '-', `not run (${failedOnSmall} on ${subjects[0]!.label})`]);
          continue;
        }
        spawnSync('sync');
        const measured = runCriuTool(dir, tool.sitePackages, subject);
        row(subject, `CRIU tool, ${variant}`, measured);
        if (!measured.ok) failedOnSmall = measured.status.startsWith('did not finish') ? 'did not finish' : 'failed';
      }
      rmSync(join(TOOL_DIR, `run-${variant}`), { recursive: true, force: true });
    }
  }
  printTable(['checkpoint', 'tool', 'time s', 'peak RSS MB', 'core size', 'on disk', 'MB/s written', 'status'], rows);
  console.log('');
  console.log(`Raw disk write (dd, 2 GiB, bs=8M): ${cached.toFixed(0)} MB/s through the page cache, ${synced.toFixed(0)} MB/s with conv=fdatasync`);
  console.log("MB/s written = the core's allocated bytes over the wall time (node or python start-up included).");
  for (const note of notes) console.log(note);
}

main();
