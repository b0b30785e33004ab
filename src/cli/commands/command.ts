import { UsageError } from '../../errors.js';
import { Checkpoint } from '../../model/checkpoint.js';
import type { ProcessModel } from '../../model/process.js';
import { intOption, stringOption, type OptionSpec, type ParsedArgs } from '../args.js';

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
  /** Runs the command and returns what to print. Throws CriuGdbError for bad input, UsageError for bad usage. */
  run(args: ParsedArgs): string;
}

/** Options every checkpoint command takes. */
export const commonOptions: readonly OptionSpec[] = [
  { name: 'json', value: false, help: 'print JSON instead of text' },
  { name: 'root', value: true, help: 'where the checkpointed files live (default /)' },
];

/** The --pid option. */
export const pidOption: OptionSpec = { name: 'pid', value: true, help: 'only this process (default: every process)' };

/** Builds the help text of a command from its parts. */
export function helpText(usage: string, description: string, options: readonly OptionSpec[]): string {
  const width = Math.max(0, ...options.map((o) => o.name.length + (o.value ? 6 : 0)));
  return [
    `Usage: criu-gdb ${usage}`,
    '',
    description,
    '',
    'Options:',
    ...options.map((o) => `  --${(o.name + (o.value ? ' VALUE' : '')).padEnd(width)}  ${o.help}`),
  ].join('\n');
}

/** JSON.stringify that writes bigints as decimal numbers when safe and as strings otherwise. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
      return v;
    },
    2,
  );
}

const opened: Checkpoint[] = [];

/** Opens the checkpoint named by the first positional argument, with --root. */
export function openFromArgs(args: ParsedArgs, extraPositionals = 0): Checkpoint {
  const [dir, ...rest] = args.positionals;
  if (!dir) throw new UsageError('missing checkpoint directory');
  if (rest.length > extraPositionals) throw new UsageError(`unexpected argument: ${rest[extraPositionals] ?? ''}`);
  const checkpoint = Checkpoint.open(dir, { root: stringOption(args, 'root') });
  opened.push(checkpoint);
  return checkpoint;
}

/** Warnings of every checkpoint opened so far (missing optional images and the like), each once. */
export function takeWarnings(): string[] {
  const warnings = [...new Set(opened.flatMap((checkpoint) => checkpoint.warnings))];
  opened.length = 0;
  return warnings;
}

/** The processes selected by --pid (all when absent). */
export function selectedProcesses(checkpoint: Checkpoint, args: ParsedArgs): ProcessModel[] {
  const pid = intOption(args, 'pid');
  return pid === undefined ? [...checkpoint.processes] : [checkpoint.process(pid)];
}

/** `0x`-prefixed hex, for JSON addresses. */
export function hexAddress(value: bigint): string {
  return `0x${value.toString(16)}`;
}
