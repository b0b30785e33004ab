import { UsageError } from '../errors.js';
import type { Checkpoint } from '../model/checkpoint.js';
import { compileByteRegex, DEFAULT_REGEX_MAX_MATCH, DEFAULT_SEARCH_LIMIT, searchMemorySteps, type SearchMatch } from '../model/search.js';
import { runSteps, type Steps } from '../steps.js';
import { intOption } from './args.js';
import { hexAddress, printable } from './format.js';
import { defineView, jsonOption, processOptions, type ViewRequest } from './view.js';

const options = [
  jsonOption,
  ...processOptions,
  { name: 'hex', value: false, help: 'PATTERN is hex bytes, e.g. "de ad be ef" or 0xdeadbeef' },
  { name: 'regex', value: false, help: 'PATTERN is a JavaScript regular expression over the bytes (\\xNN is byte NN)' },
  { name: 'ignore-case', value: false, help: 'with --regex: match letters in either case' },
  { name: 'max-match', value: true, help: `with --regex: the longest match reported, in bytes (default ${DEFAULT_REGEX_MAX_MATCH})` },
  { name: 'context', value: true, help: 'bytes shown before and after each match (default 16)' },
  { name: 'limit', value: true, help: `stop after this many matches (default ${DEFAULT_SEARCH_LIMIT})` },
];

/** What to search for and where. */
export interface SearchRequest {
  /** Bytes, or a regular expression made by {@link compileByteRegex}. */
  pattern: Buffer | RegExp;
  /** For a regular expression: the longest match. */
  maxMatch?: number | undefined;
  pid?: number | undefined;
  limit?: number | undefined;
  context?: number | undefined;
}

/** The result of a search over one or more processes. */
export interface SearchResult {
  matches: SearchMatch[];
  /** Whether the search stopped at the limit (more matches may exist). */
  truncated: boolean;
}

/** A match as `search --json` (and the gdb helper) report it: addresses in 0x hex, context in hex and as text. */
export interface SearchMatchRecord {
  pid: number;
  address: string;
  /** Bytes matched (regular-expression searches only). */
  length?: number;
  mapping: string;
  contextAddress: string;
  contextHex: string;
  context: string;
}

/**
 * Parses hex bytes: pairs of hex digits, optionally separated by spaces, commas or colons, with an optional
 * 0x prefix or \x before bytes (`de ad be ef`, `0xdeadbeef`, `\xde\xad`).
 */
export function parseHexPattern(text: string): Buffer {
  const digits = text
    .trim()
    .replace(/^0x/i, '')
    .replace(/\\x/gi, '')
    .replace(/[\s,:]+/g, '');
  if (digits === '' || !/^[0-9a-f]+$/i.test(digits) || digits.length % 2 !== 0) {
    throw new UsageError(`not hex bytes: ${JSON.stringify(text)} (write pairs of hex digits, e.g. "de ad be ef")`);
  }
  return Buffer.from(digits, 'hex');
}

/** Searches every selected process (`request.pid`, else all) in pstree order, stopping at the limit overall. */
export function searchCheckpoint(checkpoint: Checkpoint, request: SearchRequest): SearchResult {
  return runSteps(searchCheckpointSteps(checkpoint, request));
}

/** {@link searchCheckpoint} as steps, for callers that must stay responsive or be able to stop it. */
export function* searchCheckpointSteps(checkpoint: Checkpoint, request: SearchRequest): Steps<void, SearchResult> {
  const limit = request.limit ?? DEFAULT_SEARCH_LIMIT;
  const processes = request.pid === undefined ? [...checkpoint.processes] : [checkpoint.process(request.pid)];
  const matches: SearchMatch[] = [];
  for (const process of processes) {
    for (const cut of process.memory().truncatedPageFiles()) {
      checkpoint.warn(`search: ${cut.pages} is truncated: ${cut.missingPages} pages were not searched`);
    }
    const left = limit - matches.length;
    // One more than wanted tells whether the limit cut the search short.
    const found = yield* searchMemorySteps(process, request.pattern, { limit: left + 1, context: request.context, maxMatch: request.maxMatch });
    for (const match of found) matches.push(match);
    if (matches.length > limit) return { matches: matches.slice(0, limit), truncated: true };
  }
  return { matches, truncated: false };
}

/** The JSON form of a regular-expression match: with the length of the match. */
export function regexMatchRecord(match: SearchMatch): SearchMatchRecord {
  const { pid, address, ...rest } = matchRecord(match);
  return { pid, address, length: match.length, ...rest };
}

