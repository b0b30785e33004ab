/**
 * The resource budget of one open checkpoint: caps on what an image may make criu-gdb allocate, and on
 * what an archive may make it write to disk. Counts and sizes that images claim are checked against these
 * caps before anything is allocated for them; going over a cap is a {@link BudgetError}, one line.
 *
 * Every cap has a default far above what real checkpoints need and can be raised (or lowered) with an
 * environment variable, read when the cap is used: `CRIU_GDB_MAX_<NAME>` (see {@link BUDGET_DEFAULTS}).
 */
import { CriuGdbError } from './errors.js';

/** The caps, with their defaults. */
export const BUDGET_DEFAULTS = {
  /** Words of one process's saved auxiliary vector (the kernel saves fewer than 64). */
  AUXV_WORDS: 4096,
  /** Mappings of one process (the kernel's default vm.max_map_count is 65,530). */
  MAPPINGS: 262_144,
  /** Processes in pstree.img. */
  PROCESSES: 65_536,
  /** Threads of all processes in pstree.img. */
  THREADS: 262_144,
  /**
   * Entries of one image of open files: file descriptions in files.img (sockets included) or in one image
   * per kind, and the entries of their side images (pipe data, socket queues, remaps...).
   */
  FILES: 262_144,
  /** Descriptors of one fdinfo image (one per process, or per set of processes sharing a table). */
  FDS: 262_144,
  /**
   * Pagemap runs of one pagemap beyond one per page of the pages files of the checkpoint and its parents
   * (runs without data here: in the parent, lazy).
   */
  PAGE_RUNS: 65_536,
  /**
   * Bytes written to the temporary directory when a compressed archive is decompressed, whatever the
   * archive's size; a larger archive may write {@link BUDGET_DEFAULTS.EXTRACT_RATIO} times its own size.
   */
  EXTRACT_BYTES: 1024 * 1024 * 1024,
  /** Bytes written to the temporary directory per byte of the compressed archive, beyond EXTRACT_BYTES. */
  EXTRACT_RATIO: 256,
  /** Members written to the temporary directory when a compressed archive is decompressed. */
  EXTRACT_MEMBERS: 16_384,
  /** Members of a tar archive (and of its rootfs-diff.tar) that are indexed. */
  ARCHIVE_MEMBERS: 200_000,
} as const;

export type BudgetName = keyof typeof BUDGET_DEFAULTS;

/** A cap was exceeded. `message` is one line: what, how much, the cap and how to raise it. */
export class BudgetError extends CriuGdbError {
  override readonly name = 'BudgetError';
}

/** The environment variable that sets cap `name`. */
export function budgetVariable(name: BudgetName): string {
  return `CRIU_GDB_MAX_${name}`;
}

/** The value of cap `name`: its environment variable when that is a non-negative integer, else the default. */
export function budget(name: BudgetName): number {
  const text = process.env[budgetVariable(name)];
  if (text !== undefined && /^\d+$/.test(text.trim())) {
    const value = Number(text.trim());
    if (Number.isSafeInteger(value)) return value;
  }
  return BUDGET_DEFAULTS[name];
}

/**
 * Throws a BudgetError when `amount` exceeds cap `name`. `what` names the thing counted, with its image,
 * e.g. `mm-42.img: mappings`.
 */
export function checkBudget(name: BudgetName, amount: number, what: string): void {
  const cap = budget(name);
  if (amount > cap) throw new BudgetError(overBudget(name, amount, what));
}

/** The one line of a BudgetError; `limit` when the cap in effect is derived from cap `name`. */
export function overBudget(name: BudgetName, amount: number | string, what: string, limit: number = budget(name)): string {
  return `${what}: ${amount} exceeds the limit of ${limit} (raise it with ${budgetVariable(name)}=N)`;
}

/**
 * Whether `error` is a problem that a reader may turn into a warning and go on: a CriuGdbError, but never
 * a BudgetError, which must stop the whole command.
 */
export function isTolerable(error: unknown): error is CriuGdbError {
  return error instanceof CriuGdbError && !(error instanceof BudgetError);
}
