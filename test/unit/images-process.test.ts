import { describe, expect, it } from 'vitest';
import { readCore, taskStateName } from '../../src/images/core.js';
import { readFs } from '../../src/images/fs.js';
import { readIds } from '../../src/images/ids.js';
import { readInventory } from '../../src/images/inventory.js';
import { IMG_COMMON, Magic } from '../../src/images/magic.js';
import { readMm, VMA_STATUS, vmaKind } from '../../src/images/mm.js';
import { x86Components, x87FullTagWord } from '../../src/arch/x86_64/xsave.js';
import type { Aarch64Registers, X86Registers } from '../../src/images/registers.js';
import { RLIM_INFINITY } from '../../src/images/rlimits.js';
import { decodeSiginfo, signalName } from '../../src/images/signals.js';
import { readCreds, readRlimits, readSharedSignals, readSigactions, readThreadSignals, readTimers } from '../../src/model/task-details.js';
import { catchImageError, image, openImageDir, type EntrySpec } from '../helpers/build-image.js';

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** 64-bit values go through protobufjs as decimal strings. */
const u = (value: bigint): string => value.toString();

/** Bytes 0, 1, 2... starting at `first`, as 32- or 64-bit little-endian words. */
function pattern(bytes: number, first: number): Buffer {
  return Buffer.from(Array.from({ length: bytes }, (_, i) => (first + i) & 0xff));
}
function words32(data: Buffer): number[] {
  return Array.from({ length: data.length / 4 }, (_, i) => data.readUInt32LE(i * 4));
}
function words64(data: Buffer): string[] {
  return Array.from({ length: data.length / 8 }, (_, i) => data.readBigUInt64LE(i * 8).toString());
}

/** A raw 64-bit siginfo_t. */
function siginfo(signo: number, code: number, fill: (b: Buffer) => void = () => undefined): Buffer {
  const raw = Buffer.alloc(128);
  raw.writeInt32LE(signo, 0);
  raw.writeInt32LE(code, 8);
  fill(raw);
  return raw;
}

/** An image holding one hand-encoded payload. */
function rawImage(magic: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt32LE(IMG_COMMON, 0);
  header.writeUInt32LE(magic, 4);
  header.writeUInt32LE(payload.length, 8);
  return Buffer.concat([header, payload]);
}

function x87Value(mantissa: bigint, exponent: number): Buffer {
  const slot = Buffer.alloc(16, 0xee); // the 6 padding bytes must not leak into the value
  slot.writeBigUInt64LE(mantissa, 0);
  slot.writeUInt16LE(exponent, 8);
  return slot;
}

const gpregs = {
  r15: 15, r14: 14, r13: 13, r12: 12, bp: 0x7ffc0000, bx: 6, r11: 11, r10: 10, r9: 9, r8: 8,
  ax: u(0xfffffffffffffe00n), cx: 2, dx: 3, si: 4, di: 5, orig_ax: 7, ip: u(0x55550000_1234n), cs: 0x33, flags: 0x246,
  sp: u(0x7ffc_1000_0000n), ss: 0x2b, fs_base: u(0x7f00_0000_0740n), gs_base: 0, ds: 0, es: 0, fs: 0, gs: 0,
};

function x86ThreadInfo(xsave: Record<string, unknown> | undefined): Record<string, unknown> {
  // st0 = 1.0, st1 = 0.0, st2 = NaN-ish (special); top = 5, so st0..st2 are physical 5, 6, 7.
  const st = Buffer.concat([
    x87Value(0x8000000000000000n, 0x3fff),
    x87Value(0n, 0),
    x87Value(0xc000000000000000n, 0x7fff),
    ...Array.from({ length: 5 }, () => Buffer.alloc(16)),
  ]);
  return {
    clear_tid_addr: u(0x7f00_0000_0a10n),
    gpregs,
    fpregs: {
      cwd: 0x37f, swd: 5 << 11, twd: 0xe0, fop: 0, rip: 0, rdp: 0, mxcsr: 0x1f80, mxcsr_mask: 0xffff,
      st_space: words32(st),
      xmm_space: words32(pattern(256, 0)),
      padding: [],
      ...(xsave ? { xsave } : {}),
    },
    tls: [{ entry_number: 12, base_addr: 0, limit: 0, seg_32bit: false, contents_h: false, contents_l: false,
      read_exec_only: true, limit_in_pages: false, seg_not_present: true, usable: false }],
  };
}

const fullXsave = {
  xstate_bv: u(0x2e7n), // x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM, PKRU
  ymmh_space: words32(pattern(256, 0x40)),
  opmask_reg: ['1', '2', '3', u(0x1234567890abcdefn), '5', '6', '7', '8'],
  zmm_upper: words64(pattern(512, 0x80)),
  hi16_zmm: words64(pattern(1024, 0x10)),
  pkru: [0x55555554, 0],
};

