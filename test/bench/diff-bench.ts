/**
 * `criu-gdb diff` on the 2 GiB checkpoint, against `cmp` of the pages files as the anchor.
 *
 *   npx tsx test/bench/diff-bench.ts
 *
 * Needs the built CLI and the 2 GiB bigmem checkpoint (made once by subjects.ts into
 * test/.work/bench/large). Copies it into a temporary directory and changes 100 pages of the copy's pages
 * file (100 changed pages the diff must find), then times, as medians of a few warm runs:
 *   - `cmp` of the two pages files (the anchor: reads both, compares every byte, stops at the first
 *     difference, so it is given two identical files: the original and a second, unchanged copy);
 *   - `cat` of both pages files (reading alone, for scale);
 *   - `criu-gdb diff --json` of the original and the changed copy (every page of both must be read);
 *   - `criu-gdb diff --json` of the checkpoint with itself (same bytes on both sides: nothing is read).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, openSync, closeSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLI, makeCheckpoint, median, printTable, requireTools, timeCommand } from './subjects.js';

const RUNS = 3;
const CHANGED_PAGES = 100;
const PAGE = 4096;

function diffJson(a: string, b: string): { ms: number; memory: { changedPages: number; readPages: number; comparedPages: number } } {
  const start = performance.now();
  const result = spawnSync('node', [CLI, 'diff', a, b, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`criu-gdb diff ${a} ${b} failed: ${result.stderr.toString()}`);
  const parsed = JSON.parse(result.stdout.toString()) as { memory: { changedPages: number; readPages: number; comparedPages: number } };
  return { ms, memory: parsed.memory };
}

function timeDiff(a: string, b: string): { ms: number; memory: { changedPages: number; readPages: number; comparedPages: number } } {
  const runs = Array.from({ length: RUNS }, () => diffJson(a, b));
  return { ms: median(runs.map((r) => r.ms)), memory: runs[0]!.memory };
}

function main(): void {
  requireTools();
  const large = makeCheckpoint('large', 2048);
  const work = mkdtempSync(join(process.env['TMPDIR'] ?? tmpdir(), 'criu-gdb-diff-bench-'));
  try {
    const changed = join(work, 'changed');
    cpSync(large.dir, changed, { recursive: true });
    const pagesFile = join(changed, 'pages-1.img');
    const pagesBytes = statSync(pagesFile).size;
    const unchangedPages = join(work, 'pages-copy.img');
    copyFileSync(pagesFile, unchangedPages);
    // One byte flipped in each of 100 pages spread over the whole pages file.
    const fd = openSync(pagesFile, 'r+');
    const step = Math.floor(pagesBytes / PAGE / CHANGED_PAGES);
    const byte = Buffer.alloc(1);
    for (let i = 0; i < CHANGED_PAGES; i++) {
      const position = i * step * PAGE + 123;
      readSync(fd, byte, 0, 1, position);
      byte[0] = byte[0]! ^ 0xff;
      writeSync(fd, byte, 0, 1, position);
    }
    closeSync(fd);

    const original = join(large.dir, 'pages-1.img');
    timeCommand('cat', [original, unchangedPages, pagesFile], 1); // warm the page cache
    const cmp = timeCommand('cmp', [original, unchangedPages], RUNS);
    const cat = timeCommand('cat', [original, pagesFile], RUNS);
    const copy = timeDiff(large.dir, changed);
    const self = timeDiff(large.dir, large.dir);
    if (copy.memory.changedPages !== CHANGED_PAGES) throw new Error(`diff found ${copy.memory.changedPages} changed pages, expected ${CHANGED_PAGES}`);
    const gib = (pagesBytes / 2 ** 30).toFixed(2);
    console.log(`diff of a ${gib} GiB checkpoint (pages file ${pagesBytes} bytes), medians of ${RUNS} warm runs`);
    printTable(
      ['case', 'ms', 'x cmp', 'pages read', 'changed'],
      [
        ['cmp pages files (anchor)', cmp.toFixed(0), '1.00', '-', '-'],
        ['cat both pages files (reading only)', cat.toFixed(0), (cat / cmp).toFixed(2), '-', '-'],
        ['diff A, copy with 100 pages changed', copy.ms.toFixed(0), (copy.ms / cmp).toFixed(2), String(copy.memory.readPages), String(copy.memory.changedPages)],
        ['diff A, A (same files)', self.ms.toFixed(0), (self.ms / cmp).toFixed(2), String(self.memory.readPages), String(self.memory.changedPages)],
      ],
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
