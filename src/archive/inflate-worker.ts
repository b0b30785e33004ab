/**
 * The decompression worker: reads a gzip or zstd tar archive once, as a stream, indexes its members and
 * writes the selected ones to a private directory. It runs in a worker thread so that the native zlib and
 * the zstd decoders, which are asynchronous, can serve the synchronous model (see inflate.ts): the caller
 * blocks on a shared flag until the answer is posted.
 */
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, createReadStream, openSync, readSync, writeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { extractedName, ruleSelects, type InflateResult, type InflateTask } from './inflate-protocol.js';
import { TarStreamParser, type TarMember } from './tar.js';

interface WorkerInput {
  task: InflateTask;
  signal: SharedArrayBuffer;
  port: MessagePort;
}

/** Bytes read from the compressed file per step. */
const INPUT_CHUNK = 1024 * 1024;
/** Consecutive empty outputs of the WebAssembly zstd decoder, without new input, taken as a decoding failure. */
const MAX_IDLE_OUTPUTS = 4096;
/** An empty zstd skippable frame: fed last, it makes the decoder flush everything it still holds. */
const EMPTY_SKIPPABLE_FRAME = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0]);

/** Stops the stream once nothing more is wanted. */
class Enough extends Error {}

/** Stops the stream when the task would write more than it may. */
class OverBudget extends Error {
  constructor(readonly cap: 'EXTRACT_BYTES' | 'EXTRACT_MEMBERS') {
    super(cap);
  }
}

function findProgram(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

class Extractor {
  readonly members: TarMember[] = [];
  nestedMembers: TarMember[] | undefined;
  nestedError: string | undefined;
  private nested: TarStreamParser | undefined;
  readonly extracted: number[] = [];
  /** Bytes written to the temporary directory. */
  written = 0;
  private ordinal = -1;
  private fd: number | undefined;
  private readonly wanted: Set<number>;
  private remaining: number;
  readonly parser: TarStreamParser;

  constructor(private readonly task: InflateTask) {
    this.wanted = new Set(task.ordinals);
    this.remaining = this.wanted.size;
    this.parser = new TarStreamParser(task.archive, {
      member: (member) => this.member(member),
      data: (chunk) => {
        if (this.nested) this.feedNested(chunk);
        if (this.fd === undefined) return;
        this.written += chunk.length;
        if (this.written > this.task.maxBytes) throw new OverBudget('EXTRACT_BYTES');
        let done = 0;
        while (done < chunk.length) done += writeSync(this.fd, chunk, done, chunk.length - done);
      },
      end: () => {
        if (this.nested) {
          if (this.nestedError === undefined) {
            try {
              this.nested.finish();
            } catch (error) {
              this.nestedError = error instanceof Error ? error.message : String(error);
            }
          }
          this.nested = undefined;
        }
        if (this.fd === undefined) return;
        closeSync(this.fd);
        this.fd = undefined;
        this.extracted.push(this.ordinal);
        if (this.wanted.delete(this.ordinal)) this.remaining--;
      },
    });
  }

  /** Whether the stream can stop: no index wanted and every requested member written. */
  get satisfied(): boolean {
    return !this.task.index && this.remaining === 0 && this.fd === undefined;
  }

  private member(member: TarMember): boolean {
    this.ordinal++;
    if (this.task.index) this.members.push(member);
    const indexNested = this.task.index && member.type === 'file' && member.name === this.task.nested;
    if (indexNested) {
      // A later member of the same name replaces the earlier one.
      this.nestedMembers = [];
      this.nestedError = undefined;
      const found = this.nestedMembers;
      this.nested = new TarStreamParser(member.name, { member: (m) => (found.push(m), false), data: () => undefined, end: () => undefined });
    }
    const want = member.type === 'file' && (this.wanted.has(this.ordinal) || (this.task.index && ruleSelects(this.task.rule, member.name)));
    if (!want) {
      if (this.wanted.delete(this.ordinal)) this.remaining--;
      return indexNested;
    }
    if (this.extracted.length + 1 > this.task.maxMembers) throw new OverBudget('EXTRACT_MEMBERS');
    const path = join(this.task.tempDir, extractedName(this.ordinal));
    this.fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    return true;
  }

  private feedNested(chunk: Buffer): void {
    if (!this.nested || this.nested.done || this.nestedError !== undefined) return;
    try {
      this.nested.push(chunk);
    } catch (error) {
      this.nestedError = error instanceof Error ? error.message : String(error);
    }
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk);
    if (this.parser.done || this.satisfied) throw new Enough();
  }

  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

async function consume(stream: Readable, extractor: Extractor): Promise<number> {
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      const buffer = chunk as Buffer;
      bytes += buffer.length;
      extractor.push(buffer);
    }
  } catch (error) {
    if (!(error instanceof Enough)) throw error;
  } finally {
    stream.destroy();
  }
  return bytes;
}

