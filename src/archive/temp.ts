/**
 * Private temporary directories for members extracted from compressed archives: mode 0700, removed when
 * their archive is closed, and in any case when the process exits or is stopped by SIGINT, SIGTERM or SIGHUP.
 * If the process dies without running its handlers (SIGKILL, or a signal during blocking work), the reaper
 * (src/reaper.ts) removes them.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgetOnDeath, removeOnDeath } from '../reaper.js';

const live = new Set<string>();
let hooked = false;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function removeAll(): void {
  for (const dir of live) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Nothing more can be done while exiting.
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  // When nobody else handles the signal, die of it as the default action would.
  if (process.listenerCount(signal) <= 1) {
    for (const name of SIGNALS) process.removeListener(name, onSignal);
    process.kill(process.pid, signal);
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

/** Makes a private directory (0700) under the system temporary directory. */
export function makeTempDir(): string {
  hook();
  const dir = mkdtempSync(join(tmpdir(), 'criu-gdb-archive-'));
  chmodSync(dir, 0o700);
  live.add(dir);
  removeOnDeath(dir);
  return dir;
}

/** Removes a directory made by {@link makeTempDir}. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
  forgetOnDeath(dir);
}

/** The temporary directories that exist now (for tests). */
export function liveTempDirs(): string[] {
  return [...live];
}
