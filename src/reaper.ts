/**
 * The reaper: a small process, started once, that outlives criu-gdb by a moment to remove what criu-gdb
 * leaves behind when it dies without cleaning up: killed by SIGKILL, or stopped by a signal's default
 * action while it was busy in synchronous work (JavaScript signal handlers cannot run then).
 *
 * The reaper holds the read end of a pipe whose write end only criu-gdb holds: when criu-gdb dies, the
 * pipe closes, and the reaper removes every path listed in its private registry file, then exits. The
 * registry is replaced atomically and synchronously, so it is current even when criu-gdb dies in the
 * middle of blocking work. With {@link watchParent}, the reaper also kills criu-gdb when a given process
 * (gdb) is gone.
 *
 * The reaper is a POSIX shell (/bin/sh), not a second node: it costs a fork and under 4 MB in at most three
 * small processes, and no measurable CPU, instead of a node boot (~130 ms of CPU and ~40 MB) that
 * competed with criu-gdb's own start-up for the other core. Its registry, a shell script it runs, lives
 * in a 0700 directory of ours and quotes every path, so no path can run as a command.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The reaper's program, for /bin/sh: $1 = registry file, $2 = its directory, $3 = our pid, $4 = the pid
 * to watch (0 for none). The registry is a one-line shell script, `exec rm -rf -- 'path'...` (see
 * {@link registryScript}), run in a subshell so that a damaged registry cannot stop the rest.
 * The watcher waits with one long-lived `tail --pid` (GNU coreutils, checks every 0.2 s); where tail
 * lacks --pid it polls once a second. At the end the reaper kills its own process group (it leads it:
 * it is started detached), which ends the watcher.
 */
const PROGRAM = `
trap '' INT TERM HUP
registry=$1 dir=$2 ours=$3 watched=$4
if [ "$watched" -gt 0 ]; then
  {
    tail --pid="$watched" -s 0.2 -f /dev/null 2>/dev/null
    while kill -0 "$watched" 2>/dev/null; do sleep 1; done
    kill -s KILL "$ours" 2>/dev/null
  } </dev/null &
fi
while read -r _; do :; done
if [ -f "$registry" ]; then (. "$registry") 2>/dev/null; fi
if [ -d "$dir" ]; then rm -rf -- "$dir"; fi
kill -s KILL -- -$$ 2>/dev/null
`;

/** A path as one sh word: single-quoted, so that every character (newlines too) is literal. */
function shellWord(path: string): string {
  return `'${path.replaceAll("'", "'\\''")}'`;
}

/** The registry: one command removing `paths` (made absolute) and then the registry's own directory. */
function registryScript(paths: Iterable<string>, registryDirectory: string): string {
  const words = [...paths, registryDirectory].map((path) => shellWord(resolve(path)));
  return `exec rm -rf -- ${words.join(' ')}\n`;
}

let registryDir: string | undefined;
const paths = new Set<string>();
let watchedPid = 0;

/** Replaces the registry at once (write a new file, rename it over the old one). */
function writeRegistry(): void {
  if (!registryDir) return;
  const next = join(registryDir, 'paths.next');
  writeFileSync(next, registryScript(paths, registryDir), { mode: 0o600 });
  renameSync(next, join(registryDir, 'paths'));
}

function start(): void {
  if (registryDir) return;
  const dir = resolve(mkdtempSync(join(tmpdir(), 'criu-gdb-reaper-')));
  chmodSync(dir, 0o700);
  registryDir = dir;
  // Its own process group, so that a Ctrl-C meant for criu-gdb does not stop the reaper before it reaps.
  const child = spawn('/bin/sh', ['-c', PROGRAM, 'criu-gdb-reaper', join(dir, 'paths'), dir, String(process.pid), String(watchedPid)], {
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
  if (registryDir) return;
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