async function gunzip(task: InflateTask, extractor: Extractor): Promise<number> {
  const input = createReadStream(task.archive, { highWaterMark: INPUT_CHUNK });
  const output = input.pipe(createGunzip({ chunkSize: 256 * 1024 }));
  input.on('error', (error) => output.destroy(error));
  try {
    return await consume(output, extractor);
  } finally {
    input.destroy();
  }
}

async function zstdProgram(program: string, task: InflateTask, extractor: Extractor): Promise<number> {
  const child = spawn(program, ['-d', '-c', '-q', '--', task.archive], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const spawned = new Promise<void>((resolve, reject) => {
    child.on('spawn', resolve);
    child.on('error', reject);
  });
  await spawned;
  let bytes: number;
  try {
    bytes = await consume(child.stdout, extractor);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0 && !extractor.parser.done && !extractor.satisfied) {
    const line = stderr.split('\n').find((l) => l.trim() !== '') ?? `exit status ${code}`;
    throw new Error(`zstd: ${line.replace(/^zstd: /, '').trim()}`);
  }
  return bytes;
}

async function zstdWasm(task: InflateTask, extractor: Extractor): Promise<number> {
  const { ZSTDDecoder } = await import('zstddec/stream');
  const decoder = new ZSTDDecoder();
  await decoder.init();
  const fd = openSync(task.archive, constants.O_RDONLY);
  let idle = 0;
  function* input(): Generator<Uint8Array> {
    const buffer = Buffer.allocUnsafe(INPUT_CHUNK);
    let position = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, position);
      if (n === 0) break;
      position += n;
      idle = 0;
      yield buffer.subarray(0, n);
    }
    idle = 0;
    yield EMPTY_SKIPPABLE_FRAME;
  }
  let bytes = 0;
  try {
    for (const out of decoder.decodeStreaming(input())) {
      if (out.length === 0) {
        if (++idle > MAX_IDLE_OUTPUTS) throw new Error('zstd data is damaged (the decoder stopped making progress)');
        continue;
      }
      idle = 0;
      bytes += out.length;
      extractor.push(Buffer.from(out.buffer, out.byteOffset, out.length));
    }
  } catch (error) {
    if (error instanceof OverBudget) throw error;
    if (!(error instanceof Enough)) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`zstd data is damaged or truncated (${message})`);
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

async function run(task: InflateTask): Promise<InflateResult> {
  const extractor = new Extractor(task);
  let bytesRead = 0;
  let decoder: string = task.compression;
  try {
    if (task.compression === 'gzip') {
      decoder = 'zlib';
      bytesRead = await gunzip(task, extractor);
    } else {
      const program = task.zstd === 'wasm' ? undefined : findProgram('zstd');
      if (task.zstd === 'program' && !program) throw new Error('the zstd program is not on PATH');
      if (program) {
        decoder = 'zstd program';
        bytesRead = await zstdProgram(program, task, extractor);
      } else {
        decoder = 'zstd wasm';
        bytesRead = await zstdWasm(task, extractor);
      }
    }
    if (!extractor.parser.done && !extractor.satisfied) extractor.parser.finish();
    return {
      members: task.index ? extractor.members : undefined,
      nestedMembers: extractor.nestedError === undefined ? extractor.nestedMembers : undefined,
      nestedError: extractor.nestedError,
      extracted: extractor.extracted,
      bytesRead,
      bytesWritten: extractor.written,
      decoder,
    };
  } catch (error) {
    extractor.abort();
    const message = error instanceof Error ? error.message : String(error);
    return { extracted: extractor.extracted, bytesRead, bytesWritten: extractor.written, decoder, error: message.split('\n')[0] ?? message, overBudget: error instanceof OverBudget ? error.cap : undefined };
  }
}

const input = workerData as WorkerInput;
const flag = new Int32Array(input.signal);
let answered = false;
function answer(result: InflateResult): void {
  if (answered) return;
  answered = true;
  input.port.postMessage(result);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
process.on('exit', () => answer({ extracted: [], bytesRead: 0, bytesWritten: 0, decoder: '', error: 'the decompression worker exited unexpectedly' }));
run(input.task)
  .then(answer, (error: unknown) => answer({ extracted: [], bytesRead: 0, bytesWritten: 0, decoder: '', error: error instanceof Error ? error.message : String(error) }))
  .finally(() => parentPort?.close());
