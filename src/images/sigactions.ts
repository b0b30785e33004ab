/**
 * Signal dispositions (rt_sigaction). Entries cover signals 1..64 in order without SIGKILL (9) and
 * SIGSTOP (19), which cannot be caught. Newer dumps keep them in the task part of the leader's core
 * image; older ones in sigacts-PID.img.
 */
import { ImageError } from '../errors.js';
import type { ImageDirectory } from './directory.js';
import { type Decoded, optBool, optU64, u64 } from './fields.js';
import { readOptionalImage } from './framing.js';
import { Magic } from './magic.js';
import { SIGNAL_MAX } from './signals.js';

/** What happens when the signal arrives. */
export type SigDisposition = 'default' | 'ignore' | 'handler';

/** The disposition of one signal. */
export interface SigAction {
  signo: number;
  disposition: SigDisposition;
  /** sa_handler / sa_sigaction; 0 is SIG_DFL, 1 is SIG_IGN. */
  handler: bigint;
  /** SA_* flags. */
  flags: bigint;
  restorer: bigint;
  /** Signals blocked while the handler runs (bit n-1 is signal n). */
  mask: bigint;
  /** Signals 65..128, on architectures that have them. */
  maskExtended?: bigint;
  /** Installed through the 32-bit system call. */
  compat?: boolean;
}

/** Signal numbers that the n-th entry describes. */
export const SIGACTION_SIGNALS: readonly number[] = Array.from({ length: SIGNAL_MAX }, (_, i) => i + 1).filter(
  (signo) => signo !== 9 && signo !== 19,
);

/**
 * Converts `SaEntry` messages given in order. More entries than signals is a `bad-value`; fewer are
 * accepted (the remaining signals are simply not described).
 */
export function decodeSigactions(entries: Array<{ message: Decoded; offset: number }>, image: string): SigAction[] {
  if (entries.length > SIGACTION_SIGNALS.length) {
    throw new ImageError('bad-value', image, entries[0]?.offset ?? 0, `${entries.length} signal actions, at most ${SIGACTION_SIGNALS.length} are possible`);
  }
  return entries.map(({ message }, i) => {
    const handler = u64(message, 'sigaction');
    const action: SigAction = {
      signo: SIGACTION_SIGNALS[i] ?? 0,
      disposition: handler === 0n ? 'default' : handler === 1n ? 'ignore' : 'handler',
      handler,
      flags: u64(message, 'flags'),
      restorer: u64(message, 'restorer'),
      mask: u64(message, 'mask'),
    };
    const extended = optU64(message, 'mask_extended');
    if (extended !== undefined) action.maskExtended = extended;
    const compat = optBool(message, 'compat_sigaction');
    if (compat !== undefined) action.compat = compat;
    return action;
  });
}

/** sigacts-PID.img, where dumps older than sigactions in the core kept them; undefined when absent. */
export function readSigactionImage(dir: ImageDirectory, pid: number): SigAction[] | undefined {
  const name = `sigacts-${pid}.img`;
  if (!dir.has(name)) return undefined;
  return decodeSigactions(readOptionalImage(dir, name, Magic.sigact, 'SaEntry'), dir.labelPrefix + name);
}
