/**
 * The `CRIUGDB` note: what an ELF core cannot otherwise say about a checkpointed process.
 *
 * Owner `CRIUGDB`, type {@link NT_CRIUGDB_INFO} (0x43524744, "CRGD"). The descriptor is UTF-8 JSON
 * ({@link CriuGdbInfo}). The type is deliberately outside every number Linux and BFD give core notes: BFD
 * (gdb, objdump) dispatches core notes on the type alone whatever the owner, so a small type such as 1
 * would be parsed as an NT_PRSTATUS. With this type gdb and lldb ignore the note, readelf lists it as an
 * unknown note type, and {@link readCriuGdbInfo} (core-reader.ts) reads it back.
 *
 * It carries the thread names (an ELF core has no place for them), the process tree links, the ranges the
 * checkpoint does not hold (left out of every PT_LOAD) with the reason, and per thread the registers whose
 * live value is unknown (the core still has to hold some value for them: it holds the one CRIU saved).
 */
import type { Note } from './elf.js';

export const CRIUGDB_NOTE_OWNER = 'CRIUGDB';
export const NT_CRIUGDB_INFO = 0x43524744;
export const CRIUGDB_INFO_FORMAT = 1;

/** One thread in the note. */
export interface CriuGdbThreadInfo {
  tid: number;
  /** Thread name (comm). */
  name: string;
  /** Registers whose live value is unknown (their core value is the one CRIU saved), e.g. `rax`. */
  unknownRegisters?: string[];
  /** The checkpoint has no core image of this thread: the core has no NT_PRSTATUS (no registers) for it. */
  missingCore?: boolean;
  /** A syscall-restart adjustment criu-gdb undid for this thread, as `liveRegisters` reported it. */
  syscallRestart?: { nr: number; name?: string; adjustment: string; code?: number };
}

/** An address range missing from the core's PT_LOAD segments. Addresses are `0x` hex strings. */
export interface CriuGdbUnavailableRange {
  start: string;
  end: string;
  reason: string;
}

/** The note's JSON. */
export interface CriuGdbInfo {
  format: typeof CRIUGDB_INFO_FORMAT;
  /** `criu-gdb VERSION`. */
  producer: string;
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  comm: string;
  state: string;
  /** Leader first, the order of the NT_PRSTATUS notes. */
  threads: CriuGdbThreadInfo[];
  unavailable: CriuGdbUnavailableRange[];
}

/** The note for `info`. */
export function encodeCriuGdbNote(info: CriuGdbInfo): Note {
  return { name: CRIUGDB_NOTE_OWNER, type: NT_CRIUGDB_INFO, desc: Buffer.from(JSON.stringify(info), 'utf8') };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses the note's descriptor; throws an Error naming what is wrong. */
export function decodeCriuGdbInfo(desc: Buffer): CriuGdbInfo {
  const parsed: unknown = JSON.parse(desc.toString('utf8'));
  if (!isRecord(parsed)) throw new Error('CRIUGDB note: not a JSON object');
  if (parsed['format'] !== CRIUGDB_INFO_FORMAT) throw new Error(`CRIUGDB note: unknown format ${String(parsed['format'])}`);
  for (const key of ['pid', 'ppid', 'pgid', 'sid'] as const) {
    if (typeof parsed[key] !== 'number') throw new Error(`CRIUGDB note: '${key}' is not a number`);
  }
  const threads = parsed['threads'];
  if (!Array.isArray(threads) || !threads.every((t) => isRecord(t) && typeof t['tid'] === 'number' && typeof t['name'] === 'string')) {
    throw new Error("CRIUGDB note: 'threads' is not a list of {tid, name}");
  }
  const unavailable = parsed['unavailable'];
  if (!Array.isArray(unavailable) || !unavailable.every((r) => isRecord(r) && typeof r['start'] === 'string' && typeof r['end'] === 'string' && typeof r['reason'] === 'string')) {
    throw new Error("CRIUGDB note: 'unavailable' is not a list of {start, end, reason}");
  }
  return parsed as unknown as CriuGdbInfo;
}

/** The CRIUGDB info among `notes`, or undefined when there is none. */
export function findCriuGdbInfo(notes: readonly Note[]): CriuGdbInfo | undefined {
  const note = notes.find((n) => n.name === CRIUGDB_NOTE_OWNER && n.type === NT_CRIUGDB_INFO);
  return note ? decodeCriuGdbInfo(note.desc) : undefined;
}
