#!/usr/bin/env node
/**
 * The criu-gdb helper: `node dist/src/rpc/main.js`, started by the gdb plugin. It speaks JSON-RPC 2.0 on
 * stdin/stdout (see protocol.ts) and serves each process of the open checkpoint on its own Unix socket.
 *
 * Only the JSON-RPC writer writes to stdout; anything else goes to stderr. The helper removes its sockets and
 * their directory and exits when stdin reaches EOF (gdb went away), on SIGTERM, SIGINT or SIGHUP, on the
 * `exit` notification, and shortly after `shutdown`.
 */
import { format } from 'node:util';
import {
  createMessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type ContentTypeDecoder,
  type Message,
  type ResponseMessage,
} from './json-rpc.js';
import { CancelledError } from '../errors.js';
import { packageVersion } from '../package.js';
import { watchParent, withDefaultSignals } from '../reaper.js';
import { HelperHandler } from './handler.js';
import { RpcErrorCode, type ProgressParams } from './protocol.js';

// Keep stdout for JSON-RPC: stray console output would corrupt the framing.
for (const name of ['log', 'info', 'debug', 'warn', 'error', 'trace'] as const) {
  console[name] = (...args: unknown[]) => {
    process.stderr.write(`${format(...args)}\n`);
  };
}

/** Exit after `shutdown` even if the client never sends `exit` or closes stdin. */
const SHUTDOWN_GRACE_MS = 2000;
/** Longest wait for servers to close before removing the directory anyway. */
const CLOSE_TIMEOUT_MS = 2000;

// When gdb is gone, even while a request keeps this thread busy, the reaper stops the helper and removes
// its directories.
watchParent(process.ppid);

const IGNORED: Message = { jsonrpc: '2.0', method: '$/ignored' } as Message;

const writer = new StreamMessageWriter(process.stdout);

function sendRaw(response: ResponseMessage): void {
  writer.write(response).catch(() => undefined);
}

function errorWithoutId(code: number, message: string): void {
  sendRaw({ jsonrpc: '2.0', id: null, error: { code, message } });
}

/**
 * Decodes a message body. Malformed JSON gets a parse error, and a message that is neither a request, a
 * notification nor a response gets an invalid-request error, instead of being dropped silently.
 */
const decoder: ContentTypeDecoder = {
  name: 'application/json',
  decode(buffer: Uint8Array): Promise<Message> {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buffer));
    } catch (error) {
      errorWithoutId(RpcErrorCode.parseError, `parse error: ${error instanceof Error ? error.message : String(error)}`);
      return Promise.resolve(IGNORED);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      errorWithoutId(RpcErrorCode.invalidRequest, Array.isArray(value) ? 'batch requests are not supported' : 'a message must be a JSON object');
      return Promise.resolve(IGNORED);
    }
    const message = value as Record<string, unknown>;
    const id = message['id'];
    const hasId = typeof id === 'string' || typeof id === 'number';
    const method = message['method'];
    if (typeof method === 'string' && (hasId || id === undefined)) return Promise.resolve(value as Message);
    if (method === undefined && hasId && ('result' in message || 'error' in message)) return Promise.resolve(value as Message);
    const reason = typeof method !== 'string' ? "'method' must be a string" : "'id' must be a string or a number";
    if (hasId) return Promise.resolve({ jsonrpc: '2.0', id, method: '$/invalid', params: { reason } } as Message);
    errorWithoutId(RpcErrorCode.invalidRequest, `invalid request: ${reason}`);
    return Promise.resolve(IGNORED);
  },
};

const reader = new StreamMessageReader(process.stdin, { contentTypeDecoder: decoder });
const connection = createMessageConnection(reader, writer);

let exiting: Promise<never> | undefined;
const handler = new HelperHandler({
  version: packageVersion(),
  progress: (message) => connection.sendNotification('progress', { message } satisfies ProgressParams),
  shutdownRequested: () => {
    setTimeout(() => void exit(0), SHUTDOWN_GRACE_MS).unref();
  },
});

/** Stops the servers, removes the socket directory and exits (once; later calls wait for the first). */
function exit(code: number): Promise<never> {
  exiting ??= (async () => {
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref());
    await Promise.race([handler.close().catch(() => undefined), timeout]);
    handler.removeNow();
    process.exit(code);
  })();
  return exiting;
}

connection.onRequest((method, params, token) => {
  if (method === '$/invalid') {
    const reason = typeof params === 'object' && params !== null && 'reason' in params ? String(params.reason) : 'invalid request';
    throw new ResponseError(RpcErrorCode.invalidRequest, `invalid request: ${reason}`);
  }
  // The synchronous part of a request runs with the default signal actions: SIGTERM stops it at once.
  // $/cancelRequest sets the token; the abort stops the request's work at its next step.
  const cancel = new AbortController();
  const listener = token.onCancellationRequested(() => cancel.abort(new CancelledError('cancelled')));
  const answer = withDefaultSignals(() => handler.request(method, params, cancel.signal));
  return answer.finally(() => listener.dispose());
});

connection.onNotification((method) => {
  if (method === 'exit') void exit(0);
});

// Framing errors (a header without Content-Length...) cannot be tied to a request.
connection.onError(([error]) => errorWithoutId(RpcErrorCode.parseError, `bad message framing: ${error.message.split('\n')[0] ?? ''}`));
connection.onClose(() => void exit(0));
process.stdin.on('end', () => void exit(0));
process.stdout.on('error', () => void exit(0));

for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]] as const) {
  process.on(signal, () => void exit(128 + number));
}
process.on('exit', () => handler.removeNow());
process.on('uncaughtException', (error) => {
  process.stderr.write(`criu-gdb helper: internal error: ${error.message}\n`);
  void exit(1);
});
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`criu-gdb helper: internal error: ${reason instanceof Error ? reason.message : String(reason)}\n`);
});

connection.listen();
