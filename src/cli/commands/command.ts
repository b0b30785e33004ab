import { UsageError } from '../../errors.js';
import { Checkpoint } from '../../model/checkpoint.js';
import { stringOption, type OptionSpec, type ParsedArgs } from '../../views/args.js';
import { helpText, viewOperands, type View } from '../../views/view.js';

/** One CLI command. */
export interface Command {
  name: string;
  /** Usage line without the program name, e.g. `ps DIR [--json]`. */
  usage: string;
  /** One-line summary for the command list. */
  summary: string;
  options: readonly OptionSpec[];
  /** Full help text. */
  help(): string;
  /**
   * Runs the command and returns what to print; non-fatal problems go to `warn`, each once. Throws
   * CriuGdbError for bad input, UsageError for bad usage.
   */
  run(args: ParsedArgs, warn?: (warning: string) => void): string;
}

/** The --root option of every command that opens a checkpoint. */
export const rootOption: OptionSpec = { name: 'root', value: true, help: 'where the checkpointed files live (default /)' };

/** `options` with --root after --json (where the help lists it). */
export function withRoot(options: readonly OptionSpec[]): OptionSpec[] {
  const json = options.findIndex((o) => o.name === 'json');
  return [...options.slice(0, json + 1), rootOption, ...options.slice(json + 1)];
}

/** Opens the checkpoint named by `path` with --root; throws a usage error when there is none. */
export function openCheckpoint(path: string | undefined, args: ParsedArgs): Checkpoint {
  if (!path) throw new UsageError('missing checkpoint directory');
  return Checkpoint.open(path, { root: stringOption(args, 'root') });
}

/** The CLI command of a view: `criu-gdb NAME DIR [OPERANDS] [OPTIONS]`: open, render, report warnings, close. */
export function viewCommand(view: View): Command {
  const options = withRoot(view.options);
  return {
    name: view.name,
    usage: view.usage,
    summary: view.summary,
    options,
    help: () => helpText(`criu-gdb ${view.helpUsage}`, view.description, options),
    run(args, warn) {
      const [path, ...rest] = args.positionals;
      const checkpoint = openCheckpoint(path, args);
      try {
        const text = view.render(checkpoint, { operands: viewOperands(view, rest), args });
        for (const warning of new Set(checkpoint.warnings)) warn?.(warning);
        return text;
      } finally {
        checkpoint.close();
      }
    },
  };
}
