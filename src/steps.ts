/**
 * Long work as a generator of bounded steps: each `yield` is a point where the work may pause. The CLI runs
 * the steps straight through ({@link runSteps}); the gdb helper, which answers gdb's remote protocol on the
 * same thread, runs them in slices of a few milliseconds, gives the event loop a turn between slices, and
 * stops them when the request is cancelled ({@link runStepsAsync}).
 */
import { CancelledError } from './errors.js';

/** Work that yields progress values (or nothing) between bounded steps and returns `R`. */
export type Steps<P, R> = Generator<P, R, void>;

/** Longest stretch of work between two turns of the event loop, by default. */
export const DEFAULT_SLICE_MS = 5;

/** Runs steps to their end, synchronously. */
export function runSteps<P, R>(steps: Steps<P, R>, onStep?: (progress: P) => void): R {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    onStep?.(next.value);
  }
}

/** How {@link runStepsAsync} runs its steps. */
export interface SliceOptions<P> {
  /** Called at each turn of the event loop with the latest progress. */
  onTurn?: ((progress: P) => Promise<void> | void) | undefined;
  /** Longest slice of work, in milliseconds (default {@link DEFAULT_SLICE_MS}). */
  sliceMs?: number | undefined;
  /** Stops the work at the next step: a {@link CancelledError} is thrown into it (its cleanup runs) and out. */
  signal?: AbortSignal | undefined;
}

/** Gives the event loop one turn: pending I/O (a gdb packet, a cancellation) is handled. */
export function yieldTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Runs steps to their end in slices of at most `sliceMs` of work (plus one step), giving the event loop a
 * turn after each slice, so that a server on the same thread keeps answering. When `signal` aborts, the
 * work is ended at its next step with a {@link CancelledError}.
 */
export async function runStepsAsync<P, R>(steps: Steps<P, R>, options: SliceOptions<P> = {}): Promise<R> {
  const sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
  const { signal } = options;
  let sliceStart = performance.now();
  for (;;) {
    if (signal?.aborted) {
      const reason = signal.reason instanceof CancelledError ? signal.reason : new CancelledError('cancelled');
      try {
        steps.throw(reason);
        steps.return(undefined as never);
      } catch {
        // The work's own cleanup ran; the cancellation is what the caller hears of.
      }
      throw reason;
    }
    const next = steps.next();
    if (next.done) return next.value;
    if (performance.now() - sliceStart >= sliceMs) {
      await options.onTurn?.(next.value);
      await yieldTurn();
      sliceStart = performance.now();
    }
  }
}
