/**
 * A small AArch64 checkpoint written image by image, for tests that need one before (or besides) the real
 * arm64 fixtures: one process of two threads with known register values, one stack mapping of two pages of
 * `pageSize` bytes (AT_PAGESZ in the saved auxv) filled with a known pattern. Every value is chosen here, so
 * the truth is this file, not criu-gdb's reading of it.
 */
import { Magic } from '../../src/images/magic.js';
import { VMA_STATUS } from '../../src/images/mm.js';
import { PE_PRESENT } from '../../src/images/pagemap.js';
import { image, imageDir, pagemapImage } from './build-image.js';

export const SYNTH_PID = 4100;
export const SYNTH_TIDS = [4100, 4101] as const;
export const SYNTH_NAMES = ['arm-main', 'arm-worker'] as const;
export const SYNTH_STACK = 0xffff_f000_0000n;

const u = (value: bigint): string => BigInt.asUintN(64, value).toString();

/** The registers of thread `index` (0 = leader): x[n] = 0x1000 * (index + 1) + n, and so on. */
export function synthRegisters(index: number): {
  x: bigint[];
  sp: bigint;
  pc: bigint;
  pstate: bigint;
  v: Buffer[];
  fpsr: number;
  fpcr: number;
  tls: bigint;
} {
  const base = BigInt(0x1000 * (index + 1));
  return {
    x: Array.from({ length: 31 }, (_, n) => base + BigInt(n) + (n === 30 ? 0xaaaa_0000_0000n : 0n)),
    sp: SYNTH_STACK + 0x100n + BigInt(index) * 0x40n,
    pc: 0xaaaa_0000_1234n + BigInt(index) * 8n,
    pstate: 0x6000_0000n,
    v: Array.from({ length: 32 }, (_, n) => Buffer.from(Array.from({ length: 16 }, (_, b) => (n * 16 + b + index * 3) & 0xff))),
    fpsr: 0x10 + index,
    fpcr: 0x0300_0000,
    tls: 0xffff_b7ff_0700n + BigInt(index) * 0x1000n,
  };
}

/** The byte at `offset` of the stack mapping. */
export function stackByte(offset: number): number {
  return (offset * 7 + (offset >> 12)) & 0xff;
}

function core(index: number): Buffer {
  const r = synthRegisters(index);
  const vregs: string[] = [];
  for (const v of r.v) vregs.push(u(v.readBigUInt64LE(0)), u(v.readBigUInt64LE(8)));
  const fields: Record<string, unknown> = {
    mtype: 'AARCH64',
    ti_aarch64: {
      clear_tid_addr: 0,
      tls: u(r.tls),
      gpregs: { regs: r.x.map(u), sp: u(r.sp), pc: u(r.pc), pstate: u(r.pstate) },
      fpsimd: { vregs, fpsr: r.fpsr, fpcr: r.fpcr },
    },
    thread_core: { futex_rla: 0, futex_rla_len: 24, comm: SYNTH_NAMES[index] },
  };
  if (index === 0) fields.tc = { task_state: 3, exit_code: 0, personality: 0, flags: 0x400000, blk_sigset: 0, comm: SYNTH_NAMES[0] };
  return image(Magic.core, [{ type: 'CoreEntry', fields }]);
}

/** Writes the checkpoint with pages of `pageSize` bytes and returns its directory. */
export function aarch64Checkpoint(pageSize: number): string {
  const stackBytes = 2 * pageSize;
  const stack = Buffer.alloc(stackBytes);
  for (let i = 0; i < stackBytes; i++) stack[i] = stackByte(i);
  const mm = {
    mm_start_code: u(0xaaaa_0000_0000n), mm_end_code: u(0xaaaa_0000_0000n), mm_start_data: 0, mm_end_data: 0,
    mm_start_stack: u(SYNTH_STACK + BigInt(stackBytes)), mm_start_brk: 0, mm_brk: 0,
    mm_arg_start: u(SYNTH_STACK), mm_arg_end: u(SYNTH_STACK + 8n), mm_env_start: u(SYNTH_STACK + 8n), mm_env_end: u(SYNTH_STACK + 16n),
    exe_file_id: 0,
    mm_saved_auxv: ['6', String(pageSize), '0', '0'],
    vmas: [{ start: u(SYNTH_STACK), end: u(SYNTH_STACK + BigInt(stackBytes)), pgoff: 0, shmid: 0, prot: 3, flags: 0x122, status: VMA_STATUS.REGULAR | VMA_STATUS.ANON_PRIVATE, fd: -1 }],
  };
  return imageDir({
    'pstree.img': image(Magic.pstree, [{ type: 'PstreeEntry', fields: { pid: SYNTH_PID, ppid: 0, pgid: SYNTH_PID, sid: SYNTH_PID, threads: [...SYNTH_TIDS] } }]),
    [`core-${SYNTH_TIDS[0]}.img`]: core(0),
    [`core-${SYNTH_TIDS[1]}.img`]: core(1),
    [`mm-${SYNTH_PID}.img`]: image(Magic.mm, [{ type: 'MmEntry', fields: mm }]),
    [`pagemap-${SYNTH_PID}.img`]: pagemapImage(1, [[Number(SYNTH_STACK), 2, PE_PRESENT]]),
    'pages-1.img': stack,
  });
}
