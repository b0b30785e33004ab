/**
 * The reaper: a small process, started once, that outlives criu-gdb by a moment to remove what criu-gdb
 * leaves behind when it dies without cleaning up: killed by SIGKILL, or stopped by a signal's default
 * action while it was busy in synchronous work (JavaScript signal handlers cannot run then).
 *
 * The reaper holds the read end of a pipe whose write end only criu-gdb holds: when criu-gdb dies, the
 * pipe closes, and the reaper removes every path listed in its private registry file, then exits. The
 * registry is written synchronously, so it is current even when criu-gdb dies in the middle of blocking
 * work. With {@link watchParent}, the reaper also kills criu-gdb when a given process (gdb) is gone.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The reaper's program: argv = registry file, its directory, our pid, the pid to watch (0 for none). */
const PROGRAM = `
const fs = require('node:fs');
const [registry, dir, ours, watched] = process.argv.slice(1);
function reap() {
  let paths = [];
  try { paths = fs.readFileSync(registry, 'utf8').split('\\n').filter((p) => p !== ''); } catch {}
  for (const path of paths) { try { fs.rmSync(path, { recursive: true, force: true }); } catch {} }
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch {}
  process.exit(0);
}
process.stdin.on('data', () => {});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
if (Number(watched) > 0) {
  setInterval(() => {
    try { process.kill(Number(watched), 0); } catch (error) {
      if (error.code === 'ESRCH') { try { process.kill(Number(ours), 'SIGKILL'); } catch {} }
    }
  }, 200);
}
`;

let registryFile: string | undefined;
const paths = new Set<string>();
let watchedPid = 0;

function writeRegistry(): void {
  if (registryFile) writeFileSync(registryFile, [...paths].map((p) => `${p}\n`).join(''), { mode: 0o600 });
}

function start(): void {
  if (registryFile) return;
  const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-reaper-'));
  chmodSync(dir, 0o700);
  registryFile = join(dir, 'paths');
  writeRegistry();
  // Its own process group, so that a Ctrl-C meant for criu-gdb does not stop the reaper before it reaps.
  const child = spawn(process.execPath, ['-e', PROGRAM, registryFile, dir, String(process.pid), String(watchedPid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  child.unref();
  // The pipe must not keep criu-gdb alive; it closes when criu-gdb exits.
  const stdin = child.stdin as unknown as { unref?: () => void } | null;
  stdin?.unref?.();
  child.on('error', () => undefined);
}

/** Has `path` removed by the reaper if this process dies before {@link forgetOnDeath}. */
export function removeOnDeath(path: string): void {
  start();
  paths.add(path);
  writeRegistry();
}

/** `path` was removed: the reaper no longer needs to. */
export function forgetOnDeath(path: string): void {
  if (!paths.delete(path)) return;
  writeRegistry();
}

/**
 * Makes the reaper kill this process (SIGKILL) when process `pid` is gone: the helper when gdb dies,
 * even while the helper is busy. Call it before anything is registered.
 */
export function watchParent(pid: number): void {
  if (registryFile) return;
  watchedPid = pid;
  start();
}

const STOPPING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs synchronous, possibly long work (decompression, a search) with the default action for SIGINT,
 * SIGTERM and SIGHUP, so that they stop the process at once instead of waiting for the work to end; the
 * reaper then removes what was registered. The signal listeners are restored afterwards.
 */
export function withDefaultSignals<T>(work: () => T): T {
  const saved = STOPPING_SIGNALS.map((signal) => [signal, process.listeners(signal)] as const);
  for (const [signal, listeners] of saved) for (const listener of listeners) process.removeListener(signal, listener);
  try {
    return work();
  } finally {
    for (const [signal, listeners] of saved) for (const listener of listeners) process.on(signal, listener);
  }
}
