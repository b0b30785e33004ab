/**
 * Drives every layer a user can reach over one (possibly damaged) checkpoint: opening, the CLI views, the
 * memory reader, the gdb server's view of each process (target description, registers, threads, auxv) and
 * the synthetic /proc files. Classifies the result: fine, a typed one-line error, or a defect.
 */
import { performance } from 'node:perf_hooks';
import { CriuGdbError, ImageError } from '../../src/errors.js';
import { fdsCommand, infoCommand, mapsCommand, psCommand } from '../../src/cli/commands/index.js';
import { Checkpoint } from '../../src/model/checkpoint.js';
import { procFileContent, procLinkTarget } from '../../src/rsp/proc-files.js';
import { ProcessTarget } from '../../src/rsp/target.js';

/** Bytes read from the start of each mapping (enough to touch every source, bounded for huge fuzzed VMAs). */
const READ_PER_MAPPING = 64 * 1024;

export type Outcome =
  | { type: 'ok'; ms: number }
  | { type: 'typed-error'; ms: number; message: string; image?: string; offset?: number }
  | { type: 'defect'; ms: number; message: string; stack?: string };

function step(action: () => unknown, errors: string[]): void {
  try {
    action();
  } catch (error) {
    if (error instanceof CriuGdbError) errors.push(error.message);
    else throw error;
  }
}

/** Runs the whole pipeline over the checkpoint in `dir` with files under `root`. */
export function exercise(dir: string, root: string): Outcome {
  const start = performance.now();
  const elapsed = (): number => performance.now() - start;
  const firstErrors: string[] = [];
  try {
    const options = new Map<string, string | true>([['root', root], ['json', true]]);
    for (const command of [infoCommand, psCommand, mapsCommand, fdsCommand]) {
      step(() => command.run({ positionals: [dir], options }), firstErrors);
    }
    const checkpoint = Checkpoint.open(dir, { root });
    try {
      for (const process of checkpoint.processes) {
        step(() => {
          for (const mapping of process.mappings()) {
            const length = mapping.end - mapping.start;
            process.memory().read(mapping.start, Number(length < BigInt(READ_PER_MAPPING) ? length : BigInt(READ_PER_MAPPING)));
            process.coverage(mapping);
          }
        }, firstErrors);
        step(() => {
          const target = new ProcessTarget(process);
          target.threadsXml();
          target.auxv();
          target.exePath();
          for (const tid of target.tids) {
            target.allRegisters(tid);
            for (const spec of target.description.registers) target.oneRegister(tid, spec.regnum);
          }
        }, firstErrors);
        for (const file of ['maps', 'smaps', 'cmdline', 'environ', 'status', 'stat', 'auxv', 'comm']) step(() => procFileContent(process, file), firstErrors);
        for (const link of ['exe', 'cwd', 'root']) step(() => procLinkTarget(process, link), firstErrors);
      }
    } finally {
      checkpoint.close();
    }
    const first = firstErrors[0];
    return first === undefined ? { type: 'ok', ms: elapsed() } : { type: 'typed-error', ms: elapsed(), message: first };
  } catch (error) {
    if (error instanceof ImageError) return { type: 'typed-error', ms: elapsed(), message: error.message, image: error.image, offset: error.offset };
    if (error instanceof CriuGdbError) return { type: 'typed-error', ms: elapsed(), message: error.message };
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { type: 'defect', ms: elapsed(), message, stack: error instanceof Error ? error.stack : undefined };
  }
}
