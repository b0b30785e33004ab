/**
 * Writes memory chunks into the core file, skipping zero pages (they stay holes of a sparse file).
 *
 * Two implementations of one interface:
 * - {@link DirectPageWriter} writes on the calling thread;
 * - {@link ThreadedPageWriter} copies each chunk into a shared slot that a worker thread writes, so that
 *   reading the next chunk from the images overlaps with writing this one. The caller stays synchronous:
 *   it blocks (Atomics.wait) only when all {@link MAX_IN_FLIGHT} slots are queued, and at
 *   {@link PageWriter.finish}. Its memory is those slots.
 */
import { writeSync } from 'node:fs';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** Chunks queued to the writer thread at most. */
export const MAX_IN_FLIGHT = 4;
/** How long the writer thread may take to start before the caller writes by itself. */
export const START_TIMEOUT_MS = 5000;

/** Where the chunks of memory go. */
export interface PageWriter {
  /** Queues the non-zero pages of `chunk` (whole pages) for writing at file offset `position`. Owns `chunk`. */
  write(chunk: Buffer, position: bigint): void;
  /** Waits for every queued write; returns the bytes written. Throws the first write error. */
  finish(): bigint;
  /** Stops without waiting (after a failure elsewhere). */
  abort(): void;
}

/**
 * Granularity of the zero test that leaves holes in the core file: a file-system block, not the target's
 * page (every page size is a multiple of it, and so is every chunk).
 */
export const SPARSE_BLOCK_BYTES = 4096;
const ZERO_PAGE = Buffer.alloc(SPARSE_BLOCK_BYTES);

function writeAll(fd: number, buffer: Buffer, offset: number, length: number, position: bigint): void {
  let done = 0;
  while (done < length) {
    const n = writeSync(fd, buffer, offset + done, length - done, Number(position) + done);
    if (n <= 0) throw new Error('write made no progress');
    done += n;
  }
}

/** Writes the runs of non-zero pages of `chunk` at `position`; returns the bytes written. */
export function writeNonZeroPages(fd: number, chunk: Buffer, position: bigint): number {
  let written = 0;
  let runStart = -1;
  const pages = chunk.length / SPARSE_BLOCK_BYTES;
  for (let page = 0; page <= pages; page++) {
    const at = page * SPARSE_BLOCK_BYTES;
    const zero = page === pages || chunk.compare(ZERO_PAGE, 0, SPARSE_BLOCK_BYTES, at, at + SPARSE_BLOCK_BYTES) === 0;
    if (!zero && runStart < 0) runStart = at;
    else if (zero && runStart >= 0) {
      writeAll(fd, chunk, runStart, at - runStart, position + BigInt(runStart));
      written += at - runStart;
      runStart = -1;
    }
  }
  return written;
}

/** Writes on the calling thread. */
export class DirectPageWriter implements PageWriter {
  private written = 0n;

  constructor(private readonly fd: number) {}

  write(chunk: Buffer, position: bigint): void {
    this.written += BigInt(writeNonZeroPages(this.fd, chunk, position));
  }

  finish(): bigint {
    return this.written;
  }

  abort(): void {}
}

/**
 * The writer thread: plain CommonJS so that it runs the same from the TypeScript sources (tests) and from
 * dist/. It writes the non-zero pages of a slot, then counts it done. The state words are
 * [chunks done, 0 | 1 failed | 2 aborted]; after a failure or an abort it only counts the chunks still queued.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const PAGE = ${SPARSE_BLOCK_BYTES};
const ZERO = Buffer.alloc(PAGE);
const state = new Int32Array(workerData.state);
const written = new BigInt64Array(workerData.written);
const slots = workerData.slots.map((shared) => Buffer.from(shared));
const report = workerData.report;
// Online, unless the caller gave up waiting for this thread and writes by itself.
if (Atomics.compareExchange(state, 2, 0, 1) !== 0) process.exit(0);
Atomics.notify(state, 0);
function writeAll(fd, buffer, offset, length, position) {
  let done = 0;
  while (done < length) {
    const n = writeSync(fd, buffer, offset + done, length - done, position + done);
    if (n <= 0) throw new Error('write made no progress');
    done += n;
  }
}
process.on('uncaughtException', (error) => {
  if (Atomics.compareExchange(state, 1, 0, 1) === 0) report.postMessage(error && error.message ? error.message : String(error));
  Atomics.store(state, 0, 0x7fffffff);
  Atomics.notify(state, 0);
});
parentPort.on('message', ({ fd, slot, length, position }) => {
  try {
    if (Atomics.load(state, 1) === 0) {
      const chunk = slots[slot];
      let runStart = -1;
      let total = 0;
      const pages = length / PAGE;
      for (let page = 0; page <= pages; page++) {
        const at = page * PAGE;
        const zero = page === pages || chunk.compare(ZERO, 0, PAGE, at, at + PAGE) === 0;
        if (!zero && runStart < 0) runStart = at;
        else if (zero && runStart >= 0) {
          writeAll(fd, chunk, runStart, at - runStart, position + runStart);
          total += at - runStart;
          runStart = -1;
        }
      }
      Atomics.add(written, 0, BigInt(total));
    }
  } catch (error) {
    if (Atomics.compareExchange(state, 1, 0, 1) === 0) report.postMessage(error && error.message ? error.message : String(error));
  }
  Atomics.add(state, 0, 1);
  Atomics.notify(state, 0);
});
`;

/**
 * Writes on a worker thread while the caller reads the next chunk. Chunks are copied into a ring of
 * {@link MAX_IN_FLIGHT} shared slots of the chunk size, which is all the memory it holds.
 */