function taskCore(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { task_state: 1, exit_code: 0, personality: 0, flags: 0x400000, blk_sigset: u(0x200n), comm: 'leader', ...extra };
}

function threadCore(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { futex_rla: u(0x7f00_0000_0a20n), futex_rla_len: 24, ...extra };
}

function core(fields: Record<string, unknown>): Buffer {
  return image(Magic.core, [{ type: 'CoreEntry', fields }]);
}

const creds = {
  uid: 1000, gid: 1000, euid: 1000, egid: 1000, suid: 1000, sgid: 1000, fsuid: 1000, fsgid: 1000,
  cap_inh: [0, 0], cap_prm: [0xffffffff, 0x1ff], cap_eff: [0x20, 0], cap_bnd: [0xffffffff, 0x1ff], cap_amb: [0, 0],
  secbits: 0, groups: [4, 27],
};

const vma = (start: bigint, end: bigint, status: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  start: u(start), end: u(end), pgoff: 0, shmid: 0, prot: 3, flags: 0x22, status, fd: -1, ...extra,
});

function mmFields(vmas: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mm_start_code: u(0x400000n), mm_end_code: u(0x401000n), mm_start_data: u(0x600000n), mm_end_data: u(0x601000n),
    mm_start_stack: u(0x7ffc0000n), mm_start_brk: u(0x602000n), mm_brk: u(0x623000n),
    mm_arg_start: u(0x7ffc1000n), mm_arg_end: u(0x7ffc1010n), mm_env_start: u(0x7ffc1010n), mm_env_end: u(0x7ffc1100n),
    exe_file_id: 3, mm_saved_auxv: ['6', '4096', '25', u(0x7ffc2000n), '0', '0'], vmas, ...extra,
  };
}

// ---------------------------------------------------------------------------------------------------------

describe('inventory.img', () => {
  it('decodes the dump-wide facts', () => {
    const dir = openImageDir({
      'inventory.img': image(
        Magic.inventory,
        [{
          type: 'InventoryEntry',
          fields: {
            img_version: 2, fdinfo_per_id: true, ns_per_id: true, lsmtype: 2, dump_uptime: u(123456789n),
            network_lock_method: 1, plugins_entry: { plugins: ['amdgpu'] }, dump_criu_run_id: 'run-1',
            root_ids: { vm_id: 1, files_id: 2, fs_id: 3, sighand_id: 4, pid_ns_id: 5 },
          },
        }],
        { common: false },
      ),
    });
    expect(readInventory(dir)).toEqual({
      imageVersion: 2, fdinfoPerId: true, nsPerId: true, lsm: 'apparmor', dumpUptime: 123456789n,
      networkLockMethod: 'nftables', plugins: ['amdgpu'], pluginsRecorded: true, criuRunId: 'run-1',
      rootIds: { vmId: 1, filesId: 2, fsId: 3, sighandId: 4, pidNsId: 5 },
    });
  });

  it('leaves unrecorded parts undefined and refuses unknown versions', () => {
    const old = openImageDir({ 'inventory.img': image(Magic.inventory, [{ type: 'InventoryEntry', fields: { img_version: 1 } }], { common: false }) });
    const inv = readInventory(old);
    expect(inv.networkLockMethod).toBeUndefined();
    expect(inv.rootIds).toBeUndefined();
    expect(inv.pluginsRecorded).toBe(false);
    const bad = openImageDir({ 'inventory.img': image(Magic.inventory, [{ type: 'InventoryEntry', fields: { img_version: 9 } }], { common: false }) });
    const error = catchImageError(() => readInventory(bad));
    expect(error.code).toBe('bad-value');
    expect(error.image).toBe('inventory.img');
  });
});

describe('ids-PID.img', () => {
  it('reads the ids image, falls back to the core, else undefined', () => {
    const dir = openImageDir({
      'ids-10.img': image(Magic.ids, [{ type: 'TaskKobjIds', fields: { vm_id: 1, files_id: 2, fs_id: 3, sighand_id: 4, net_ns_id: 9 } }]),
      'core-20.img': core({ mtype: 1, ids: { vm_id: 5, files_id: 6, fs_id: 7, sighand_id: 8 } }),
      'core-30.img': core({ mtype: 1 }),
    });
    expect(readIds(dir, 10)).toEqual({ vmId: 1, filesId: 2, fsId: 3, sighandId: 4, netNsId: 9 });
    expect(readIds(dir, 20)).toEqual({ vmId: 5, filesId: 6, fsId: 7, sighandId: 8 });
    expect(readIds(dir, 30)).toBeUndefined();
    expect(readIds(dir, 40)).toBeUndefined();
  });
});

