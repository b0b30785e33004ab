import type { Credentials } from '../images/creds.js';
import { MAP_GROWSDOWN, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE, type Vma } from '../images/mm.js';
import type { ProcessModel } from '../model/process.js';
import type { Mapping, ThreadModel } from '../model/types.js';

/** A /proc/PID path split into the pid and the rest (`maps`, `task/12/comm`...), or undefined. */
export function parseProcPath(path: string): { pid: number; rest: string } | undefined {
  const match = /^\/proc\/(\d+)(?:\/(.*))?$/.exec(path);
  if (!match) return undefined;
  return { pid: Number(match[1]), rest: match[2] ?? '' };
}

function mapsLine(mapping: Mapping): string {
  const range = `${mapping.start.toString(16).padStart(8, '0')}-${mapping.end.toString(16).padStart(8, '0')}`;
  const prefix = `${range} ${mapping.perms} ${mapping.offset.toString(16).padStart(8, '0')} 00:00 0`;
  return mapping.name ? `${prefix.padEnd(73)}${mapping.name}` : prefix;
}

const STATE_LETTERS: Record<string, string> = { alive: 'S', stopped: 'T', dead: 'Z', zombie: 'Z' };

function stateLine(process: ProcessModel): string {
  const letter = STATE_LETTERS[process.state] ?? 'S';
  const names: Record<string, string> = { S: 'sleeping', T: 'stopped', Z: 'zombie' };
  return `${letter} (${names[letter] ?? 'sleeping'})`;
}

function hexMask(mask: bigint): string {
  return mask.toString(16).padStart(16, '0');
}

/** Credentials of a thread, when the images record them. */
function credsOf(process: ProcessModel, tid: number): Credentials | undefined {
  return process.checkpoint.tolerate(() => process.credentials(tid));
}

/**
 * /proc/PID/status (or task/TID/status): name, state, ids, thread count, credentials (gdb's gcore reads
 * `Uid:` and `Gid:` for NT_PRPSINFO) and the blocked mask. Only lines the images can fill are written.
 */
function statusFile(process: ProcessModel, thread: ThreadModel | undefined): Buffer {
  const tid = thread?.tid ?? process.pid;
  const creds = credsOf(process, tid);
  const lines = [
    `Name:\t${thread?.name ?? process.comm}`,
    `State:\t${stateLine(process)}`,
    `Tgid:\t${process.pid}`,
    `Pid:\t${tid}`,
    `PPid:\t${process.ppid}`,
  ];
  if (creds) {
    lines.push(`Uid:\t${creds.uid}\t${creds.euid}\t${creds.suid}\t${creds.fsuid}`);
    lines.push(`Gid:\t${creds.gid}\t${creds.egid}\t${creds.sgid}\t${creds.fsgid}`);
    lines.push(`Groups:\t${creds.groups.map((g) => `${g} `).join('')}`);
  }
  lines.push(`Threads:\t${process.tids.length}`, `SigBlk:\t${hexMask(thread?.blockedSignals ?? 0n)}`, '');
  return Buffer.from(lines.join('\n'));
}

const SIG_IGN = 1n;

/**
 * /proc/PID/stat (or task/TID/stat) with all 52 fields, as gdb's gcore and `info proc stat` parse it.
 * Fields from the images: ids, state, flags, priority and nice, thread count, virtual size, resident pages
 * (those the images hold), code/data/stack/brk/argument/environment bounds, signal masks, scheduling
 * policy, exit code. Counters and times the images do not record (faults, CPU times, start time, tty,
 * processor, ...) are 0.
 */
