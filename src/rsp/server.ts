import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Checkpoint } from '../model/checkpoint.js';
import { RspConnection } from './connection.js';
import { ProcessTarget } from './target.js';

/** A running remote-protocol server for one process of a checkpoint. */
export interface ProcessServer {
  readonly pid: number;
  /** Path of the Unix socket gdb connects to (`target remote PATH`). */
  readonly socketPath: string;
  /** Stops listening, drops connections and removes the socket. */
  close(): Promise<void>;
}

/**
 * Serves process `pid` of `checkpoint` on a Unix socket at `socketPath` (mode 0600). Every connection is an
 * independent, read-only view of the same process. Fails at once if the process cannot be served
 * (unsupported architecture, 32-bit task, missing registers).
 */
export async function serveProcess(checkpoint: Checkpoint, pid: number, socketPath: string): Promise<ProcessServer> {
  const target = new ProcessTarget(checkpoint.process(pid));
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    new RspConnection(socket, target, checkpoint);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  let closed = false;
  return {
    pid,
    socketPath,
    async close() {
      if (closed) return;
      closed = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(socketPath, { force: true });
    },
  };
}