describe('core-TID.img: x86-64 registers', () => {
  const dir = openImageDir({
    'core-10.img': core({ mtype: 'X86_64', thread_info: x86ThreadInfo(fullXsave), tc: taskCore(), thread_core: threadCore({ comm: 'main' }) }),
    'core-11.img': core({ mtype: 1, thread_info: x86ThreadInfo({ xstate_bv: u(0x3n), ymmh_space: words32(pattern(256, 0x40)) }), thread_core: threadCore() }),
    'core-12.img': core({ mtype: 1, thread_info: x86ThreadInfo(undefined), thread_core: threadCore() }),
  });

  it('maps the general registers', () => {
    const regs = readCore(dir, 10).registers as X86Registers;
    expect(regs.arch).toBe('x86_64');
    expect(regs.clearTidAddr).toBe(0x7f00_0000_0a10n);
    expect(regs.gp).toMatchObject({ rip: 0x55550000_1234n, rsp: 0x7ffc_1000_0000n, rbp: 0x7ffc0000n, rax: 0xfffffffffffffe00n, origRax: 7n, eflags: 0x246n, cs: 0x33n, fsBase: 0x7f00_0000_0740n, r15: 15n, mode: 'native' });
    expect(regs.tls).toHaveLength(1);
  });

  it('cuts st0..st7 to 10 bytes and xmm to 16 bytes, and expands the tag word', () => {
    const fp = (readCore(dir, 10).registers as X86Registers).fpregs!;
    expect(fp.st).toHaveLength(8);
    expect(fp.st[0]!.toString('hex')).toBe('0000000000000080ff3f');
    expect(fp.st.every((b) => b.length === 10)).toBe(true);
    expect(fp.xmm).toHaveLength(16);
    expect(fp.xmm[1]).toEqual(pattern(16, 16));
    // physical 5 = st0 valid (0), 6 = st1 zero (1), 7 = st2 special (2), 0..4 empty (3).
    expect(x87FullTagWord(fp)).toBe((2 << 14) | (1 << 12) | (0 << 10) | 0x3ff);
  });

  it('assembles ymm and zmm values from the xsave components', () => {
    const regs = readCore(dir, 10).registers as X86Registers;
    const x = regs.xsave!;
    expect(x.ymmh![2]).toEqual(pattern(16, 0x40 + 32));
    expect(x.zmmUpper![1]).toEqual(pattern(32, 0x80 + 32));
    expect(x.hi16Zmm![3]).toEqual(pattern(64, 0x10 + 192));
    expect(x.opmask![3]).toBe(0x1234567890abcdefn);
    expect(x.pkru).toBe(0x55555554);
    expect(x86Components(regs)).toEqual({ fp: 'saved', sse: 'saved', ymm: 'saved', bndregs: 'absent', bndcsr: 'absent', opmask: 'saved', zmmHi256: 'saved', hi16Zmm: 'saved', pkru: 'saved' });
  });

  it('reports components that were not saved, or were in their initial state', () => {
    const avxOnly = readCore(dir, 11).registers as X86Registers;
    expect(x86Components(avxOnly)).toMatchObject({ sse: 'saved', ymm: 'init', opmask: 'absent', hi16Zmm: 'absent' });
    const fxsaveOnly = readCore(dir, 12).registers as X86Registers;
    expect(fxsaveOnly.xsave).toBeUndefined();
    expect(x86Components(fxsaveOnly).ymm).toBe('absent');
  });

  it('refuses a register block of the wrong size', () => {
    const info = x86ThreadInfo({ ...fullXsave, zmm_upper: ['1', '2'] });
    const bad = openImageDir({ 'core-13.img': core({ mtype: 1, thread_info: info }) });
    const error = catchImageError(() => readCore(bad, 13));
    expect(error.code).toBe('bad-value');
    expect(error.image).toBe('core-13.img');
    expect(error.problem).toMatch(/ZMM_Hi256/);
    const shortSt = x86ThreadInfo(undefined);
    (shortSt.fpregs as Record<string, unknown>).st_space = [1, 2, 3];
    expect(catchImageError(() => readCore(openImageDir({ 'core-14.img': core({ mtype: 1, thread_info: shortSt }) }), 14)).code).toBe('bad-value');
  });
});

