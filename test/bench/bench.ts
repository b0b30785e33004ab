/**
 * Reader and CLI benchmarks, printed as one table, on a 1 MiB and a 2 GiB checkpoint (test/bench/subjects.ts):
 *   - `criu-gdb ps` and `info` wall time (median of several runs): should not grow with the checkpoint size;
 *   - CLI start-up, built (node dist/) and through tsx;
 *   - sequential read throughput through the reader API (256 MiB in 1 MiB reads);
 *   - peak RSS of a process that opens the checkpoint and reads 256 MiB.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CLI, PROJECT, directoryBytes, printTable, requireTools, standardSubjects, timeCommand, type Subject } from './subjects.js';

/** Runs the read benchmark in a child process so that its RSS is its own. */
function readBenchmark(subject: Subject, bytes: number): { mbPerSecond: number; peakRssMb: number } {
  const script = `
    import { Checkpoint } from ${JSON.stringify(join(PROJECT, 'dist', 'src', 'model', 'checkpoint.js'))};
    const checkpoint = Checkpoint.open(${JSON.stringify(subject.dir)});
    const memory = checkpoint.rootProcess.memory();
    const chunk = 1 << 20;
    const total = ${bytes};
    const start = performance.now();
    let read = 0;
    for (let at = ${subject.region}n; read < total; at += BigInt(chunk)) { const r = memory.read(at, chunk); if (r.unavailable.length) throw new Error('unavailable'); read += chunk; }
    const seconds = (performance.now() - start) / 1000;
    console.log(JSON.stringify({ mbPerSecond: total / 1e6 / seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
  `;
  return JSON.parse(execFileSync('node', ['--input-type=module', '-e', script]).toString()) as { mbPerSecond: number; peakRssMb: number };
}

function main(): void {
  requireTools();
  const subjects = standardSubjects();
  const startupBuilt = timeCommand('node', [CLI, '--help'], 9);
  const startupTsx = timeCommand(join(PROJECT, 'node_modules', '.bin', 'tsx'), [join(PROJECT, 'src', 'cli', 'main.ts'), '--help'], 5);
  const rows = subjects.map((subject) => {
    const readBytes = Math.min(256 * 2 ** 20, subject.mib * 2 ** 20);
    const reads = readBenchmark(subject, readBytes);
    return [
      subject.label,
      `${(directoryBytes(subject.dir) / 2 ** 20).toFixed(1)} MiB`,
      timeCommand('node', [CLI, 'ps', subject.dir], 7).toFixed(0),
      timeCommand('node', [CLI, 'info', subject.dir], 7).toFixed(0),
      `${(readBytes / 2 ** 20).toFixed(0)} MiB`,
      reads.mbPerSecond.toFixed(0),
      reads.peakRssMb.toFixed(0),
    ];
  });
  console.log('Reader and CLI');
  printTable(['checkpoint', 'images', 'ps ms', 'info ms', 'read', 'read MB/s', 'peak RSS MB'], rows);
  console.log(`CLI start-up (--help): built ${startupBuilt.toFixed(0)} ms, through tsx ${startupTsx.toFixed(0)} ms`);
  const [small, large] = rows;
  if (small && large) console.log(`ps on ${large[1]} vs ${small[1]}: ${(Number(large[2]) / Number(small[2])).toFixed(2)}x`);
}

main();
