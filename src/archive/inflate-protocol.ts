/** What the decompression worker is asked to do, and what it answers (see inflate-worker.ts). */
import type { TarMember } from './tar.js';

export type Compression = 'gzip' | 'zstd';

/** Which zstd decoder to use: the system's `zstd` program when on PATH (fast), else the WebAssembly one. */
export type ZstdDecoderChoice = 'auto' | 'program' | 'wasm';

/** Which members to write out, by name. */
export interface ExtractRule {
  /** Exact member names. */
  names: string[];
  /** Name prefixes, e.g. `checkpoint/`. */
  prefixes: string[];
  /** Name prefixes never extracted by this rule, e.g. `checkpoint/pages-`. */
  excludePrefixes: string[];
}

export interface InflateTask {
  archive: string;
  compression: Compression;
  zstd: ZstdDecoderChoice;
  /** Private directory (mode 0700) that receives the members, as files named `m<ordinal>`. */
  tempDir: string;
  /**
   * Index every member (read the whole stream). When false, the stream is read only until every member
   * of `ordinals` has been written.
   */
  index: boolean;
  /** Members to write, by name. */
  rule: ExtractRule;
  /** Members to write, by their position in the archive (0-based, counting every member). */
  ordinals: number[];
  /** A member that is itself a tar (rootfs-diff.tar): its members are indexed too, when indexing. */
  nested?: string | undefined;
  /** Most bytes this task may write to `tempDir`, counting what earlier tasks of the archive wrote. */
  maxBytes: number;
  /** Most members this task may write, counting what earlier tasks of the archive wrote. */
  maxMembers: number;
}

export interface InflateResult {
  /** Every member, when the task asked for an index. */
  members?: TarMember[] | undefined;
  /** The members of the {@link InflateTask.nested} tar, when it was found. */
  nestedMembers?: TarMember[] | undefined;
  /** Why the nested tar could not be indexed. */
  nestedError?: string | undefined;
  /** Ordinals of the members written to the temporary directory. */
  extracted: number[];
  /** Decompressed bytes read. */
  bytesRead: number;
  /** The decoder that ran. */
  decoder: string;
  /** Bytes written to `tempDir`. */
  bytesWritten: number;
  /** One line when the task failed. */
  error?: string | undefined;
  /** The cap of the budget that `error` exceeded, if that is why the task failed. */
  overBudget?: 'EXTRACT_BYTES' | 'EXTRACT_MEMBERS' | undefined;
}

/** Name of the file holding member `ordinal` in the temporary directory. */
export function extractedName(ordinal: number): string {
  return `m${ordinal}`;
}

/**
 * Whether `name`, the last component of a member's path, can be a file that criu-gdb reads from an images
 * directory: a CRIU image (`*.img`) or the dump statistics. Nothing else is ever extracted from there.
 */
export function isImageName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*\.img$/.test(name) || name === 'stats-dump' || name === 'stats-restore';
}

/** Whether `rule` selects member `name`: a listed name, or an image name directly in a listed prefix. */
export function ruleSelects(rule: ExtractRule, name: string): boolean {
  if (rule.excludePrefixes.some((prefix) => name.startsWith(prefix))) return false;
  return rule.names.includes(name) || rule.prefixes.some((prefix) => name.startsWith(prefix) && !name.slice(prefix.length).includes('/') && isImageName(name.slice(prefix.length)));
}