describe('core-TID.img: AArch64 registers', () => {
  it('splits v0..v31 from word pairs, low word first', () => {
    const vregs = Array.from({ length: 64 }, (_, i) => u(BigInt(i) * 0x0101010101010101n));
    const dir = openImageDir({
      'core-7.img': core({
        mtype: 'AARCH64',
        ti_aarch64: {
          clear_tid_addr: 0, tls: u(0xffff_8000_1000n),
          gpregs: { regs: Array.from({ length: 31 }, (_, i) => i * 10), sp: u(0xfffffff0000n), pc: u(0xaaaa_0000_1000n), pstate: 0x60000000 },
          fpsimd: { vregs, fpsr: 0x10, fpcr: 0x3000000 },
          pac_keys: { pac_generic_keys: { apgakey_lo: 1, apgakey_hi: 2 } },
        },
        thread_core: threadCore(),
      }),
    });
    const c = readCore(dir, 7);
    expect(c.arch).toBe('aarch64');
    const r = c.registers as Aarch64Registers;
    expect(r.x[30]).toBe(300n);
    expect(r.pc).toBe(0xaaaa_0000_1000n);
    expect(r.tls).toBe(0xffff_8000_1000n);
    expect(r.v[1]!.toString('hex')).toBe('0202020202020202' + '0303030303030303');
    expect(r.fpcr).toBe(0x3000000);
    expect(r.pac).toEqual({ apga: (2n << 64n) | 1n });
    const bad = openImageDir({ 'core-8.img': core({ mtype: 3, ti_aarch64: { clear_tid_addr: 0, tls: 0, gpregs: { regs: [1], sp: 0, pc: 0, pstate: 0 }, fpsimd: { vregs, fpsr: 0, fpcr: 0 } } }) });
    expect(catchImageError(() => readCore(bad, 8)).code).toBe('bad-value');
  });
});

describe('core-TID.img: task and thread state (current layout)', () => {
  const sigactions = Array.from({ length: 62 }, (_, i) => ({
    sigaction: i === 0 ? u(0x401000n) : i === 11 ? 1 : 0, flags: u(0x14000000n), restorer: u(0x7f0000001000n), mask: i === 0 ? u(0x4000n) : 0, compat_sigaction: false,
  }));
  const dir = openImageDir({
    'core-10.img': core({
      mtype: 1,
      thread_info: x86ThreadInfo(fullXsave),
      tc: taskCore({
        task_state: 3, stop_signo: 19, loginuid: 1000, oom_score_adj: -500, child_subreaper: true,
        timers: {
          real: { isec: 1, iusec: 500000, vsec: 0, vusec: 250 },
          virt: { isec: 0, iusec: 0, vsec: 0, vusec: 0 },
          prof: { isec: 0, iusec: 0, vsec: 0, vusec: 0 },
          posix: [{ it_id: 0, clock_id: 1, si_signo: 36, it_sigev_notify: 0, sival_ptr: u(0xdeadn), overrun: 0, isec: 3, insec: 9, vsec: 4, vnsec: 11 }],
        },
        rlimits: { rlimits: [{ cur: 1, max: 2 }, { cur: u(RLIM_INFINITY), max: u(RLIM_INFINITY) }] },
        signals_s: { signals: [{ siginfo: siginfo(10, 0, (b) => { b.writeInt32LE(4242, 16); b.writeUInt32LE(1000, 20); }) }] },
        sigactions,
      }),
      thread_core: threadCore({
        comm: 'main-thread', blk_sigset: u(0x800n), pdeath_sig: 9, sched_nice: -5, seccomp_mode: 2, seccomp_filter: 3,
        sas: { ss_sp: u(0x1000n), ss_size: 65536, ss_flags: 0 }, creds,
        signals_p: { signals: [{ siginfo: siginfo(12, -6, (b) => b.writeInt32LE(77, 16)) }] },
        rseq_entry: { rseq_abi_pointer: u(0x7f0000002000n), rseq_abi_size: 32, signature: 0x53053053 },
      }),
    }),
  });

  it('decodes the process-wide part', () => {
    const c = readCore(dir, 10);
    const t = c.task!;
    expect(t.taskState).toBe('stopped');
    expect(t.stopSigno).toBe(19);
    expect(t.comm).toBe('leader');
    expect(t.blkSigset).toBe(0x200n);
    expect(t.loginuid).toBe(1000);
    expect(t.oomScoreAdj).toBe(-500);
    expect(t.childSubreaper).toBe(true);
    expect(t.seccompMode).toBeUndefined();
    expect(t.timers!.real).toEqual({ intervalSec: 1n, intervalUsec: 500000n, valueSec: 0n, valueUsec: 250n, armed: true });
    expect(t.timers!.virt.armed).toBe(false);
    expect(t.timers!.posix[0]).toMatchObject({ clockId: 1, signo: 36, sivalPtr: 0xdeadn, intervalNsec: 9n, valueSec: 4n });
    expect(t.rlimits![1]).toEqual({ resource: 1, name: 'fsize', cur: RLIM_INFINITY, max: RLIM_INFINITY });
    expect(t.signalsShared![0]).toMatchObject({ signo: 10, origin: 'user', pid: 4242, uid: 1000 });
  });

  it('numbers the sigactions, skipping SIGKILL and SIGSTOP', () => {
    const actions = readSigactions(dir, 10)!;
    expect(actions).toHaveLength(62);
    expect(actions[0]).toMatchObject({ signo: 1, disposition: 'handler', handler: 0x401000n, mask: 0x4000n, compat: false });
    expect(actions[7]!.signo).toBe(8);
    expect(actions[8]!.signo).toBe(10);
    expect(actions[11]).toMatchObject({ signo: 13, disposition: 'ignore' });
    expect(actions[61]!.signo).toBe(64);
    expect(actions.some((a) => a.signo === 9 || a.signo === 19)).toBe(false);
  });

  it('decodes the per-thread part', () => {
    const c = readCore(dir, 10);
    expect(c.name).toBe('main-thread');
    const th = c.thread!;
    expect(th).toMatchObject({ comm: 'main-thread', blkSigset: 0x800n, pdeathsig: 9, schedNice: -5, seccompMode: 'filter', seccompFilter: 3, futexRobustListLen: 24 });
    expect(th.sas).toEqual({ sp: 0x1000n, size: 65536n, flags: 0 });
    expect(th.rseq).toEqual({ abiPointer: 0x7f0000002000n, abiSize: 32, signature: 0x53053053 });
    expect(th.creds).toMatchObject({ uid: 1000, groups: [4, 27], capPermitted: 0x1ff_ffffffffn, capEffective: 0x20n, capAmbient: 0n });
    expect(th.signalsPending![0]).toMatchObject({ signo: 12, origin: 'tkill', pid: 77 });
    expect(readThreadSignals(dir, 10)).toEqual(th.signalsPending);
    expect(readCreds(dir, 10)).toMatchObject({ euid: 1000 });
    expect(readRlimits(dir, 10)).toHaveLength(2);
    expect(readTimers(dir, 10)!.posix).toHaveLength(1);
    expect(readSharedSignals(dir, 10)).toHaveLength(1);
  });

  it('names task states from the numbers CRIU writes', () => {
    expect([1, 2, 3, 6, 0x80, 0x81, 4, 5, 42].map(taskStateName)).toEqual(['alive', 'dead', 'stopped', 'zombie', 'helper', 'thread', 'helper', 'thread', 'unknown']);
  });

  it('gives no registers for a zombie and leaves optional parts undefined', () => {
    const z = openImageDir({ 'core-5.img': core({ mtype: 1, tc: taskCore({ task_state: 6, exit_code: 9 }) }) });
    const c = readCore(z, 5);
    expect(c.registers).toBeUndefined();
    expect(c.thread).toBeUndefined();
    expect(c.task).toMatchObject({ taskState: 'zombie', exitCode: 9 });
    expect(c.task!.timers).toBeUndefined();
    expect(c.task!.sigactions).toBeUndefined();
    expect(c.name).toBe('leader');
    expect(readSigactions(z, 5)).toBeUndefined();
    expect(readRlimits(z, 5)).toBeUndefined();
    expect(readTimers(z, 5)).toBeUndefined();
    expect(readSharedSignals(z, 5)).toBeUndefined();
    expect(readCreds(z, 5)).toBeUndefined();
  });
});

