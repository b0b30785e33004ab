/**
 * Small pieces shared by the file readers: the owner record, device numbers, file-mode names.
 */
import type { BudgetName } from '../budget.js';
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { num, sub, type Decoded } from './fields.js';
import { EntryReader, type Entry } from './framing.js';

/** F_SETOWN / F_SETSIG state of an open file. */
export interface FileOwner {
  uid: number;
  euid: number;
  /** Signal sent on I/O readiness; 0 means SIGIO. */
  signum: number;
  /** F_OWNER_TID (0), F_OWNER_PID (1) or F_OWNER_PGRP (2). */
  pidType: number;
  /** 0 when no owner was set. */
  pid: number;
}

/** Decodes the `fown` sub-message (all zeros when absent). */
export function readOwner(message: Decoded, field = 'fown'): FileOwner {
  const owner = sub(message, field);
  if (!owner) return { uid: 0, euid: 0, signum: 0, pidType: 0, pid: 0 };
  return {
    uid: num(owner, 'uid'),
    euid: num(owner, 'euid'),
    signum: num(owner, 'signum'),
    pidType: num(owner, 'pid_type'),
    pid: num(owner, 'pid'),
  };
}

/** Major number of a 32-bit device number as stat(2) reports it (glibc / kernel "new" encoding). */
export function devMajor(dev: number): number {
  return (dev >>> 8) & 0xfff;
}

/** Minor number of a 32-bit device number as stat(2) reports it. */
export function devMinor(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & 0xfff00);
}

/** Where an entry was found: the image name (as errors show it) and the offset of its length prefix. */
export interface EntrySource {
  image: string;
  offset: number;
}

/** Throws `bad-value` for `image` at `offset`. */
export function badValue(source: EntrySource, problem: string): never {
  throw new ImageError('bad-value', source.image, source.offset, problem);
}

/** Lower-case hex of a byte buffer. */
export function hex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

/** Packs 32-bit words as little-endian bytes (how CRIU stores byte strings in `repeated uint32`). */
export function wordsToBytes(words: readonly number[]): Buffer {
  const out = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => out.writeUInt32LE(w >>> 0, i * 4));
  return out;
}

/** File type letter of an st_mode: 'reg', 'dir', 'lnk', 'chr', 'blk', 'fifo', 'sock' or 'unknown'. */
export function fileTypeOfMode(mode: number): 'reg' | 'dir' | 'lnk' | 'chr' | 'blk' | 'fifo' | 'sock' | 'unknown' {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'reg';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'lnk';
    case 0o020000:
      return 'chr';
    case 0o060000:
      return 'blk';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'sock';
    default:
      return 'unknown';
  }
}

/** The entries of one image and its label for errors. */
export interface ImageEntries {
  label: string;
  entries: Entry[];
}

/**
 * Reads every entry of `name`; an absent image gives no entries unless `required`. Their count is bounded
 * by budget `cap` (FILES: entries of an image of open files).
 */
export function readEntries(dir: ImageDirectory, name: string, magic: number, typeName: string, required = false, cap: BudgetName = 'FILES', what = 'entries'): ImageEntries {
  const file = required ? dir.openRequired(name) : dir.tryOpen(name);
  if (!file) return { label: dir.labelPrefix + name, entries: [] };
  return { label: file.label, entries: new EntryReader(file, magic).all(typeName, cap, what) };
}

/** Fields every open file description has. */
export interface FileBase {
  /** File id: the key fdinfo entries use. */
  id: number;
  /** What /proc/PID/fd/N would show, e.g. `/etc/passwd`, `pipe:[1234]`, `anon_inode:[eventfd]`. */
  name: string;
  /** Where the entry was read. */
  source: EntrySource;
}