function statFile(process: ProcessModel, thread: ThreadModel | undefined): Buffer {
  const tid = thread?.tid ?? process.pid;
  const core = process.checkpoint.tolerate(() => process.core(tid));
  const leader = process.checkpoint.tolerate(() => process.leaderCore);
  const mm = process.checkpoint.tolerate(() => process.mm());
  const letter = STATE_LETTERS[process.state] ?? 'S';
  const nice = core?.thread?.schedNice ?? 0;
  const policy = core?.thread?.schedPolicy ?? 0;
  const rtPriority = core?.thread?.schedPriority ?? 0;
  // The kernel shows prio - 100: 20 + nice for normal tasks, -1 - rt_priority for real-time ones.
  const priority = policy === 1 || policy === 2 ? -1 - rtPriority : 20 + nice;
  const mappings = process.checkpoint.tolerate(() => process.procMappings()) ?? [];
  const vsize = mappings.reduce((sum, m) => sum + (m.end - m.start), 0n);
  let rss = 0;
  for (const m of mappings) {
    const pages = process.checkpoint.tolerate(() => process.coverage(m));
    if (pages) rss += pages.present + pages.inParent + pages.lazy;
  }
  const actions = leader?.task?.sigactions ?? [];
  const mask = (pick: (handler: bigint) => boolean): bigint => actions.reduce((m, a) => (pick(a.handler) ? m | (1n << BigInt(a.signo - 1)) : m), 0n);
  const pending = (thread?.pendingSignals ?? []).reduce((m, s) => m | (1n << BigInt(s.signo - 1)), 0n);
  const fields: Array<string | number | bigint> = [
    tid,
    `(${thread?.name ?? process.comm})`,
    letter,
    process.ppid,
    process.pgid,
    process.sid,
    0, // tty_nr
    -1, // tpgid
    leader?.task?.flags ?? 0,
    0, 0, 0, 0, // minflt cminflt majflt cmajflt
    0, 0, 0, 0, // utime stime cutime cstime
    priority,
    nice,
    process.tids.length,
    0, // itrealvalue
    0, // starttime
    vsize,
    rss,
    0, // rsslim
    mm?.startCode ?? 0n,
    mm?.endCode ?? 0n,
    mm?.startStack ?? 0n,
    0, 0, // kstkesp kstkeip
    // The obsolete signal fields show the low 31 signals, as the kernel prints them.
    pending & 0x7fffffffn,
    (thread?.blockedSignals ?? 0n) & 0x7fffffffn,
    mask((h) => h === SIG_IGN) & 0x7fffffffn,
    mask((h) => h > SIG_IGN) & 0x7fffffffn,
    0, 0, 0, // wchan nswap cnswap
    0, // exit_signal
    0, // processor
    rtPriority,
    policy,
    0, 0, 0, // delayacct_blkio_ticks guest_time cguest_time
    mm?.startData ?? 0n,
    mm?.endData ?? 0n,
    mm?.startBrk ?? 0n,
    mm?.argStart ?? 0n,
    mm?.argEnd ?? 0n,
    mm?.envStart ?? 0n,
    mm?.envEnd ?? 0n,
    leader?.task?.exitCode ?? 0,
  ];
  return Buffer.from(`${fields.join(' ')}\n`);
}

/** madvise advice bits (VmaEntry.madv) and the VmFlags mnemonics the kernel prints for them. */
const ADVICE_FLAGS: ReadonlyArray<[number, string]> = [
  [2, 'sr'], // MADV_SEQUENTIAL
  [1, 'rr'], // MADV_RANDOM
  [10, 'dc'], // MADV_DONTFORK
  [12, 'mg'], // MADV_MERGEABLE
  [14, 'hg'], // MADV_HUGEPAGE
  [15, 'nh'], // MADV_NOHUGEPAGE
  [16, 'dd'], // MADV_DONTDUMP
  [18, 'wf'], // MADV_WIPEONFORK
];

/** The VmFlags mnemonics the images allow to state for a mapping (flags they do not record are left out). */
function vmFlags(vma: Vma): string {
  const flags: string[] = [];
  if (vma.prot & PROT_READ) flags.push('rd');
  if (vma.prot & PROT_WRITE) flags.push('wr');
  if (vma.prot & PROT_EXEC) flags.push('ex');
  if (vma.flags & MAP_SHARED) flags.push('sh');
  if (vma.flags & MAP_GROWSDOWN) flags.push('gd');
  // The kernel maps [vvar] with VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP.
  if (vma.kind === 'vvar') flags.push('pf', 'io', 'de');
  const madv = vma.madv ?? 0n;
  for (const [bit, name] of ADVICE_FLAGS) if ((madv >> BigInt(bit)) & 1n && !flags.includes(name)) flags.push(name);
  if (vma.kind === 'vvar' && !flags.includes('dd')) flags.push('dd');
  return flags.join(' ');
}

function smapsLine(name: string, kib: number): string {
  return `${name.padEnd(16)}${String(kib).padStart(8)} kB`;
}