describe('core-TID.img: older layouts', () => {
  const dir = openImageDir({
    // Leader of an old dump: no per-thread comm, creds, signal queues, sigactions, rlimits or timers in the core.
    'core-20.img': core({ mtype: 1, thread_info: x86ThreadInfo(undefined), tc: taskCore({ comm: 'oldproc' }), thread_core: threadCore() }),
    'core-21.img': core({ mtype: 1, thread_info: x86ThreadInfo(undefined), thread_core: threadCore() }),
    'creds-20.img': image(Magic.creds, [{ type: 'CredsEntry', fields: { ...creds, cap_amb: [] } }]),
    'sigacts-20.img': image(Magic.sigact, [
      { type: 'SaEntry', fields: { sigaction: 0, flags: 0, restorer: 0, mask: 0 } },
      { type: 'SaEntry', fields: { sigaction: u(0x4000n), flags: 4, restorer: 0, mask: 0 } },
    ]),
    'rlimit-20.img': image(Magic.rlimit, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ type: 'RlimitEntry', fields: { cur: i, max: 100 + i } }))),
    'itimers-20.img': image(Magic.itimers, [1, 2, 3].map((n) => ({ type: 'ItimerEntry', fields: { isec: n, iusec: 0, vsec: 0, vusec: 0 } }))),
    'posix-timers-20.img': image(Magic.posixTimers, [{ type: 'PosixTimerEntry', fields: { it_id: 7, clock_id: 0, si_signo: 14, it_sigev_notify: 0, sival_ptr: 0, overrun: 0, isec: 0, insec: 0, vsec: 0, vnsec: 0 } }]),
    'signal-s-20.img': image(Magic.signal, [{ type: 'SiginfoEntry', fields: { siginfo: siginfo(17, 1, (b) => { b.writeInt32LE(99, 16); b.writeInt32LE(3, 24); }) } }]),
    'signal-p-21.img': image(Magic.signal, [{ type: 'SiginfoEntry', fields: { siginfo: siginfo(11, 1, (b) => b.writeBigUInt64LE(0xdead0000n, 16)) } }]),
    // Early-2014 layout: rlimits directly in the core entry.
    'core-30.img': core({ mtype: 1, tc: taskCore(), old_rlimits: { rlimits: [{ cur: 5, max: 6 }] } }),
  });

  it('names threads from the task comm when the thread has none', () => {
    expect(readCore(dir, 20).name).toBe('oldproc');
    expect(readCore(dir, 20).thread!.comm).toBeUndefined();
    expect(readCore(dir, 21).name).toBeUndefined();
  });

  it('reads the separate credential, sigaction, rlimit, timer and signal images', () => {
    expect(readCreds(dir, 20, 21)).toMatchObject({ uid: 1000, fsgid: 1000 });
    expect(readCreds(dir, 20, 21)!.capAmbient).toBeUndefined();
    const actions = readSigactions(dir, 20)!;
    expect(actions.map((a) => [a.signo, a.disposition])).toEqual([[1, 'default'], [2, 'handler']]);
    expect(readRlimits(dir, 20)!.map((r) => r.name)).toEqual(['cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'nproc', 'nofile']);
    const timers = readTimers(dir, 20)!;
    expect([timers.real.intervalSec, timers.virt.intervalSec, timers.prof.intervalSec]).toEqual([1n, 2n, 3n]);
    expect(timers.posix[0]).toMatchObject({ id: 7, signo: 14 });
    expect(readSharedSignals(dir, 20)![0]).toMatchObject({ signo: 17, origin: 'child', pid: 99, status: 3 });
    expect(readThreadSignals(dir, 21)![0]).toMatchObject({ signo: 11, origin: 'fault', addr: 0xdead0000n });
    expect(readThreadSignals(dir, 20)).toBeUndefined();
    expect(readCore(dir, 30).task!.rlimits).toEqual([{ resource: 0, name: 'cpu', cur: 5n, max: 6n }]);
  });

  it('refuses an itimers image without exactly three timers', () => {
    const bad = openImageDir({
      'core-20.img': core({ mtype: 1, tc: taskCore() }),
      'itimers-20.img': image(Magic.itimers, [{ type: 'ItimerEntry', fields: { isec: 1, iusec: 0, vsec: 0, vusec: 0 } }]),
    });
    const error = catchImageError(() => readTimers(bad, 20));
    expect(error.code).toBe('bad-value');
    expect(error.image).toBe('itimers-20.img');
  });
});

