/**
 * Runs the decompression worker (inflate-worker.ts) and waits for it synchronously, so that opening a
 * compressed archive fits the synchronous model: the calling thread blocks on a shared flag (Atomics.wait)
 * while the worker streams the archive through native zlib or zstd, then takes the answer from a message
 * port without going through the event loop.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { CriuGdbError } from '../errors.js';
import { withDefaultSignals } from '../reaper.js';
import type { InflateResult, InflateTask } from './inflate-protocol.js';

const WORKER_FILE = 'inflate-worker.js';

/**
 * The compiled worker script. Next to this module when running from dist/; when this module runs from
 * its TypeScript source (tests), the compiled copy in dist/ is used, so `npm run build` must have run.
 */
function workerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, WORKER_FILE);
  if (existsSync(sibling)) return sibling;
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'dist', 'src', 'archive', WORKER_FILE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new CriuGdbError(`cannot find the decompression worker (${WORKER_FILE}): run npm run build`);
}

/**
 * Runs `task` in a worker thread and returns its result, blocking until it is done. JavaScript signal
 * handlers cannot run while the thread waits, so SIGINT, SIGTERM and SIGHUP take their default action
 * meanwhile: the process stops at once, and the reaper removes the task's directory.
 */
export function inflateSync(task: InflateTask): InflateResult {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(workerScript(), {
    workerData: { task, signal: flag.buffer, port: port2 },
    transferList: [port2],
    // Not the parent's flags: `node -e SCRIPT` would make the worker run SCRIPT instead of its own file.
    execArgv: [],
    stdout: false,
    stderr: false,
  });
  try {
    // SIGINT, SIGTERM and SIGHUP stop the process at once meanwhile; the reaper removes the directory.
    withDefaultSignals(() => Atomics.wait(flag, 0, 0));
    const message = receiveMessageOnPort(port1);
    if (!message) throw new CriuGdbError(`${task.archive}: the decompression worker gave no answer`);
    return message.message as InflateResult;
  } finally {
    port1.close();
    worker.unref();
    void worker.terminate();
  }
}