export class ThreadedPageWriter implements PageWriter {
  private readonly worker: Worker;
  /** [chunks done, 0 | 1 failed | 2 aborted, 0 starting | 1 online | 2 abandoned]. */
  private readonly state = new Int32Array(new SharedArrayBuffer(12));
  /** Set when the thread did not start: the queued and later chunks are written here. */
  private fallback: DirectPageWriter | undefined;
  private readonly written = new BigInt64Array(new SharedArrayBuffer(8));
  private readonly slots: Buffer[];
  private readonly errors: MessagePort;
  private queued = 0;
  private stopped = false;

  private readonly startTimeoutMs: number;

  constructor(
    private readonly fd: number,
    /** Largest chunk that will be written. */
    chunkBytes: number,
    /** For tests: the thread's node flags (default none) and how long it may take to start. */
    options: { execArgv?: string[]; startTimeoutMs?: number } = {},
  ) {
    this.startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
    const shared = Array.from({ length: MAX_IN_FLIGHT }, () => new SharedArrayBuffer(chunkBytes));
    this.slots = shared.map((buffer) => Buffer.from(buffer));
    const { port1, port2 } = new MessageChannel();
    this.errors = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: --input-type=module, for one, would make this CommonJS source an ES module.
      execArgv: options.execArgv ?? [],
      workerData: { state: this.state.buffer, written: this.written.buffer, slots: shared, report: port2 },
      transferList: [port2],
    });
    // A thread that fails to start is replaced by the caller (see drainTo); later failures come through the
    // shared state. Its error event is only observed so that it does not become an uncaught exception.
    this.worker.on('error', () => undefined);
    // Neither the thread nor its error port may keep the process alive.
    this.worker.unref();
    this.errors.unref();
  }

  private failure(): string | undefined {
    if (Atomics.load(this.state, 1) !== 1) return undefined;
    for (let i = 0; i < 1000; i++) {
      const message = receiveMessageOnPort(this.errors);
      if (message) return String(message.message);
      Atomics.wait(this.state, 0, Atomics.load(this.state, 0), 1);
    }
    return 'the writer thread failed';
  }

  /**
   * Blocks until at most `limit` chunks are in flight. A thread that has not come online after the start
   * timeout ({@link START_TIMEOUT_MS}: it could not start, and its error event cannot be seen while this
   * thread blocks) is
   * abandoned: the chunks queued for it are written here, and so are all later ones.
   */
  private drainTo(limit: number): void {
    const started = Date.now();
    for (;;) {
      if (this.fallback) return;
      const done = Atomics.load(this.state, 0);
      if (this.queued - done <= limit) return;
      if (Atomics.load(this.state, 2) === 0 && Date.now() - started > this.startTimeoutMs && Atomics.compareExchange(this.state, 2, 0, 2) === 0) {
        this.fallback = new DirectPageWriter(this.fd);
        for (const { slot, length, position } of this.pending) this.fallback.write(this.slots[slot]!.subarray(0, length), position);
        this.pending = [];
        return;
      }
      Atomics.wait(this.state, 0, done, 100);
    }
  }

  /** Chunks posted before the thread came online (kept to write them here if it never does). */
  private pending: Array<{ slot: number; length: number; position: bigint }> = [];

  write(chunk: Buffer, position: bigint): void {
    if (this.fallback) {
      this.fallback.write(chunk, position);
      return;
    }
    const problem = this.failure();
    if (problem) throw new Error(problem);
    const slot = this.queued % MAX_IN_FLIGHT;
    if (chunk.length > this.slots[slot]!.length) throw new Error(`chunk of ${chunk.length} bytes is larger than the writer's slots`);
    // The slot is free once the chunk written MAX_IN_FLIGHT chunks ago is done.
    this.drainTo(MAX_IN_FLIGHT - 1);
    const fallback = this.fallback as DirectPageWriter | undefined; // drainTo may have set it
    if (fallback) {
      fallback.write(chunk, position);
      return;
    }
    chunk.copy(this.slots[slot]!, 0);
    if (Atomics.load(this.state, 2) === 0) this.pending.push({ slot, length: chunk.length, position });
    else this.pending = [];
    this.worker.postMessage({ fd: this.fd, slot, length: chunk.length, position: Number(position) });
    this.queued++;
  }

  finish(): bigint {
    this.drainTo(0);
    const problem = this.failure();
    this.stop();
    if (problem) throw new Error(problem);
    return Atomics.load(this.written, 0) + (this.fallback?.finish() ?? 0n);
  }

  /** Makes the thread skip what is still queued, waits for the write in progress, then stops it. */
  abort(): void {
    if (this.stopped) return;
    Atomics.compareExchange(this.state, 1, 0, 2);
    // Wait, so that no write can reach the file descriptor after the caller closes it.
    this.drainTo(0);
    this.stop();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.errors.close();
    void this.worker.terminate();
  }
}