describe('wire compatibility with CRIU field numbers', () => {
  it('decodes a hand-encoded core entry', () => {
    // CoreEntry { mtype(1)=1, tc(3)={task_state(1)=1, exit_code(2)=0, personality(3)=0, flags(4)=0,
    //   blk_sigset(5)=0, comm(6)="p", loginuid(13)=7}, thread_core(5)={futex_rla(1)=16, futex_rla_len(2)=24,
    //   pdeath_sig(8)=15, comm(13)="t"} }
    const tc = Buffer.from([0x08, 1, 0x10, 0, 0x18, 0, 0x20, 0, 0x28, 0, 0x32, 1, 0x70, 0x68, 7]);
    const th = Buffer.from([0x08, 16, 0x10, 24, 0x40, 15, 0x6a, 1, 0x74]);
    const payload = Buffer.concat([Buffer.from([0x08, 1, 0x1a, tc.length]), tc, Buffer.from([0x2a, th.length]), th]);
    const c = readCore(openImageDir({ 'core-3.img': rawImage(Magic.core, payload) }), 3);
    expect(c.task).toMatchObject({ comm: 'p', loginuid: 7, taskState: 'alive' });
    expect(c.thread).toMatchObject({ futexRobustList: 16n, futexRobustListLen: 24, pdeathsig: 15, comm: 't' });
  });
});

