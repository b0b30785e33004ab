/**
 * Credentials: user and group ids, capabilities, securebits, LSM labels. Newer dumps keep them per thread
 * in the core image; older dumps have one record for the whole process in creds-PID.img.
 */
import type { ImageDirectory } from './directory.js';
import { type Decoded, bytes, has, num, nums, optNum, optStr } from './fields.js';
import { EntryReader } from './framing.js';
import { Magic } from './magic.js';

/** Credentials of a thread (or, in older dumps, of a whole process). */
export interface Credentials {
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  suid: number;
  sgid: number;
  fsuid: number;
  fsgid: number;
  /** Supplementary groups. */
  groups: number[];
  /** Capability sets; bit n is capability n. */
  capInheritable: bigint;
  capPermitted: bigint;
  capEffective: bigint;
  capBounding: bigint;
  /** Ambient set; absent in dumps that predate it. */
  capAmbient?: bigint;
  /** SECBIT_* flags. */
  secbits: number;
  lsmProfile?: string;
  lsmSockcreate?: string;
  apparmorData?: Buffer;
  noNewPrivs?: boolean;
}

/** Joins 32-bit capability words (lowest first) into one mask. */
function capabilityMask(words: number[]): bigint {
  return words.reduce((mask, word, i) => mask | (BigInt(word >>> 0) << BigInt(32 * i)), 0n);
}

/** Converts a `CredsEntry`. */
export function decodeCreds(message: Decoded): Credentials {
  const creds: Credentials = {
    uid: num(message, 'uid'),
    gid: num(message, 'gid'),
    euid: num(message, 'euid'),
    egid: num(message, 'egid'),
    suid: num(message, 'suid'),
    sgid: num(message, 'sgid'),
    fsuid: num(message, 'fsuid'),
    fsgid: num(message, 'fsgid'),
    groups: nums(message, 'groups'),
    capInheritable: capabilityMask(nums(message, 'cap_inh')),
    capPermitted: capabilityMask(nums(message, 'cap_prm')),
    capEffective: capabilityMask(nums(message, 'cap_eff')),
    capBounding: capabilityMask(nums(message, 'cap_bnd')),
    secbits: num(message, 'secbits'),
  };
  if (has(message, 'cap_amb')) creds.capAmbient = capabilityMask(nums(message, 'cap_amb'));
  const profile = optStr(message, 'lsm_profile');
  if (profile !== undefined) creds.lsmProfile = profile;
  const sockcreate = optStr(message, 'lsm_sockcreate');
  if (sockcreate !== undefined) creds.lsmSockcreate = sockcreate;
  if (has(message, 'apparmor_data')) creds.apparmorData = Buffer.from(bytes(message, 'apparmor_data'));
  const nnp = optNum(message, 'no_new_privs');
  if (nnp !== undefined) creds.noNewPrivs = nnp !== 0;
  return creds;
}

/** creds-PID.img, where dumps older than per-thread credentials kept them; undefined when absent. */
export function readCredsImage(dir: ImageDirectory, pid: number): Credentials | undefined {
  const file = dir.tryOpen(`creds-${pid}.img`);
  if (!file) return undefined;
  const entry = new EntryReader(file, Magic.creds).next('CredsEntry');
  return entry ? decodeCreds(entry.message) : undefined;
}
