import { UsageError } from '../../errors.js';
import { exportCoresSync, formatReports } from '../../export/coredump.js';
import { intOption, stringOption, type OptionSpec, type ParsedArgs } from '../../views/args.js';
import { hexAddress, toJson } from '../../views/format.js';
import { helpText, jsonOption } from '../../views/view.js';
import { wrapParagraphs } from '../../views/wrap.js';
import { openCheckpoint, rootOption, type Command } from './command.js';

const options: readonly OptionSpec[] = [
  jsonOption,
  rootOption,
  { name: 'pid', value: true, help: 'only this process (default: every process)' },
  { name: 'output', value: true, help: 'where to write the core files, also -o DIR (default: .)' },
];

/** Splits `-o DIR` (which the option parser leaves among the positionals) from the positionals. */
function outputAndPositionals(args: ParsedArgs): { output: string | undefined; positionals: string[] } {
  const positionals: string[] = [];
  let output = stringOption(args, 'output');
  for (let i = 0; i < args.positionals.length; i++) {
    const arg = args.positionals[i]!;
    if (arg === '-o' || arg.startsWith('-o')) {
      const value = arg === '-o' ? args.positionals[++i] : arg.slice(2);
      if (value === undefined || value === '') throw new UsageError('-o needs a directory');
      if (output !== undefined) throw new UsageError('the output directory is given twice');
      output = value;
    } else {
      positionals.push(arg);
    }
  }
  return { output, positionals };
}

/** `criu-gdb coredump`: ELF core files of the checkpointed processes. */
export const coredumpCommand: Command = {
  name: 'coredump',
  usage: 'coredump DIR [-o OUTDIR] [--pid N] [--json]',
  summary: 'write an ELF core file (core.PID) of every process, for gdb, lldb and other tools',
  options,
  help: () =>
    helpText(
      'criu-gdb coredump DIR [-o OUTDIR] [--pid N] [--root PATH] [--json]',
      wrapParagraphs([
        'Writes core.PID into OUTDIR for every process of the checkpoint (or for --pid N): registers of every',
        'thread as the live process had them (x87, SSE, AVX, AVX-512, PKRU included; FP/SIMD and TLS on',
        'AArch64), the process and signal state, the auxiliary vector, the mapped files, and all the memory',
        'the checkpoint holds, exactly as criu-gdb reads it. Zero pages stay sparse in the file.',
        '',
        'Memory the checkpoint does not hold ([vvar], lazy pages, a file missing under --root...) is left out',
        'of the core and listed: gdb then reports it like unmapped memory, never as zeros. Thread names and',
        "the holes are also kept in a note of owner CRIUGDB, which other tools ignore. Open a core with",
        "'gdb EXECUTABLE core.PID' or 'lldb EXECUTABLE --core core.PID'.",
      ].join('\n')),
      options,
    ),
  run(args) {
    const { output, positionals } = outputAndPositionals(args);
    const [dir, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0] ?? ''}`);
    const pid = intOption(args, 'pid');
    const checkpoint = openCheckpoint(dir, args);
    try {
      const reports = exportCoresSync(checkpoint, { outDir: output ?? '.', pids: pid === undefined ? undefined : [pid] });
      if (args.options.has('json')) {
        return toJson({
          cores: reports.map((r) => ({
            pid: r.pid,
            comm: r.comm,
            path: r.path,
            threads: r.threads,
            segments: r.segments,
            notes: r.notes,
            memoryBytes: r.memoryBytes,
            unavailableBytes: r.unavailableBytes,
            apparentBytes: r.apparentBytes,
            allocatedBytes: r.allocatedBytes,
            unavailable: r.unavailable.map((u) => ({ start: hexAddress(u.start), end: hexAddress(u.end), mapping: u.mapping, reason: u.reason })),
          })),
          warnings: checkpoint.warnings,
        });
      }
      const warnings = checkpoint.warnings.map((w) => `warning: ${w}`);
      return [formatReports(reports), ...warnings].join('\n');
    } finally {
      checkpoint.close();
    }
  },
};