describe('core-TID.img damage', () => {
  it('reports a missing, truncated or mislabelled core with its name', () => {
    const good = core({ mtype: 1, tc: taskCore() });
    const dir = openImageDir({
      'core-1.img': good.subarray(0, good.length - 3),
      'core-2.img': image(Magic.mm, [{ type: 'CoreEntry', fields: { mtype: 1 } }]),
      'core-4.img': rawImage(Magic.core, Buffer.from([0x2a, 0x04, 0x08, 0x01, 0x10, 0x02])),
    });
    expect(catchImageError(() => readCore(dir, 1))).toMatchObject({ code: 'truncated', image: 'core-1.img' });
    expect(catchImageError(() => readCore(dir, 2))).toMatchObject({ code: 'bad-magic', image: 'core-2.img' });
    expect(catchImageError(() => readCore(dir, 3))).toMatchObject({ code: 'missing', image: 'core-3.img' });
    // Only a thread_core: the required machine type is missing.
    expect(catchImageError(() => readCore(dir, 4))).toMatchObject({ code: 'bad-entry', image: 'core-4.img' });
  });

  it('refuses bad siginfo blobs and out-of-range timer fractions', () => {
    const dir = openImageDir({
      'core-1.img': core({ mtype: 1, tc: taskCore({ signals_s: { signals: [{ siginfo: Buffer.alloc(40) }] } }) }),
      'core-2.img': core({ mtype: 1, tc: taskCore({ timers: { real: { isec: 0, iusec: 1000000, vsec: 0, vusec: 0 }, virt: { isec: 0, iusec: 0, vsec: 0, vusec: 0 }, prof: { isec: 0, iusec: 0, vsec: 0, vusec: 0 } } }) }),
      'signal-p-3.img': image(Magic.signal, [{ type: 'SiginfoEntry', fields: { siginfo: siginfo(0, 0) } }]),
      'core-3.img': core({ mtype: 1, thread_core: threadCore() }),
    });
    expect(catchImageError(() => readCore(dir, 1))).toMatchObject({ code: 'bad-value', image: 'core-1.img' });
    expect(catchImageError(() => readCore(dir, 2))).toMatchObject({ code: 'bad-value', image: 'core-2.img' });
    expect(catchImageError(() => readThreadSignals(dir, 3))).toMatchObject({ code: 'bad-value', image: 'signal-p-3.img' });
  });
});

describe('siginfo decoding', () => {
  it('decodes the fields si_code defines', () => {
    const timer = decodeSiginfo(siginfo(34, -2, (b) => { b.writeInt32LE(5, 16); b.writeInt32LE(2, 20); b.writeBigUInt64LE(0xabcn, 24); }), 'x', 0);
    expect(timer).toMatchObject({ origin: 'timer', timerId: 5, overrun: 2, value: 0xabcn });
    expect(timer.pid).toBeUndefined();
    expect(decodeSiginfo(siginfo(10, -1, (b) => b.writeBigUInt64LE(7n, 24)), 'x', 0)).toMatchObject({ origin: 'queue', value: 7n });
    expect(decodeSiginfo(siginfo(11, 0x80), 'x', 0)).toMatchObject({ origin: 'kernel' });
    expect(decodeSiginfo(siginfo(31, 1, (b) => { b.writeInt32LE(59, 24); b.writeUInt32LE(0xc000003e, 28); }), 'x', 0)).toMatchObject({ origin: 'seccomp', syscall: 59, arch: 0xc000003e });
    expect(signalName(11)).toBe('SIGSEGV');
    expect(signalName(40)).toBe('SIG40');
  });
});

