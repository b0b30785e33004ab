/**
 * A view: a pure function of an open checkpoint that renders records as text or JSON, together with its
 * name, help and options. The CLI (`criu-gdb NAME DIR ...`) and the gdb helper (`criu NAME ...`) are thin
 * callers of the same views: argv → open (or the helper's open checkpoint) → view → print.
 */
import { UsageError } from '../errors.js';
import type { Checkpoint } from '../model/checkpoint.js';
import type { ProcessModel } from '../model/process.js';
import { runSteps, type Steps } from '../steps.js';
import { intOption, type OptionSpec, type ParsedArgs } from './args.js';
import { escapeControls, toJson } from './format.js';
import { HELP_WIDTH, wrapParagraphs, wrapUsage, wrapWords } from './wrap.js';

/** What a view is asked for: its operands and options, and who asks. */
export interface ViewRequest {
  /** The arguments after the checkpoint. */
  operands: readonly string[];
  /** The parsed options. */
  args: ParsedArgs;
  /** For per-process views: the process shown when neither --pid nor --all is given (gdb's current inferior). */
  defaultPid?: number | undefined;
}

/** What every view says about itself: name, help and options. */
export interface ViewInfo {
  name: string;
  /** The command-list line without the program name, e.g. `ps DIR [--json]`. */
  usage: string;
  /** The full usage line without the program name, e.g. `ps DIR [--json] [--root PATH]`. */
  helpUsage: string;
  /** One line for the command list. */
  summary: string;
  /** What the view shows, a few lines. */
  description: string;
  /** Its options, --json included, --root excluded (that belongs to opening the checkpoint). */
  options: readonly OptionSpec[];
  /**
   * How many operands follow the checkpoint at most. With `rest`, inside gdb (where a pattern is typed
   * unquoted) the extra words are joined to the last operand with spaces.
   */
  operands: { max: number; rest?: boolean };
  /** Offered inside gdb as `criu NAME`. */
  inGdb: boolean;
  /** Shows one or every process (--pid N, --all); inside gdb the current inferior's process is the default. */
  perProcess: boolean;
  /** Its operands name files (another checkpoint): inside gdb they are made absolute against gdb's directory. */
  pathOperands?: boolean;
}

/**
 * How a view is made: one collector of records, and their renderers. Usage and input problems are thrown
 * by the collector (UsageError, CriuGdbError). A view whose work grows with the data (search) gives its
 * collector as steps, so that the gdb helper can run it in slices and stop it.
 */
export interface ViewSpec<Records> extends ViewInfo {
  /** Gathers the records from the open checkpoint (a view gives this or `collectSteps`). */
  collect?(checkpoint: Checkpoint, request: ViewRequest): Records;
  /** Gathers the records from the open checkpoint, yielding between bounded steps. */
  collectSteps?(checkpoint: Checkpoint, request: ViewRequest): Steps<void, Records>;
  /** The records as text. */
  text(records: Records): string;
  /** The value printed as JSON (default: the records themselves). */
  json?(records: Records): unknown;
}

/** One view of a checkpoint, ready to render. */
export interface View extends ViewInfo {
  /** Collects the records of `checkpoint` and renders them as text, or as JSON with --json. */
  render(checkpoint: Checkpoint, request: ViewRequest): string;
  /** {@link View.render} as steps (one step for a view whose collector is not made of steps). */
  renderSteps(checkpoint: Checkpoint, request: ViewRequest): Steps<void, string>;
}

/** A view from its collector and renderers. */
export function defineView<Records>(spec: ViewSpec<Records>): View {
  const { collect, collectSteps, text, json, ...info } = spec;
  function* renderSteps(checkpoint: Checkpoint, request: ViewRequest): Steps<void, string> {
    let records: Records;
    if (collectSteps) records = yield* collectSteps(checkpoint, request);
    else if (collect) records = collect(checkpoint, request);
    else throw new Error(`view ${info.name} has no collector`);
    // Text is for a terminal: no control character from the images reaches it (JSON keeps them exact).
    if (!request.args.options.has('json')) return escapeControls(text(records), '\n');
    return toJson(json ? json(records) : records);
  }
  return {
    ...info,
    render: (checkpoint, request) => runSteps(renderSteps(checkpoint, request)),
    renderSteps,
  };
}

/** The --json option. */
export const jsonOption: OptionSpec = { name: 'json', value: false, help: 'print JSON instead of text' };

/** The --pid and --all options of per-process views. */
export const processOptions: readonly OptionSpec[] = [
  { name: 'pid', value: true, help: 'only this process (default: every process)' },
  { name: 'all', value: false, help: 'every process (the default outside gdb; in gdb the default is the current inferior)' },
];

/** The processes a per-process view shows: --pid N, --all, else the request's default, else every process. */
export function selectedProcesses(checkpoint: Checkpoint, request: ViewRequest): ProcessModel[] {
  const pid = intOption(request.args, 'pid');
  const all = request.args.options.has('all');
  if (pid !== undefined && all) throw new UsageError('--all and --pid cannot be used together');
  const chosen = pid ?? (all ? undefined : request.defaultPid);
  return chosen === undefined ? [...checkpoint.processes] : [checkpoint.process(chosen)];
}

/** Checks the operand count and returns the operands; `inGdb`, the extra words of a `rest` operand are joined by spaces. */
export function viewOperands(view: ViewInfo, operands: readonly string[], inGdb = false): string[] {
  if (operands.length <= view.operands.max) return [...operands];
  if (inGdb && view.operands.rest && view.operands.max > 0) return [...operands.slice(0, view.operands.max - 1), operands.slice(view.operands.max - 1).join(' ')];
  throw new UsageError(`unexpected argument: ${operands[view.operands.max] ?? ''}`);
}

/** The help text of a view or command: usage line, description and options. */
export function helpText(usageLine: string, description: string, options: readonly OptionSpec[]): string {
  const width = Math.max(0, ...options.map((o) => o.name.length + (o.value ? 6 : 0)));
  const hanging = ' '.repeat(width + 6);
  return [
    ...wrapUsage(usageLine, 'Usage: ', '       '),
    '',
    wrapParagraphs(description),
    '',
    'Options:',
    ...options.flatMap((o) => wrapWords(o.help, HELP_WIDTH, `  --${(o.name + (o.value ? ' VALUE' : '')).padEnd(width)}  `, hanging)),
  ].join('\n');
}

/** A view's usage line inside gdb: `criu NAME ...`, without the checkpoint and --root (the loaded one's). */
export function gdbUsage(view: View): string {
  const words = view.helpUsage.split(' ').slice(1);
  if (/^(DIR|ARCHIVE)(\|(DIR|ARCHIVE))?$/.test(words[0] ?? '')) words.shift();
  return ['criu', view.name, ...words].join(' ').replace(' [--root PATH]', '');
}

/** A view's help inside gdb: summary line first (gdb lists it under `help criu`), usage, description, options. */
export function gdbHelp(view: View): string {
  const summary = `${view.summary.charAt(0).toUpperCase()}${view.summary.slice(1)}.`;
  const scope = view.perProcess ? '\n\nDefault: the process of the current inferior (every process when it is not a checkpoint inferior).' : '';
  return `${summary}\n\n${helpText(gdbUsage(view), view.description + scope, view.options)}`;
}