/**
 * /proc/PID/smaps: each maps line followed by sizes and VmFlags. `Rss` counts the pages the images hold for
 * the mapping (private pages, pages in a parent or lazy dump, shared-memory pages); `Anonymous` counts the
 * private ones among them (anonymous memory, and copied-on-write pages of private file mappings), which is
 * what gdb's gcore uses to decide which mappings to dump. Pages of file mappings that were only read are not
 * counted (the images do not say whether they were resident).
 */
function smapsFile(process: ProcessModel): Buffer {
  const mappings = process.mappings();
  const vmas = process.mm().vmas;
  const pageKib = process.checkpoint.pageSize / 1024;
  const out: string[] = [];
  mappings.forEach((mapping, i) => {
    // Guard pages (MADV_GUARD_INSTALL) are no mapping of their own in /proc, only CRIU lists them apart.
    if (mapping.kind === 'guard') return;
    const vma = vmas[i];
    const pages = process.checkpoint.tolerate(() => process.coverage(mapping));
    const held = pages ? pages.present + pages.inParent + pages.lazy : 0;
    // As in the kernel's smaps, the special mappings ([vdso], [vvar], [vsyscall]) have no anonymous pages.
    const special = mapping.kind === 'vdso' || mapping.kind === 'vvar' || mapping.kind === 'vsyscall';
    const privateMemory = !special && (vma?.isPrivate === true || ['anon-private', 'heap', 'stack'].includes(mapping.kind));
    const kib = (count: number): number => count * pageKib;
    out.push(
      mapsLine(mapping),
      smapsLine('Size:', Number((mapping.end - mapping.start) / 1024n)),
      smapsLine('KernelPageSize:', pageKib),
      smapsLine('MMUPageSize:', pageKib),
      smapsLine('Rss:', kib(held)),
      smapsLine('Anonymous:', privateMemory ? kib(held) : 0),
      `VmFlags: ${vma ? vmFlags(vma) : ''} `,
    );
  });
  return Buffer.from(out.map((line) => `${line}\n`).join(''));
}

/**
 * The content of a synthetic /proc/PID file, built from the images, or undefined when it has none.
 * Served through gdb's remote file I/O so that `info proc` and friends work on a checkpoint.
 */
export function procFileContent(process: ProcessModel, rest: string): Buffer | undefined {
  switch (rest) {
    case 'maps':
      return Buffer.from(
        process
          .procMappings()
          .map((m) => `${mapsLine(m)}\n`)
          .join(''),
      );
    case 'cmdline': {
      const argv = process.cmdline();
      return argv ? Buffer.from(argv.map((a) => `${a}\0`).join('')) : undefined;
    }
    case 'environ': {
      const env = process.environ();
      return env ? Buffer.from(env.map((e) => `${e}\0`).join('')) : undefined;
    }
    case 'comm':
      return Buffer.from(`${process.comm}\n`);
    case 'auxv': {
      const auxv = process.mm().auxv;
      const out = Buffer.alloc(auxv.length * 8);
      auxv.forEach((value, i) => out.writeBigUInt64LE(BigInt.asUintN(64, value), i * 8));
      return out;
    }
    case 'status':
      return statusFile(process, process.threads()[0]);
    case 'stat':
      return statFile(process, process.threads()[0]);
    case 'smaps':
      return smapsFile(process);
    default: {
      // /proc/PID/task/TID/...: the thread's own comm, stat and status; anything else as the process has it.
      const task = /^task\/(\d+)\/(.+)$/.exec(rest);
      if (!task) return undefined;
      const thread = process.threads().find((t) => t.tid === Number(task[1]));
      if (!thread) return undefined;
      switch (task[2]) {
        case 'comm':
          return Buffer.from(`${thread.name}\n`);
        case 'stat':
          return statFile(process, thread);
        case 'status':
          return statusFile(process, thread);
        default:
          return procFileContent(process, task[2]!);
      }
    }
  }
}

/** The target of a synthetic /proc/PID symlink (`exe`, `cwd`, `root`), or undefined. */
export function procLinkTarget(process: ProcessModel, rest: string): string | undefined {
  switch (rest) {
    case 'exe':
      return process.exe();
    case 'cwd':
      return process.dirs().cwd;
    case 'root':
      return process.dirs().root;
    default:
      return undefined;
  }
}
