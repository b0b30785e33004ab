/**
 * A real debuginfod server (Debian's elfutils debuginfod) for the tests, started on the loopback address
 * over a directory of ELF files, and stopped by the test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Whether the debuginfod server program is installed (npm test installs it). */
export const debuginfodInstalled = spawnSync('debuginfod', ['--version'], { stdio: 'ignore' }).status === 0;

/** A free TCP port on 127.0.0.1 (the server binds it a moment later). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface DebuginfodServer {
  url: string;
  /** Stops the server and waits until it has exited. */
  stop(): Promise<void>;
}

/** Starts debuginfod over `served` (its index in `work`), ready once it serves the executable `buildId`. */
export async function startDebuginfod(served: string, work: string, buildId: string): Promise<DebuginfodServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('debuginfod', ['-F', served, '-p', String(port), '-d', join(work, `index-${port}.sqlite`), '-t', '3600'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  // debuginfod has no HEAD: GET and drop the body.
  for (let i = 0; i < 300; i++) {
    const status = await fetch(`${url}/buildid/${buildId}/executable`).then(async (r) => (await r.arrayBuffer(), r.status), () => 0);
    if (status === 200) return { url, stop };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error('debuginfod did not index the binary within 30 s');
}