/** The JSON form of a match. */
export function matchRecord(match: SearchMatch): SearchMatchRecord {
  return {
    pid: match.pid,
    address: hexAddress(match.address),
    mapping: match.mappingName,
    contextAddress: hexAddress(match.contextStart),
    contextHex: match.context.toString('hex'),
    context: printable(match.context),
  };
}

/** Longest match shown whole in the text context column; longer ones show their start and their length. */
export const SHOWN_MATCH_BYTES = 64;

/** The context column: the context, with a match longer than {@link SHOWN_MATCH_BYTES} cut to its start and `…(N bytes)`. */
function shownContext(match: SearchMatch): string {
  if (match.length <= SHOWN_MATCH_BYTES) return printable(match.context);
  const at = Number(match.address - match.contextStart);
  const end = at + match.length;
  return `${printable(match.context.subarray(0, at + SHOWN_MATCH_BYTES))}…(${match.length} bytes)${printable(match.context.subarray(end))}`;
}

/** One line per match: `PID 0xADDRESS  MAPPING  |context|`, then a note when the limit was reached. */
export function formatMatches(result: SearchResult, limit: number): string {
  if (result.matches.length === 0) return 'no matches';
  const lines = result.matches.map((m) => `${m.pid} ${hexAddress(m.address)}  ${m.mappingName || '[anon]'}  |${shownContext(m)}|`);
  if (result.truncated) lines.push(`(stopped after ${limit} matches; raise --limit for more)`);
  return lines.join('\n');
}

/** The pid a search is limited to: --pid N, else (without --all) the request's default; undefined for all. */
function searchPid(request: ViewRequest): number | undefined {
  const pid = intOption(request.args, 'pid');
  const all = request.args.options.has('all');
  if (pid !== undefined && all) throw new UsageError('--all and --pid cannot be used together');
  return pid ?? (all ? undefined : request.defaultPid);
}

/** `search`: find bytes in process memory. */
export const searchView = defineView({
  name: 'search',
  usage: 'search DIR|ARCHIVE PATTERN [--pid N] [--hex|--regex] [--json]',
  helpUsage: 'search DIR|ARCHIVE PATTERN [--pid N | --all] [--hex | --regex [--ignore-case] [--max-match N]] [--context N] [--limit N] [--json] [--root PATH]',
  summary: 'find a string or hex bytes in process memory',
  description: [
    'Finds PATTERN (a string, hex bytes with --hex, or a regular expression with --regex) in the memory',
    'of every process, or of --pid N: private memory, memory in the parent checkpoints, shared memory',
    'and the pages of mapped files. Only bytes the checkpoint holds are searched. A regular expression',
    'matches bytes as Latin-1 text: \\xNN is byte NN. Prints one line per match:',
    '  PID ADDRESS  MAPPING  |context|',
    "ADDRESS is 0x hex, usable in gdb as 'x/s ADDRESS'. A match longer than 64 bytes shows its first 64",
    'bytes and its length, "…(N bytes)"; --json has it whole.',
  ].join('\n'),
  options,
  operands: { max: 1, rest: true },
  inGdb: true,
  perProcess: true,
  *collectSteps(checkpoint, request) {
    const { args } = request;
    const [patternText] = request.operands;
    if (patternText === undefined) throw new UsageError('search needs a PATTERN');
    if (args.options.has('hex') && args.options.has('regex')) throw new UsageError('--hex and --regex cannot be used together');
    const pattern = args.options.has('regex')
      ? compileByteRegex(patternText, args.options.has('ignore-case') ? 'i' : '')
      : args.options.has('hex')
        ? parseHexPattern(patternText)
        : Buffer.from(patternText, 'utf8');
    if (Buffer.isBuffer(pattern) && pattern.length === 0) throw new UsageError('the search pattern is empty');
    const limit = intOption(args, 'limit') ?? DEFAULT_SEARCH_LIMIT;
    if (limit < 1) throw new UsageError('--limit must be at least 1');
    const search: SearchRequest = { pattern, pid: searchPid(request), limit, context: intOption(args, 'context'), maxMatch: intOption(args, 'max-match') };
    return { result: yield* searchCheckpointSteps(checkpoint, search), limit, regex: pattern instanceof RegExp };
  },
  json: ({ result, regex }) => ({ matches: result.matches.map((m) => (regex ? regexMatchRecord(m) : matchRecord(m))), truncated: result.truncated }),
  text: ({ result, limit }) => formatMatches(result, limit),
});
