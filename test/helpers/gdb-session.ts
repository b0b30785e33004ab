/**
 * Runs real gdb in batch mode with the criu-gdb plugin on a checkpoint, and parses what it prints, so that
 * tests can compare it with what gdb printed for the live process.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import type { Checkpoint } from '../../src/model/checkpoint.js';
import { REPO_ROOT, type GdbTruth, type ProcessTruth, type ThreadTruth } from './checkpoints.js';
import type { GdbUnderTest } from './gdb-versions.js';

export const PLUGIN = join(REPO_ROOT, 'gdb-plugin', 'criu_gdb.py');

/** What gdb printed: the pids of `info inferiors`, and the output of the commands. */
export interface GdbRun {
  pids: number[];
  text: string;
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
}

/**
 * Runs gdb -batch: loads the checkpoint (every process becomes an inferior), then runs `commands` once.
 * `thread apply all` covers the threads of every inferior.
 */
export async function gdbOnCheckpoint(
  images: string,
  commands: readonly string[],
  options: { root?: string; gdb?: string; loadOptions?: string; env?: Record<string, string> } = {},
): Promise<GdbRun> {
  const load = `criu-load ${images}${options.root ? ` --root ${options.root}` : ''}${options.loadOptions ? ` ${options.loadOptions}` : ''}`;
  const args = ['-nx', '-batch', '-iex', 'set pagination off', '-iex', 'set width 0', '-iex', `source ${PLUGIN}`, '-ex', load, '-ex', 'info inferiors'];
  args.push('-ex', "python print('@@BEGIN')");
  for (const command of commands) args.push('-ex', command);
  args.push('-ex', "python print('@@END')");
  const result = await execa(options.gdb ?? 'gdb', args, { reject: false, timeout: 120_000, env: { HOME: REPO_ROOT, ...options.env } });
  const pids = [...result.stdout.matchAll(/^[* ] +\d+ +process (\d+) /gm)].map((m) => Number(m[1]));
  const text = /^@@BEGIN$([\s\S]*?)^@@END$/m.exec(result.stdout)?.[1] ?? '';
  return { pids, text, stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
}

/** A thread's block of `thread apply all ...` output, keyed by kernel thread id. */
export interface ThreadBlock {
  tid: number;
  name: string;
  body: string;
}

/**
 * Splits `thread apply all ...` output into per-thread blocks. Accepts the live forms
 * (`Thread 2 (Thread 0x7f.. (LWP 123) "name"):`, `Thread 1 (process 123 "name")`) and the remote ones
 * (`Thread 2 (Thread 100.123 "name"):`).
 */
export function threadBlocks(text: string): ThreadBlock[] {
  const blocks: ThreadBlock[] = [];
  const header = /^Thread \d+(?:\.\d+)? \((.*)\):$/gm;
  const headers: Array<{ index: number; end: number; inner: string }> = [];
  for (let match = header.exec(text); match; match = header.exec(text)) headers.push({ index: match.index, end: match.index + match[0].length, inner: match[1] ?? '' });
  headers.forEach((h, i) => {
    const tid = /\(LWP (\d+)\)/.exec(h.inner)?.[1] ?? /Thread \d+\.(\d+)/.exec(h.inner)?.[1] ?? /process (\d+)/.exec(h.inner)?.[1];
    const name = /"([^"]*)"\s*$/.exec(h.inner)?.[1] ?? '';
    const body = text.slice(h.end, headers[i + 1]?.index ?? text.length).trim();
    if (tid) blocks.push({ tid: Number(tid), name, body });
  });
  return blocks.sort((a, b) => a.tid - b.tid);
}

/** Function names of the frames in a backtrace body, innermost first. */
export function frameFunctions(body: string): string[] {
  const frames: string[] = [];
  for (const line of body.split('\n')) {
    const match = /^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(/.exec(line);
    if (match) frames.push(match[1]!);
  }
  return frames;
}

/** Backtrace text with trailing spaces removed, for comparing gdb outputs. */
export function normalizedBacktrace(body: string): string {
  return body
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** gdb's `info registers` lines as register name -> raw value (hex, or a decimal for some). */
export function registerValues(body: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of body.split('\n')) {
    const match = /^(\w+)\s+(0x[0-9a-f]+|-?\d+)\s/.exec(line);
    if (match) values[match[1]!] = match[2]!;
  }
  return values;
}

/** Names of the symbols of a binary that live in thread-local storage (their nm address is an offset). */
export async function threadLocalSymbols(binary: string): Promise<Set<string>> {
  const { stdout } = await execa('readelf', ['-sW', binary]);
  return new Set([...stdout.matchAll(/^\s*\d+:\s+\S+\s+\d+\s+TLS\s+\S+\s+\S+\s+\S+\s+(\S+)$/gm)].map((m) => m[1]!));
}

/**
 * The kernel rewrites each thread's rseq area (cpu_id and friends) whenever the thread returns to user space,
 * so the dump and the truth, taken moments apart, may see different CPUs there. Zeroes those bytes in
 * `buffers` (which hold memory starting at `start`) so that they are not compared.
 */
export function maskKernelOwned(checkpoint: Checkpoint, pid: number, start: bigint, buffers: Buffer[]): void {
  const process = checkpoint.process(pid);
  for (const tid of process.tids) {
    const rseq = process.core(tid).thread?.rseq;
    if (!rseq) continue;
    for (const buffer of buffers) {
      const from = rseq.abiPointer - start;
      if (from < 0n || from >= BigInt(buffer.length)) continue;
      buffer.fill(0, Number(from), Math.min(buffer.length, Number(from) + rseq.abiSize));
    }
  }
}

/** What `gdb` showed attached to the live process: the system gdb's view, or the same version's. */
export function liveView(proc: ProcessTruth, gdb: GdbUnderTest): GdbTruth {
  if (gdb.command === 'gdb') return proc.gdb;
  const view = proc.otherGdbs?.[String(gdb.major)];
  if (!view) throw new Error(`process ${proc.pid}: the truth has no live view from ${gdb.label}; remake the checkpoints (npm test)`);
  return view;
}

/** `info registers general fs_base gs_base orig_rax` of a live thread as `gdb` showed it. */
export function liveThreadRegisters(proc: ProcessTruth, thread: ThreadTruth, gdb: GdbUnderTest): Record<string, string> {
  if (gdb.command === 'gdb') return thread.registers;
  const registers = liveView(proc, gdb).threadRegisters?.[String(thread.tid)];
  if (!registers) throw new Error(`thread ${thread.tid}: no live registers from ${gdb.label}`);
  return registers;
}