describe('mm-PID.img', () => {
  const vmas = [
    vma(0x400000n, 0x401000n, VMA_STATUS.REGULAR | VMA_STATUS.FILE_PRIVATE, { prot: 5, flags: 0x2, shmid: 3 }),
    vma(0x602000n, 0x623000n, VMA_STATUS.REGULAR | VMA_STATUS.HEAP | VMA_STATUS.ANON_PRIVATE),
    vma(0x7f0000000000n, 0x7f0000001000n, VMA_STATUS.REGULAR | VMA_STATUS.ANON_SHARED, { flags: 0x21, shmid: 99, madv: u(1n << 16n), fdflags: 2 }),
    vma(0x7f0000002000n, 0x7f0000004000n, VMA_STATUS.REGULAR | VMA_STATUS.VVAR, { prot: 1 }),
    vma(0x7f0000004000n, 0x7f0000006000n, VMA_STATUS.REGULAR | VMA_STATUS.VDSO | VMA_STATUS.ANON_PRIVATE, { prot: 5 }),
    vma(0x7ffc00000000n, 0x7ffc00021000n, VMA_STATUS.REGULAR | VMA_STATUS.ANON_PRIVATE, { flags: 0x122 }),
    vma(0xffffffffff600000n, 0xffffffffff601000n, VMA_STATUS.VSYSCALL, { prot: 4 }),
  ];

  it('decodes the bounds, auxv and mappings', () => {
    const dir = openImageDir({ 'mm-10.img': image(Magic.mm, [{ type: 'MmEntry', fields: mmFields(vmas, { dumpable: 1, thp_disabled: false }) }]) });
    const mm = readMm(dir, 10);
    expect(mm).toMatchObject({ startCode: 0x400000n, brk: 0x623000n, argStart: 0x7ffc1000n, envEnd: 0x7ffc1100n, exeFileId: 3, dumpable: 1, thpDisabled: false });
    expect(mm.auxv).toHaveLength(6);
    expect(mm.auxvEntries).toEqual([{ type: 6n, value: 4096n }, { type: 25n, value: 0x7ffc2000n }]);
    expect(mm.vmas.map((v) => v.kind)).toEqual(['file-private', 'heap', 'anon-shared', 'vvar', 'vdso', 'stack', 'vsyscall']);
    expect(mm.vmas.map((v) => v.perms)).toEqual(['r-xp', 'rw-p', 'rw-s', 'r--p', 'r-xp', 'rw-p', '--xp']);
    expect(mm.vmas[0]).toMatchObject({ start: 0x400000n, end: 0x401000n, shmid: 3n, fd: -1n, isPrivate: true, isFileBacked: true });
    expect(mm.vmas[2]).toMatchObject({ madv: 1n << 16n, fdflags: 2, isPrivate: false });
    expect(mm.vmas[1]!.madv).toBeUndefined();
  });

  it('classifies status bits', () => {
    expect(vmaKind(VMA_STATUS.REGULAR | VMA_STATUS.ANON_PRIVATE)).toBe('anon-private');
    expect(vmaKind(VMA_STATUS.REGULAR | VMA_STATUS.ANON_PRIVATE, 0x100)).toBe('stack');
    expect(vmaKind(VMA_STATUS.REGULAR | VMA_STATUS.STACK | VMA_STATUS.ANON_PRIVATE)).toBe('stack');
    expect(vmaKind(VMA_STATUS.REGULAR | VMA_STATUS.MEMFD | VMA_STATUS.FILE_SHARED)).toBe('memfd');
    expect(vmaKind(VMA_STATUS.SYSVIPC | VMA_STATUS.ANON_SHARED)).toBe('sysvipc');
    expect(vmaKind(VMA_STATUS.AIORING)).toBe('aio');
    expect(vmaKind(VMA_STATUS.UNSUPPORTED)).toBe('unsupported');
    expect(vmaKind(0)).toBe('unknown');
  });

  it('falls back to vmas-PID.img for the oldest dumps', () => {
    const dir = openImageDir({
      'mm-10.img': image(Magic.mm, [{ type: 'MmEntry', fields: mmFields([]) }]),
      'vmas-10.img': image(Magic.vmas, vmas.slice(0, 2).map((fields): EntrySpec => ({ type: 'VmaEntry', fields }))),
    });
    const mm = readMm(dir, 10);
    expect(mm.vmas.map((v) => v.start)).toEqual([0x400000n, 0x602000n]);
    expect(mm.dumpable).toBeUndefined();
  });

  it('refuses unaligned, empty, overlapping mappings and a broken auxv', () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['unaligned', mmFields([vma(0x400010n, 0x401000n, 0x201)])],
      ['empty', mmFields([vma(0x401000n, 0x401000n, 0x201)])],
      ['overlap', mmFields([vma(0x400000n, 0x402000n, 0x201), vma(0x401000n, 0x403000n, 0x201)])],
      ['auxv', mmFields([], { mm_saved_auxv: ['1', '2', '3'] })],
    ];
    for (const [what, fields] of cases) {
      const dir = openImageDir({ 'mm-4.img': image(Magic.mm, [{ type: 'MmEntry', fields }]) });
      const error = catchImageError(() => readMm(dir, 4));
      expect(error.code, what).toBe('bad-value');
      expect(error.image, what).toBe('mm-4.img');
    }
    const badVmas = openImageDir({
      'mm-5.img': image(Magic.mm, [{ type: 'MmEntry', fields: mmFields([]) }]),
      'vmas-5.img': image(Magic.vmas, [{ type: 'VmaEntry', fields: vma(0x2000n, 0x1000n, 0x201) }]),
    });
    expect(catchImageError(() => readMm(badVmas, 5))).toMatchObject({ code: 'bad-value', image: 'vmas-5.img' });
    expect(catchImageError(() => readMm(badVmas, 6))).toMatchObject({ code: 'missing', image: 'mm-6.img' });
  });
});

describe('fs-PID.img', () => {
  it('reads cwd, root and the optional umask', () => {
    const dir = openImageDir({
      'fs-10.img': image(Magic.fs, [{ type: 'FsEntry', fields: { cwd_id: 4, root_id: 5, umask: 0o22 } }]),
      'fs-11.img': image(Magic.fs, [{ type: 'FsEntry', fields: { cwd_id: 6, root_id: 7 } }]),
    });
    expect(readFs(dir, 10)).toEqual({ cwdId: 4, rootId: 5, umask: 0o22 });
    expect(readFs(dir, 11)).toEqual({ cwdId: 6, rootId: 7 });
  });
});
