import { UsageError } from '../errors.js';

/** How an option is written and what it takes. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `pid`. */
  name: string;
  /** Whether it takes a value (`--pid 42` or `--pid=42`). */
  value: boolean;
  /** One-line help. */
  help: string;
}

/** Parsed command line of one command. */
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

/** Parses `argv` against `specs`; unknown options and missing values are usage errors. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs.find((s) => s.name === name);
    if (!spec) throw new UsageError(`unknown option --${name}`);
    if (!spec.value) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options.set(name, true);
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    options.set(name, value);
  }
  return { positionals, options };
}

/** An integer option (decimal or 0x hex), or undefined when absent. */
export function intOption(args: ParsedArgs, name: string): number | undefined {
  const value = args.options.get(name);
  if (value === undefined) return undefined;
  if (value === true || !/^(0x[0-9a-f]+|\d+)$/i.test(value)) throw new UsageError(`--${name} needs a number`);
  return Number(value);
}

/** A string option, or undefined when absent. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

/** Parses an address or length: decimal, or hex with 0x. */
export function parseNumber(text: string, what: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new UsageError(`${what} must be a number (decimal or 0x hex): ${text}`);
  return BigInt(text);
}
